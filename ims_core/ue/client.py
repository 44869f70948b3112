"""The thin asyncio side of the UE: one UDP or TCP flow to the P-CSCF, non-INVITE
client transactions with RFC 3261 §17.1.2 retransmission (UDP: T1, doubling up to T2),
and a loop that drives a :class:`Registration`."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from ims_core.sip import (
    PING,
    Request,
    Response,
    SipParseError,
    StreamFramer,
    parse_message,
)

from .messages import Local
from .registration import Outcome, Registration

T1 = 0.5
T2 = 4.0


class Flow:
    """A connection to the P-CSCF; responses are queued for :meth:`transact`."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.local: Local | None = None
        self.responses: asyncio.Queue[Response] = asyncio.Queue()
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, transport: str, remote: tuple[str, int],
                   local: tuple[str, int] | None = None) -> Flow:
        flow = cls(transport)
        loop = asyncio.get_running_loop()
        if transport == "udp":
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(flow), local_addr=local, remote_addr=remote)
            flow._udp = udp
            host, port = udp.get_extra_info("sockname")[:2]
        elif transport == "tcp":
            if local is None:
                reader, writer = await asyncio.open_connection(*remote)
            else:
                # A fixed local port (a registered flow) may still be in TIME_WAIT from the
                # last connection: SO_REUSEADDR lets us bind it again.
                sock = socket.socket(socket.AF_INET6 if ":" in local[0] else socket.AF_INET)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind(local)
                    sock.setblocking(False)
                    await loop.sock_connect(sock, remote)
                except BaseException:
                    sock.close()
                    raise
                reader, writer = await asyncio.open_connection(sock=sock)
            flow._writer = writer
            flow._reader_task = loop.create_task(flow._read(reader))
            host, port = writer.get_extra_info("sockname")[:2]
        else:
            raise ValueError(f"transport must be udp or tcp, not {transport!r}")
        flow.local = Local(transport, str(host), int(port))
        return flow

    def send(self, data: bytes) -> None:
        if self._udp is not None:
            self._udp.sendto(data)
        elif self._writer is not None:
            self._writer.write(data)

    def deliver(self, data: bytes, stream: bool) -> None:
        try:
            msg = parse_message(data, stream=stream)
        except SipParseError:
            return  # garbage from the network is dropped (RFC 3261 §18.3)
        if isinstance(msg, Response):
            self.responses.put_nowait(msg)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        framer = StreamFramer()
        try:
            while data := await reader.read(65536):
                framer.feed(data)
                while (frame := framer.next_frame()) is not None:
                    if frame is PING and self._writer is not None:
                        self._writer.write(b"\r\n")
                    elif isinstance(frame, bytes):
                        self.deliver(frame, True)
        except (SipParseError, ConnectionError):
            return

    async def transact(self, request: Request, timeout: float = 32.0) -> Response | None:
        """Send ``request``; the final response whose top Via branch matches, or None
        after ``timeout`` (Timer F). Provisional responses stop nothing but are skipped."""
        branch = request.top_via().branch
        data = request.to_bytes()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        interval = T1
        self.send(data)
        next_retransmit = loop.time() + interval
        while True:
            now = loop.time()
            if now >= deadline:
                return None
            wait = deadline - now
            if self.transport == "udp":
                wait = min(wait, max(0.0, next_retransmit - now))
            try:
                resp = await asyncio.wait_for(self.responses.get(), wait)
            except TimeoutError:
                if self.transport == "udp" and loop.time() >= next_retransmit:
                    self.send(data)  # §17.1.2.2 Timer E
                    interval = min(interval * 2, T2)
                    next_retransmit = loop.time() + interval
                continue
            if resp.top_via().branch != branch or resp.cseq.method != request.method:
                continue  # a late response to an earlier request
            if resp.status >= 200:
                return resp

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.flow.deliver(data, False)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable: wait for timeout
        pass


async def run(registration: Registration, flow: Flow, timeout: float = 32.0) -> Outcome:
    """Drive ``registration`` over ``flow`` until it finishes."""
    request: Request | None = registration.start()
    while request is not None:
        response = await flow.transact(request, timeout)
        if response is None:
            registration.timed_out(f"no final response to REGISTER within {timeout:g}s")
            break
        request = registration.receive(response)
    return registration.outcome


async def send_request(flow: Flow, request: Request, timeout: float = 32.0) -> Response | None:
    """One out-of-dialog request (e.g. a MESSAGE) and its final response."""
    return await flow.transact(request, timeout)
