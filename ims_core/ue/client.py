"""The thin asyncio side of the UE: one UDP or TCP flow to the P-CSCF carrying RFC 3261
§17.1 client transactions from a sans-I/O :class:`TransactionTable`, and a loop that
drives a :class:`Registration`.

The table does the protocol: Timer E retransmissions (UDP only, T1 doubling to T2),
Timer F, matching responses to transactions (§17.1.3) and absorbing retransmitted ones.
This module only moves bytes, keeps one loop timer at the table's next deadline and
wakes the request's waiter when its transaction reports a final response, a timeout or
a transport failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import cast

from ims_core.sip import Request, Response, SipParseError, is_keepalive, parse_message
from ims_core.transaction import (
    ClientTransaction,
    ResponseReceived,
    TimedOut,
    TimerConfig,
    TransactionTable,
    TransportFailed,
)
from ims_core.transport import TcpConnection, TransportConfig

from .messages import Local
from .registration import Outcome, Registration

# What a request ends with when no final response came.
Failure = TimedOut | TransportFailed


def timers_for(timeout: float) -> TimerConfig:
    """Timers whose Timer F (64*T1, RFC 3261 §17.1.2.2) is ``timeout`` seconds."""
    if not timeout > 0:
        raise ValueError("the timeout must be a positive number of seconds")
    return TimerConfig(t1=timeout / 64)


class Flow:
    """A connection to the P-CSCF; :meth:`transact` runs one client transaction on it."""

    def __init__(self, transport: str, timers: TimerConfig | None = None) -> None:
        self.transport = transport
        self.local: Local | None = None
        self.table = TransactionTable(timers)
        self._loop = asyncio.get_running_loop()
        self._waiting: dict[ClientTransaction, asyncio.Future[Response | Failure]] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: TcpConnection | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._closed = False
        self._lost: asyncio.Future[None] = self._loop.create_future()

    @property
    def timers(self) -> TimerConfig:
        return self.table.config

    @property
    def reliable(self) -> bool:
        return self.transport == "tcp"

    @classmethod
    async def open(cls, transport: str, remote: tuple[str, int],
                   local: tuple[str, int] | None = None,
                   timers: TimerConfig | None = None) -> Flow:
        flow = cls(transport, timers)
        loop = flow._loop
        if transport == "udp":
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(flow), local_addr=local, remote_addr=remote)
            flow._udp = udp
            host, port = udp.get_extra_info("sockname")[:2]
        elif transport == "tcp":
            # A fixed local port (a registered flow) may still be in TIME_WAIT from the
            # last connection: SO_REUSEADDR lets us bind it again.
            sock = socket.socket(socket.AF_INET6 if ":" in remote[0] else socket.AF_INET)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if local is not None:
                    sock.bind(local)
                sock.setblocking(False)
                await loop.sock_connect(sock, remote)
            except BaseException:
                sock.close()
                raise
            _, conn = await loop.create_connection(lambda: TcpConnection(
                TransportConfig(), flow._on_frame, lambda _c: True, flow._on_close,
                outbound=True), sock=sock)
            flow._tcp = conn
            host, port = conn.local
        else:
            raise ValueError(f"transport must be udp or tcp, not {transport!r}")
        flow.local = Local(transport, str(host), int(port))
        return flow

    async def transact(self, request: Request) -> Response | Failure:
        """Send ``request`` in a new client transaction; its final response, or how the
        transaction ended without one (Timer F, or a transport failure)."""
        tx = self.table.create_client(request, reliable=self.reliable, now=self._loop.time())
        waiter: asyncio.Future[Response | Failure] = self._loop.create_future()
        self._waiting[tx] = waiter
        try:
            self._drain(tx)
            self._arm()
            return await waiter
        finally:
            self._waiting.pop(tx, None)

    async def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._lost), 1.0)
        await asyncio.sleep(0)  # let the transports finish closing

    # -- the transaction table's inputs and outputs ----------------------------------------
    def _drain(self, tx: ClientTransaction) -> None:
        for data in tx.data_to_send():
            if not self._send(data):
                tx.transport_error(self._loop.time())  # §17.1.4
        waiter = self._waiting.get(tx)
        while (event := tx.next_event()) is not None:
            if waiter is None or waiter.done():
                continue  # a late event for a request nobody waits for any more
            if isinstance(event, ResponseReceived):
                if event.response.status >= 200:  # provisional ones stop nothing
                    waiter.set_result(event.response)
            elif isinstance(event, TimedOut | TransportFailed):
                waiter.set_result(event)

    def _send(self, data: bytes) -> bool:
        if self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(data)
            return True
        return self._tcp is not None and self._tcp.write(data)

    def _deliver(self, data: bytes, stream: bool) -> None:
        try:
            msg = parse_message(data, stream=stream)
        except SipParseError:
            return  # garbage from the network is dropped (RFC 3261 §18.3)
        if not isinstance(msg, Response):
            return  # this UE serves no requests
        tx = self.table.receive(msg, self._loop.time())
        if isinstance(tx, ClientTransaction):
            self._drain(tx)
            self._arm()

    def _on_datagram(self, data: bytes) -> None:
        if not is_keepalive(data):  # RFC 5626 §4.4.1: CRLF keep-alives are no message
            self._deliver(data, False)

    def _on_frame(self, conn: TcpConnection, frame: bytes) -> None:
        self._deliver(frame, True)  # the connection answered pings and dropped pongs

    def _on_close(self, conn: TcpConnection) -> None:
        if not self._lost.done():
            self._lost.set_result(None)
        now = self._loop.time()
        for tx in [t for t in self.table if isinstance(t, ClientTransaction)]:
            tx.transport_error(now)  # §17.1.4: the flow is gone
            self._drain(tx)
        self._arm()

    # -- one loop timer at the table's next deadline ---------------------------------------
    def _arm(self) -> None:
        deadline = None if self._closed else self.table.get_timer()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = None if deadline is None else self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        for tx in self.table.handle_timer(self._loop.time()):
            self._drain(cast(ClientTransaction, tx))
        self._arm()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.flow._on_datagram(data)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable: wait for Timer F
        pass


async def run(registration: Registration, flow: Flow) -> Outcome:
    """Drive ``registration`` over ``flow`` until it finishes."""
    request: Request | None = registration.start()
    while request is not None:
        result = await flow.transact(request)
        if isinstance(result, TimedOut):
            registration.timed_out(
                f"no final response to REGISTER within {flow.timers.timeout:g}s")
            break
        if isinstance(result, TransportFailed):
            registration.transport_failed("the connection to the P-CSCF failed")
            break
        request = registration.receive(result)
    return registration.outcome


async def send_request(flow: Flow, request: Request) -> Response | None:
    """One out-of-dialog request (e.g. a MESSAGE) and its final response, if any."""
    result = await flow.transact(request)
    return result if isinstance(result, Response) else None
