"""The thin asyncio side of the UE: a flow to the P-CSCF carrying RFC 3261 §17.1 client
transactions (and, once :meth:`Flow.serve` names a handler, §17.2 server transactions for
the requests that arrive) from a sans-I/O :class:`TransactionTable`; a loop that drives
a :class:`Registration`, and one that drives an :class:`Agent`.

The table does the protocol: Timer E retransmissions (UDP only, T1 doubling to T2),
Timer F, matching responses to transactions (§17.1.3) and absorbing retransmitted ones,
answering a retransmitted request with the same response (§17.2.2). This module only
moves bytes, keeps one loop timer at the table's next deadline and wakes the request's
waiter when its transaction reports a final response, a timeout or a transport failure.

Every transaction is bound to the :class:`Link` it was sent on (client) or arrived on
(server): :class:`Flow` has one, a UDP socket or TCP connection to the P-CSCF; the
IPsec flow (``protected_flow``) picks one per request from its sec-agree state.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Coroutine, Sequence
from typing import cast

from ims_core.sip import Request, Response, SipParseError, make_response
from ims_core.sip.inbound import Answer, Drop, receive
from ims_core.transaction import (
    AckReceived,
    ClientTransaction,
    ResponseReceived,
    ServerTransaction,
    TimedOut,
    TimerConfig,
    Transaction,
    TransactionTable,
    TransportFailed,
)
from ims_core.transaction.client import InviteClientTransaction
from ims_core.transport import TcpConnection, TransportConfig

from .agent import EXIT_OK, Agent, Ending, Report
from .messages import Local
from .registration import Outcome, Registration

# What a request ends with when no final response came.
Failure = TimedOut | TransportFailed
# Answers a request that arrived, in order (a 180 then a 200; none for an ACK).
RequestHandler = Callable[[Request], Sequence[Response]]
# Gets the responses to a request other than the final one it waits for (provisional
# ones, and a 2xx to an INVITE again, RFC 6026 §7.2).
ResponseHandler = Callable[[Response], None]
REPLY_MEMORY = 64.0  # times T1: how long a request's way back is kept for raw responses


class Link:
    """One way to send: a UDP socket to ``dest`` (None when it is connected) or a TCP
    connection."""

    def __init__(self, udp: asyncio.DatagramTransport | None = None,
                 dest: tuple[str, int] | None = None,
                 tcp: TcpConnection | None = None) -> None:
        self.udp = udp
        self.dest = dest
        self.tcp = tcp

    def send(self, data: bytes) -> bool:
        if self.udp is not None:
            if self.udp.is_closing():
                return False
            self.udp.sendto(data, self.dest)
            return True
        return self.tcp is not None and self.tcp.write(data)


def timers_for(timeout: float) -> TimerConfig:
    """Timers whose Timer F (64*T1, RFC 3261 §17.1.2.2) is ``timeout`` seconds."""
    if not timeout > 0:
        raise ValueError("the timeout must be a positive number of seconds")
    return TimerConfig(t1=timeout / 64)


async def connect_tcp(flow: Flow, remote: tuple[str, int],
                      local: tuple[str, int] | None) -> TcpConnection:
    """A TCP connection to ``remote`` from ``local`` whose frames and close go to
    ``flow``. A fixed local port (a registered flow) may still be in TIME_WAIT from the
    last connection, or bound by another connection to elsewhere: SO_REUSEADDR lets us
    bind it again."""
    loop = asyncio.get_running_loop()
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
    _, conn = await loop.create_connection(lambda: flow.tcp_protocol(outbound=True),
                                           sock=sock)
    return conn


class Flow:
    """A connection to the P-CSCF; :meth:`transact` runs one client transaction on it."""

    def __init__(self, transport: str, timers: TimerConfig | None = None) -> None:
        if transport not in ("udp", "tcp"):
            raise ValueError(f"transport must be udp or tcp, not {transport!r}")
        self.transport = transport
        self.local: Local | None = None
        self.table = TransactionTable(timers)
        self._loop = asyncio.get_running_loop()
        self._waiting: dict[ClientTransaction, asyncio.Future[Response | Failure]] = {}
        self._others: dict[ClientTransaction, ResponseHandler] = {}
        self._links: dict[Transaction, Link] = {}
        self._invites: dict[str, InviteClientTransaction] = {}  # by branch, for CANCEL
        self._replies: dict[str, tuple[Link, float]] = {}  # by branch: a request's way back
        self._link: Link | None = None
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
        if transport == "udp":
            udp, _ = await flow._loop.create_datagram_endpoint(
                lambda: flow.udp_protocol(), local_addr=local, remote_addr=remote)
            flow._link = Link(udp=udp)
            host, port = udp.get_extra_info("sockname")[:2]
        else:
            conn = await connect_tcp(flow, remote, local)
            flow._link = Link(tcp=conn)
            host, port = conn.local
        flow.local = Local(transport, str(host), int(port))
        return flow

    # -- what the loops use ------------------------------------------------------------------
    async def transact(self, request: Request, others: ResponseHandler | None = None
                       ) -> Response | Failure:
        """Send ``request`` in a new client transaction; its final response, or how the
        transaction ended without one (Timer F, or a transport failure). ``others`` gets
        the responses before it (provisional) and after it (a 2xx again)."""
        try:
            link = await self.link_for(request)
        except OSError:  # e.g. no connection to the protected port
            return TransportFailed()
        tx = self.table.create_client(request, reliable=self.reliable, now=self._loop.time())
        waiter: asyncio.Future[Response | Failure] = self._loop.create_future()
        self._waiting[tx] = waiter
        self._links[tx] = link
        if others is not None:
            self._others[tx] = others
        if isinstance(tx, InviteClientTransaction):
            self._invites[tx.request.top_via().branch or ""] = tx
        try:
            self._drain(tx)
            self._arm()
            return await waiter
        finally:
            self._waiting.pop(tx, None)

    async def send_raw(self, message: Request | Response) -> bool:
        """Send outside any transaction: the ACK for a 2xx (RFC 3261 §13.2.2.4) goes
        where requests go; a 2xx sent again (§13.3.1.4) the way its request came."""
        if isinstance(message, Request):
            try:
                link = await self.link_for(message)
            except OSError:
                return False
            return link.send(message.to_bytes())
        try:
            branch = message.top_via().branch or ""
        except SipParseError:
            return False
        way = self._replies.get(branch)
        return way is not None and way[0].send(message.to_bytes())

    def cancel_sent(self, cancel: Request) -> None:
        """``cancel`` is on its way: its INVITE's client transaction waits for the final
        response only so long (§9.1)."""
        try:
            tx = self._invites.get(cancel.top_via().branch or "")
        except SipParseError:
            return
        if tx is not None:
            tx.cancel_sent(self._loop.time())
            self._drain(tx)
            self._arm()

    def prepare(self) -> str | None:
        """Make ready what the next requests need (the IPsec flow installs SAs here);
        what went wrong, or None."""
        return None

    async def link_for(self, request: Request) -> Link:
        """The link ``request`` goes out on."""
        if self._link is None:
            raise OSError("the flow is not open")
        return self._link

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
        await self._close_links()
        await asyncio.sleep(0)  # let the transports finish closing

    async def _close_links(self) -> None:
        link = self._link
        if link is not None and link.udp is not None:
            link.udp.close()
        if link is not None and link.tcp is not None:
            link.tcp.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._lost), 1.0)

    # -- what the sockets use ----------------------------------------------------------------
    def udp_protocol(self, *, reply_here: bool = False) -> asyncio.DatagramProtocol:
        """A datagram protocol delivering here. What arrives is answered on the flow's
        own link, or with ``reply_here`` from this socket to the sender."""
        return _Udp(self, reply_here)

    def tcp_protocol(self, *, outbound: bool) -> TcpConnection:
        return TcpConnection(TransportConfig(), self._on_frame, self._on_open,
                             self._on_close, outbound=outbound)

    def _on_open(self, conn: TcpConnection) -> bool:
        return True

    # -- the transaction table's inputs and outputs ----------------------------------------
    def _drain(self, tx: ClientTransaction) -> None:
        link = self._links.get(tx)
        for data in tx.data_to_send():
            if link is None or not link.send(data):
                tx.transport_error(self._loop.time())  # §17.1.4
        waiter = self._waiting.get(tx)
        others = self._others.get(tx)
        while (event := tx.next_event()) is not None:
            if isinstance(event, ResponseReceived):
                final = event.response.status >= 200
                if final and waiter is not None and not waiter.done():
                    waiter.set_result(event.response)
                elif others is not None:
                    others(event.response)
            elif isinstance(event, TimedOut | TransportFailed) and waiter is not None \
                    and not waiter.done():
                waiter.set_result(event)
        if tx.terminated:
            self._forget(tx)

    def _flush(self, tx: Transaction) -> None:
        """A server transaction's responses out; of its events only an ACK for a 2xx
        that matched it (RFC 6026 §8.5) concerns the handler."""
        link = self._links.get(tx)
        for data in tx.data_to_send():
            if link is None or not link.send(data):
                tx.transport_error(self._loop.time())
        while (event := tx.next_event()) is not None:
            if isinstance(event, AckReceived) and self._handler is not None:
                self._handler(event.request)
        if tx.terminated:
            self._forget(tx)

    def _forget(self, tx: Transaction) -> None:
        self._links.pop(tx, None)
        if isinstance(tx, ClientTransaction):
            self._others.pop(tx, None)
            if isinstance(tx, InviteClientTransaction):
                self._invites.pop(tx.request.top_via().branch or "", None)

    def links_in_use(self) -> list[Link]:
        return list(self._links.values())

    def _deliver(self, data: bytes, peer: tuple[str, int], stream: bool, back: Link) -> None:
        """One message that arrived from ``peer``; ``back`` is the way to answer it."""
        verdict = receive(data, self.transport.upper(), peer[0], peer[1], stream=stream)
        if isinstance(verdict, Drop):
            return  # keep-alives and garbage (RFC 3261 §18.3, RFC 5626 §4.4.1)
        if isinstance(verdict, Answer):
            if self._handler is not None:
                back.send(verdict.data)  # §8.2.2: a malformed request gets its 400
            return
        msg, now = verdict.message, self._loop.time()
        tx = self.table.receive(msg, now)
        if isinstance(tx, ClientTransaction):
            self._drain(tx)
        elif isinstance(tx, ServerTransaction):
            self._flush(tx)  # a retransmitted request: the same response again
        elif isinstance(msg, Request) and self._handler is not None:
            if msg.method == "ACK":
                self._handler(msg)  # the ACK for a 2xx: the TU's (§13.3.1.4)
            else:
                self._answer(msg, now, back)
        self._arm()

    def _answer(self, request: Request, now: float, back: Link) -> None:
        assert self._handler is not None
        stx = self.table.create_server(request, reliable=self.reliable, now=now)
        self._links[stx] = back
        self._remember(request, back, now)
        try:
            responses: Sequence[Response] = self._handler(request)
        except SipParseError as exc:  # a header the handler could not read
            responses = [make_response(request, exc.status, exc.reason)]
        for response in responses:
            stx.send_response(response, now)
        self._flush(stx)

    def _remember(self, request: Request, back: Link, now: float) -> None:
        """Keep the way back to ``request``'s sender for responses sent again outside
        its transaction (a 2xx to an INVITE, §13.3.1.4)."""
        if request.method != "INVITE":
            return
        self._replies = {b: w for b, w in self._replies.items() if w[1] > now}
        try:
            branch = request.top_via().branch or ""
        except SipParseError:
            return
        self._replies[branch] = (back, now + REPLY_MEMORY * self.timers.t1)

    def _on_datagram(self, data: bytes, peer: tuple[str, int], back: Link) -> None:
        self._deliver(data, peer, False, back)

    def _on_frame(self, conn: TcpConnection, frame: bytes) -> None:
        self._deliver(frame, conn.peer, True, self._tcp_link(conn))  # pings answered

    def _tcp_link(self, conn: TcpConnection) -> Link:
        link = self._link
        return link if link is not None and link.tcp is conn else Link(tcp=conn)

    def _on_close(self, conn: TcpConnection) -> None:
        if self._link is not None and self._link.tcp is conn and not self._lost.done():
            self._lost.set_result(None)
        now = self._loop.time()
        for tx, link in list(self._links.items()):
            if link.tcp is conn and isinstance(tx, ClientTransaction):
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
    def __init__(self, flow: Flow, reply_here: bool) -> None:
        self.flow = flow
        self.reply_here = reply_here
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        peer = (str(addr[0]), int(addr[1]))
        flow = self.flow
        back = Link(udp=self.transport, dest=peer) if self.reply_here else flow._link
        if back is not None:
            flow._on_datagram(data, peer, back)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable: wait for Timer F
        pass


async def run(registration: Registration, flow: Flow) -> Outcome:
    """Drive ``registration`` over ``flow`` until it finishes."""
    request: Request | None = registration.start()
    while request is not None:
        error = flow.prepare()
        if error is not None:
            registration.install_failed(error)
            break
        result = await flow.transact(request)
        if isinstance(result, TimedOut):
            registration.timed_out(
                f"no final response to REGISTER within {flow.timers.timeout:g}s")
            break
        if isinstance(result, TransportFailed):
            registration.transport_failed("the connection to the P-CSCF failed")
            break
        request = registration.receive(result)
    flow.prepare()  # what the end of the exchange removes
    return registration.outcome


async def send_request(flow: Flow, request: Request) -> Response | None:
    """One out-of-dialog request (e.g. a MESSAGE) and its final response, if any."""
    result = await flow.transact(request)
    return result if isinstance(result, Response) else None


async def stay(agent: Agent, flow: Flow, report: Callable[[Report], None],
               stop: asyncio.Event, hurry: asyncio.Event | None = None) -> Ending:
    """Drive ``agent`` over ``flow`` until it ends. ``stop`` set: :meth:`Agent.stop`
    (status 0 at once, or a de-registration first); ``hurry`` set (a second signal): it
    ends at once. Each of its requests runs in a task of its own; ``report`` gets what
    it has to say, in order."""
    loop = asyncio.get_running_loop()
    hurry = hurry or asyncio.Event()
    wake = asyncio.Event()
    tasks: set[asyncio.Task[object]] = set()
    broken: list[BaseException] = []

    def pump() -> None:
        error = flow.prepare()
        if error is not None:
            agent.install_failed(error, loop.time())
            flow.prepare()
        for request in agent.outbox:
            # RFC 3261 §13.2.2.4: the ACK for a 2xx is no transaction; a CANCEL is one,
            # and its INVITE's transaction hears of it (§9.1).
            start(flow.send_raw(request) if request.method == "ACK" else transact(request))
            if request.method == "CANCEL":
                flow.cancel_sent(request)
        agent.outbox.clear()
        for response in agent.resend:
            start(flow.send_raw(response))  # a 2xx again until its ACK (§13.3.1.4)
        agent.resend.clear()
        for item in agent.reports:
            report(item)
        agent.reports.clear()
        wake.set()

    def start(coro: Coroutine[object, object, object]) -> None:
        task = loop.create_task(coro)
        tasks.add(task)
        task.add_done_callback(finished)

    async def transact(request: Request) -> None:
        def others(response: Response) -> None:
            agent.on_response(request, response, loop.time())
            pump()

        result = await flow.transact(request, others)
        agent.on_result(request, result, loop.time())
        pump()

    def finished(task: asyncio.Task[object]) -> None:
        tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:  # a bug: end the run with it rather than hang
            broken.append(error)
            wake.set()

    def on_request(request: Request) -> Sequence[Response]:
        responses = agent.answer(request, loop.time())
        loop.call_soon(pump)  # after the responses are on their way
        return responses

    async def stopper() -> None:
        await stop.wait()
        agent.stop(loop.time())
        pump()
        await hurry.wait()
        agent.stop(loop.time())
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
        while agent.ending is None and not broken:
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
