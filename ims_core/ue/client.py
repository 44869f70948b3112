"""The thin asyncio side of the UE: one UDP or TCP flow to the P-CSCF carrying RFC 3261
§17.1 client transactions (and, once :meth:`Flow.serve` names a handler, §17.2 server
transactions for the requests that arrive) from a sans-I/O :class:`TransactionTable`; a
loop that drives a :class:`Registration`, and one that drives an :class:`Agent`.

The table does the protocol: Timer E retransmissions (UDP only, T1 doubling to T2),
Timer F, matching responses to transactions (§17.1.3) and absorbing retransmitted ones,
answering a retransmitted request with the same response (§17.2.2). This module only
moves bytes, keeps one loop timer at the table's next deadline and wakes the request's
waiter when its transaction reports a final response, a timeout or a transport failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from ims_core.sip import Request, Response, SipParseError, make_response
from ims_core.sip.inbound import Answer, Drop, receive
from ims_core.transaction import (
    ClientTransaction,
    ResponseReceived,
    ServerTransaction,
    TimedOut,
    TimerConfig,
    Transaction,
    TransactionTable,
    TransportFailed,
)
from ims_core.transport import TcpConnection, TransportConfig

from .agent import EXIT_OK, Agent, Ending, Report
from .messages import Local
from .registration import Outcome, Registration

# What a request ends with when no final response came.
Failure = TimedOut | TransportFailed
# Answers a request that arrived (None: no response, e.g. an ACK).
RequestHandler = Callable[[Request], Response | None]


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
        self._handler: RequestHandler | None = None

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

    async def lost(self) -> None:
        """Returns once the TCP connection is gone (never, over UDP)."""
        await asyncio.shield(self._lost)

    def serve(self, handler: RequestHandler | None) -> None:
        """Answer the requests that arrive with ``handler`` (None: ignore them, as a UE
        that only registers does)."""
        self._handler = handler

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

    def _flush(self, tx: Transaction) -> None:
        """A server transaction's responses out; its events concern nobody here."""
        for data in tx.data_to_send():
            if not self._send(data):
                tx.transport_error(self._loop.time())
        while tx.next_event() is not None:
            pass

    def _send(self, data: bytes) -> bool:
        if self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(data)
            return True
        return self._tcp is not None and self._tcp.write(data)

    def _deliver(self, data: bytes, peer: tuple[str, int], stream: bool) -> None:
        verdict = receive(data, self.transport.upper(), peer[0], peer[1], stream=stream)
        if isinstance(verdict, Drop):
            return  # keep-alives and garbage (RFC 3261 §18.3, RFC 5626 §4.4.1)
        if isinstance(verdict, Answer):
            if self._handler is not None:
                self._send(verdict.data)  # §8.2.2: a malformed request gets its 400
            return
        msg, now = verdict.message, self._loop.time()
        tx = self.table.receive(msg, now)
        if isinstance(tx, ClientTransaction):
            self._drain(tx)
        elif isinstance(tx, ServerTransaction):
            self._flush(tx)  # a retransmitted request: the same response again
        elif isinstance(msg, Request) and self._handler is not None and msg.method != "ACK":
            self._answer(msg, now)
        self._arm()

    def _answer(self, request: Request, now: float) -> None:
        assert self._handler is not None
        stx = self.table.create_server(request, reliable=self.reliable, now=now)
        try:
            response = self._handler(request)
        except SipParseError as exc:  # a header the handler could not read
            response = make_response(request, exc.status, exc.reason)
        if response is not None:
            stx.send_response(response, now)
        self._flush(stx)

    def _on_datagram(self, data: bytes, peer: tuple[str, int]) -> None:
        self._deliver(data, peer, False)

    def _on_frame(self, conn: TcpConnection, frame: bytes) -> None:
        self._deliver(frame, conn.peer, True)  # the connection answered pings

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
            if isinstance(tx, ClientTransaction):
                self._drain(tx)
            else:
                self._flush(tx)
        self._arm()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.flow._on_datagram(data, (str(addr[0]), int(addr[1])))

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


async def stay(agent: Agent, flow: Flow, report: Callable[[Report], None],
               stop: asyncio.Event) -> Ending:
    """Drive ``agent`` over ``flow`` until it ends, or until ``stop`` is set (then it
    ends with status 0). Each of its requests runs in a task of its own; ``report``
    gets what it has to say, in order."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    broken: list[BaseException] = []

    def pump() -> None:
        for request in agent.outbox:
            task = loop.create_task(transact(request))
            tasks.add(task)
            task.add_done_callback(finished)
        agent.outbox.clear()
        for item in agent.reports:
            report(item)
        agent.reports.clear()
        wake.set()

    async def transact(request: Request) -> None:
        result = await flow.transact(request)
        agent.on_result(request, result, loop.time())
        pump()

    def finished(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:  # a bug: end the run with it rather than hang
            broken.append(error)
            wake.set()

    def on_request(request: Request) -> Response | None:
        response = agent.on_request(request, loop.time())
        loop.call_soon(pump)  # after the response is on its way
        return response

    async def stopper() -> None:
        await stop.wait()
        wake.set()

    async def on_lost() -> None:
        await flow.lost()
        agent.flow_lost(loop.time())
        pump()

    watch = loop.create_task(stopper())
    gone = loop.create_task(on_lost())
    flow.serve(on_request)
    try:
        agent.start(loop.time())
        pump()
        while agent.ending is None and not stop.is_set() and not broken:
            wake.clear()
            deadline = agent.get_timer()
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
            agent.handle_timer(loop.time())
            pump()
        if broken:
            raise broken[0]
    finally:
        flow.serve(None)
        for task in (watch, gone, *tasks):
            task.cancel()
        await asyncio.gather(watch, gone, *tasks, return_exceptions=True)
    return agent.ending or Ending(EXIT_OK, "stopped")
