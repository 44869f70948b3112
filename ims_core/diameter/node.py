"""The asyncio Diameter node: a thin adapter over :class:`.peer.Peer` (RFC 6733 over TCP).

::

    node = DiameterNode(DiameterConfig("hss.ims.example", "ims.example",
                                       allowed_peers=("scscf.ims.example",)))
    node.add_handler(MAR, handle_mar)           # async def handle_mar(req) -> Message
    node.add_responder(SAR, answer_sar)         # def answer_sar(req, reply): reply(ans) later
    await node.listen("127.0.0.4", 3868)

    client = DiameterNode(DiameterConfig("scscf.ims.example", "ims.example"))
    client.add_peer("127.0.0.4", 3868)         # connects, CER/CEA, reconnects with backoff
    answer = await client.request(mar, timeout=2.0)   # DiameterUnavailable / DiameterTimeout
    client.send_request(mar, on_answer=done)    # the same; done(answer or exception)

Each connection is an ``asyncio.Protocol`` feeding one peer; the peer's ``get_timer()`` is kept
armed with one ``loop.call_at`` handle. Requests received are answered by the handler or
responder registered for their command code (3001 with the E bit when there is none; a
:class:`DiameterError` becomes the matching error answer; any other exception 5012).

The callback forms (:meth:`DiameterNode.send_request`, responders) cost no task, coroutine
or future per request; the coroutine forms are thin layers over them.

Every application exchange (ours and the peers') is counted in ``node.metrics``
(:class:`~ims_core.metrics.groups.DiameterMetrics`) and, when exchange lines are on
(:func:`ims_core.log.exchanges_enabled`), logged as one ``cx_exchange`` line;
``node.tap``, when set, gets every whole message read or written.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from collections.abc import Callable
from typing import Any

from .. import log
from ..listening import bound_address
from ..metrics.families import Labels
from ..metrics.groups import DiameterMetrics, command_label
from ..wiretap import WireTap
from .capabilities import Capabilities
from .config import DiameterConfig
from .connection import PeerConnection, PeerSlot
from .dictionary import DEFAULT, Dictionary
from .errors import DiameterError, DiameterTimeout, DiameterUnavailable, ResultCode
from .events import (
    AnswerReceived,
    CloseRequested,
    ConnectRequested,
    PeerDown,
    PeerRecovered,
    PeerSuspect,
    PeerUp,
    RequestFailed,
    RequestReceived,
)
from .exchanges import peers_open, record
from .header import FLAG_T
from .ids import EndToEnd, SessionIds
from .inflight import AnswerCallback, PendingRequest, Reply, Responder, await_handler
from .inflight import Handler as Handler  # where it was first defined
from .message import Message, error_answer, make_request
from .peer import Peer, Role, State

PeersWatcher = Callable[[list[str]], None]  # gets the open peers' Origin-Hosts

_CONNECTING = (State.WAIT_CONN_ACK, State.WAIT_CEA, State.WAIT_CER)


class DiameterNode:
    """A Diameter node: TCP server and/or client for a set of peers (see module docstring)."""

    def __init__(
        self,
        config: DiameterConfig,
        metrics: DiameterMetrics | None = None,
        *,
        dictionary: Dictionary = DEFAULT,
        max_inflight: int = 10_000,
    ) -> None:
        if not config.origin_state_id:
            config = dataclasses.replace(config, origin_state_id=int(time.time()) & 0xFFFFFFFF)
        self.config = config
        self.dictionary = dictionary
        self.max_inflight = max_inflight
        self._loop = asyncio.get_running_loop()
        self._e2e = EndToEnd(time.time())
        self._session_ids = SessionIds()
        self._handlers: dict[int, Handler] = {}
        self._responders: dict[int, Responder] = {}
        self._slots: set[PeerSlot] = set()
        self._open: dict[str, PeerSlot] = {}  # Origin-Host (lower case) -> open slot
        self._watchers: list[PeersWatcher] = []
        self._rr = itertools.count()
        self._servers: list[asyncio.Server] = []
        self._changed: asyncio.Future[None] = self._loop.create_future()
        self._stopping = False
        self._waiting: set[PendingRequest] = set()  # not yet sent: no peer or no buffer room
        self._idle: asyncio.Future[None] | None = None  # stopping: nothing left to answer
        self._log: Any = log.get("diameter")
        # What every exchange of ours and every answer we give is counted in (not CER/DWR/DPR:
        # the peer state machine answers those).
        self.metrics = DiameterMetrics.create() if metrics is None else metrics
        self.metrics.peers_open.read = self._peers_open
        self._known: dict[str, str] = {}  # Origin-Host (lower case) -> as the peer spells it
        self._labels: dict[int, str] = {}  # command code -> its ``command`` label
        # Gets every whole message read or written, CER/DWR/DPR included (HEP capture).
        self.tap: WireTap | None = None

    # ----- public API
    def add_handler(self, command_code: int, handler: Handler) -> None:
        """Answer requests with *command_code* with ``await handler(request)``."""
        self._handlers[command_code] = handler
        self._responders.pop(command_code, None)

    def add_responder(self, command_code: int, responder: Responder) -> None:
        """Answer requests with *command_code* by ``responder(request, reply)``: it calls
        ``reply(answer)``, or ``reply(exception)``, once, at once or later (no task per
        request). What it raises stands for its answer."""
        self._responders[command_code] = responder
        self._handlers.pop(command_code, None)

    async def listen(self, host: str, port: int) -> int:
        """Accept peers on *host*:*port*; returns the bound port (useful with port 0)."""
        server = await self._loop.create_server(self._accept, host, port, reuse_address=True)
        self._servers.append(server)
        bound = bound_address(server)[1]
        self._log.info("diameter_listen", host=host, port=bound)
        return bound

    def add_peer(self, host: str, port: int) -> None:
        """Connect to a peer and keep it connected (CER/CEA, watchdog, reconnect)."""
        peer = Peer(
            self.config, Role.INITIATOR, end_to_end=self._e2e, dictionary=self.dictionary,
            name=f"{host}:{port}",
        )  # fmt: skip
        slot = PeerSlot(peer, (host, port))
        self._slots.add(slot)
        peer.start(self._loop.time())
        self._process(slot)

    async def connect(self, host: str, port: int, timeout: float | None = None) -> Capabilities:
        """:meth:`add_peer` and wait until it is open; raises :class:`DiameterUnavailable` if
        the first attempt fails (the node keeps retrying in the background)."""
        self.add_peer(host, port)
        slot = next(s for s in self._slots if s.address == (host, port))
        deadline = self._loop.time() + (self.config.cer_timeout if timeout is None else timeout)
        while not slot.peer.is_open:
            if slot.peer.state not in _CONNECTING:
                raise DiameterUnavailable(f"cannot connect to {host}:{port}")
            await self._wait_change(deadline)
        assert slot.peer.capabilities is not None
        return slot.peer.capabilities

    def new_request(
        self,
        command: str | int,
        *,
        destination_realm: str | None = None,
        destination_host: str | None = None,
    ) -> Message:
        """:func:`make_request` with our Origin-Host/Realm (and a Session-Id for Cx);
        Destination-Realm defaults to our realm."""
        return make_request(
            command, origin_host=self.config.origin_host, origin_realm=self.config.origin_realm,
            destination_realm=destination_realm or self.config.origin_realm,
            destination_host=destination_host, dictionary=self.dictionary,
        )  # fmt: skip

    async def request(
        self, msg: Message, *, timeout: float | None = None, peer: str | None = None
    ) -> Message:
        """Send *msg* and return its answer, or raise what :meth:`send_request` delivers
        instead. Cancelling the caller forgets the request."""
        fut: asyncio.Future[Message] = self._loop.create_future()

        def settle(outcome: Message | Exception) -> None:
            if fut.done():
                return
            if isinstance(outcome, Message):
                fut.set_result(outcome)
            else:
                fut.set_exception(outcome)

        pending = self.send_request(msg, on_answer=settle, timeout=timeout, peer=peer)
        try:
            return await fut
        finally:
            pending.cancel()  # a no-op once delivered

    def send_request(
        self,
        msg: Message,
        *,
        on_answer: AnswerCallback,
        timeout: float | None = None,
        peer: str | None = None,
    ) -> PendingRequest:
        """Send *msg*; ``on_answer`` gets its answer, or the exception that stands for it,
        exactly once and never before this returns (unless cancelled first).

        The peer is *peer* (an Origin-Host), else the request's Destination-Host if that peer
        is open, else any open peer supporting the application (round robin). With no peer
        open or connecting the outcome is :class:`DiameterUnavailable` at once; without an
        answer within *timeout* (default ``config.request_timeout``) it is
        :class:`DiameterTimeout`. If the link fails before the answer, the request is sent
        once more, with the T bit, to another open peer (RFC 6733 §5.5.4). No task is made
        unless the request must wait for a peer to connect or for room in a send buffer.
        """
        now = self._loop.time()
        if timeout is None:
            timeout = self.config.request_timeout
        pending = PendingRequest(msg, on_answer, peer, now, now + timeout)
        self._start(pending, soon=True)
        return pending

    @property
    def open_peers(self) -> list[str]:
        return sorted(self._open)

    @property
    def listening(self) -> bool:
        """Whether a :meth:`listen` socket is accepting connections (readiness)."""
        return any(server.is_serving() for server in self._servers)

    @property
    def peer_addresses(self) -> dict[str, str | None]:
        """Each open peer's Origin-Host → the address its connection comes from."""
        return {host: slot.peer.remote_host for host, slot in sorted(self._open.items())}

    def watch_peers(self, watcher: PeersWatcher) -> None:
        """Call ``watcher(open_peers)`` whenever a peer opens or closes (readiness)."""
        self._watchers.append(watcher)

    def _open_changed(self) -> None:
        peers = self.open_peers
        for watcher in self._watchers:
            watcher(peers)

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting, let requests being handled finish (up to half of *timeout*), DPR to
        every open peer and wait for DPA (the rest of *timeout*), close everything."""
        self._stopping = True
        for server in self._servers:
            server.close()
        if any(slot.busy for slot in self._slots):
            self._idle = self._loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._idle), timeout / 2)
        now = self._loop.time()
        for slot in list(self._slots):
            if slot.connect_task is not None:
                slot.connect_task.cancel()
            slot.peer.stop(now)
            self._process(slot)
        conns = [s.conn.closed for s in self._slots if s.conn is not None]
        if conns:
            await asyncio.wait(conns, timeout=timeout)
        for slot in list(self._slots):
            if slot.conn is not None:
                slot.conn.close()
            for t in slot.tasks:
                t.cancel()
            self._forget(slot)
        for pending in list(self._waiting):  # left waiting for a peer: none will come
            if pending.task is not None:
                pending.task.cancel()
                pending.task = None
            self._deliver(pending, DiameterUnavailable("node stopped"))
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def __aenter__(self) -> DiameterNode:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----- our requests
    def _start(self, pending: PendingRequest, *, soon: bool = False) -> None:
        """Send now if a peer is open and writable; else fail at once when no peer is open
        or connecting (*soon*: from the next loop iteration, so the sender's call returns
        first), or wait for one in a task."""
        slot = self._choose(pending.msg, pending.peer)
        if slot is not None and (slot.conn is None or slot.conn.writable.is_set()):
            self._send(pending, slot, soon)
        elif slot is None and self._no_peer_coming():
            self._fail(pending, self._no_peer(pending.msg), soon)
        else:
            pending.task = self._loop.create_task(self._send_later(pending, slot))
            self._waiting.add(pending)
            pending.task.add_done_callback(lambda _: self._waiting.discard(pending))

    def _no_peer_coming(self) -> bool:
        return self._stopping or not any(s.peer.state in _CONNECTING for s in self._slots)

    @staticmethod
    def _no_peer(msg: Message) -> DiameterUnavailable:
        return DiameterUnavailable(f"no open Diameter peer for {msg.name}")

    def _send(self, pending: PendingRequest, slot: PeerSlot, soon: bool) -> None:
        now = self._loop.time()
        try:
            hbh = slot.peer.send_request(pending.msg, now, max(pending.deadline - now, 0.0))
        except Exception as exc:  # an AVP value that does not encode
            self._fail(pending, exc, soon)
            return
        pending.slot, pending.hbh = slot, hbh
        slot.pending[hbh] = pending
        self._schedule_flush(slot)

    def _fail(self, pending: PendingRequest, exc: Exception, soon: bool) -> None:
        if soon:
            self._loop.call_soon(self._deliver, pending, exc)
        else:
            self._deliver(pending, exc)

    async def _send_later(self, pending: PendingRequest, slot: PeerSlot | None) -> None:
        """Wait for an open peer and for room in its send buffer, then send."""
        msg, deadline = pending.msg, pending.deadline
        try:
            while True:
                if slot is None:
                    slot = self._choose(msg, pending.peer)
                    if slot is None:
                        if self._no_peer_coming():
                            raise self._no_peer(msg)
                        await self._wait_change(deadline)
                        continue
                conn = slot.conn
                if conn is None or conn.writable.is_set():
                    break
                with contextlib.suppress(TimeoutError):  # back-pressure
                    await asyncio.wait_for(conn.writable.wait(), deadline - self._loop.time())
                if not conn.writable.is_set():
                    raise DiameterTimeout(f"{slot.peer.name}: send buffer full")
                if slot.peer.is_open:
                    break
                slot = None
        except (DiameterUnavailable, DiameterTimeout) as exc:
            pending.task = None
            self._deliver(pending, exc)
            return
        pending.task = None
        self._send(pending, slot, soon=False)

    def _link_failed(self, pending: PendingRequest, exc: DiameterUnavailable) -> None:
        """No answer will come over this link: send once more, with the T bit (RFC 6733
        §5.5.4), unless this was the second try or time is up."""
        pending.slot = None
        if pending.retried or self._stopping or self._loop.time() >= pending.deadline:
            self._deliver(pending, exc)
            return
        pending.retried = True
        pending.msg.flags |= FLAG_T  # same End-to-End id: the server may detect a duplicate
        self._start(pending)

    def _deliver(self, pending: PendingRequest, outcome: Message | Exception) -> None:
        if pending.done:  # cancelled meanwhile
            return
        pending.done = True
        slot, pending.slot = pending.slot, None
        msg = pending.msg
        record(self.metrics, self._log, "client",
               self._labels.get(msg.command_code) or self._label(msg), msg,
               slot.peer.name if slot is not None else pending.peer,
               self._loop.time() - pending.started, outcome)
        try:
            pending.on_answer(outcome)
        except Exception:  # the caller's bug: it must not stop the node
            self._log.exception("diameter_answer_callback_failed", command=pending.msg.name)

    # ----- adapter internals
    def _accept(self) -> PeerConnection:
        peer = Peer(self.config, Role.RESPONDER, end_to_end=self._e2e, dictionary=self.dictionary)
        slot = PeerSlot(peer, None)
        self._slots.add(slot)
        return PeerConnection(self, slot)

    def _forget(self, slot: PeerSlot) -> None:
        self._slots.discard(slot)
        if slot.timer is not None:
            slot.timer.cancel()
            slot.timer = slot.timer_at = None
        self._close_slot(slot)
        pending = list(slot.pending.values())
        slot.pending.clear()
        for p in pending:
            self._link_failed(p, DiameterUnavailable("node stopped"))

    def _close_slot(self, slot: PeerSlot) -> None:
        """The slot is no peer's open connection any more."""
        hosts = [host for host, s in self._open.items() if s is slot]
        for host in hosts:
            del self._open[host]
        if hosts:
            self._open_changed()

    def _choose(self, msg: Message, peer: str | None) -> PeerSlot | None:
        host = peer or msg.get_str("Destination-Host")
        if host is not None:
            slot = self._open.get(host.lower())
            if slot is not None and slot.peer.is_open:
                return slot
            if peer is not None:
                return None
        app = msg.application_id
        usable = [s for s in self._open.values() if s.peer.is_usable and app in s.peer.applications]
        if not usable:
            usable = [s for s in self._open.values() if s.peer.is_open]
        if not usable:
            return None
        return usable[next(self._rr) % len(usable)]

    async def _wait_change(self, deadline: float) -> None:
        remaining = deadline - self._loop.time()
        if remaining <= 0:
            raise DiameterTimeout("no Diameter peer became available in time")
        try:
            await asyncio.wait_for(asyncio.shield(self._changed), remaining)
        except TimeoutError:
            raise DiameterTimeout("no Diameter peer became available in time") from None

    def _notify_change(self) -> None:
        if not self._changed.done():
            self._changed.set_result(None)
        self._changed = self._loop.create_future()

    def _process(self, slot: PeerSlot) -> None:
        """Act on the peer's events, write its output, re-arm its timer."""
        peer = slot.peer
        while (ev := peer.next_event()) is not None:
            if isinstance(ev, AnswerReceived):
                pending = slot.pending.pop(ev.hop_by_hop, None)
                if pending is not None:
                    self._deliver(pending, ev.message)
            elif isinstance(ev, RequestReceived):
                self._dispatch(slot, ev.message)
            elif isinstance(ev, RequestFailed):
                pending = slot.pending.pop(ev.hop_by_hop, None)
                if pending is None:
                    pass
                elif ev.timed_out:
                    self._deliver(pending, DiameterTimeout(f"{peer.name}: {ev.reason}"))
                else:
                    self._link_failed(pending, DiameterUnavailable(f"{peer.name}: {ev.reason}"))
            elif isinstance(ev, CloseRequested):
                self._flush(slot)
                if slot.conn is not None:
                    slot.conn.close()
                self._log.info("diameter_close", peer=peer.name, reason=ev.reason)
                self._notify_change()
            elif isinstance(ev, ConnectRequested):
                if slot.address is not None and not self._stopping:
                    slot.connect_task = self._loop.create_task(self._connect(slot))
            elif isinstance(ev, PeerUp):
                host = ev.capabilities.origin_host
                self._open[host.lower()] = slot
                self._known.setdefault(host.lower(), host)
                self._open_changed()
                self._log.info(
                    "diameter_peer_up", peer=ev.capabilities.origin_host,
                    address=peer.remote_host, applications=sorted(ev.applications),
                )  # fmt: skip
                self._notify_change()
            elif isinstance(ev, PeerDown):
                self._close_slot(slot)
                self._log.info("diameter_peer_down", peer=peer.name, reason=ev.reason)
                self._notify_change()
            elif isinstance(ev, (PeerSuspect, PeerRecovered)):
                self._log.warning("diameter_watchdog", peer=peer.name, state=peer.watchdog.name)
        self._flush(slot)
        self._arm_timer(slot)

    def _flush(self, slot: PeerSlot) -> None:
        if slot.flush_handle is not None:
            slot.flush_handle.cancel()
            slot.flush_handle = None
        tap, conn = self.tap, slot.conn
        if tap is not None and conn is not None:
            conn.write_messages(slot.peer.messages_to_send(), tap)
            return
        data = slot.peer.data_to_send()
        if data and conn is not None:
            conn.write(data)

    def _schedule_flush(self, slot: PeerSlot) -> None:
        """Coalesce the writes of one loop iteration into one."""
        if slot.flush_handle is None:
            slot.flush_handle = self._loop.call_soon(self._flush_soon, slot)

    def _flush_soon(self, slot: PeerSlot) -> None:
        slot.flush_handle = None
        self._flush(slot)
        self._arm_timer(slot)

    def _arm_timer(self, slot: PeerSlot) -> None:
        """Keep one ``call_at`` no later than the peer's next timer. An earlier one is kept
        (waking early is harmless) so that answers do not re-arm it each time."""
        t = slot.peer.get_timer()
        if t is None or (slot.timer_at is not None and slot.timer_at <= t):
            return
        if slot.timer is not None:
            slot.timer.cancel()
        slot.timer_at = t
        slot.timer = None if t is None else self._loop.call_at(t, self._on_timer, slot)

    def _on_timer(self, slot: PeerSlot) -> None:
        slot.timer = slot.timer_at = None
        slot.peer.handle_timer(self._loop.time())
        self._process(slot)

    async def _connect(self, slot: PeerSlot) -> None:
        assert slot.address is not None
        host, port = slot.address
        source = self.config.source_address
        try:
            await asyncio.wait_for(
                self._loop.create_connection(lambda: PeerConnection(self, slot), host, port,
                                             local_addr=(source, 0) if source else None),
                self.config.cer_timeout,
            )
        except (OSError, TimeoutError) as exc:
            self._log.info("diameter_connect_failed", peer=f"{host}:{port}", error=str(exc))
            slot.peer.connection_failed(self._loop.time())
            self._process(slot)
            self._notify_change()
        finally:
            slot.connect_task = None

    # ----- requests we answer
    def _dispatch(self, slot: PeerSlot, request: Message) -> None:
        reply = Reply(self, slot, request, self._loop.time())
        slot.busy += 1
        if slot.busy >= self.max_inflight and slot.conn is not None:
            slot.paused = True
            slot.conn.pause_reading()
        code = request.command_code
        responder = self._responders.get(code)
        if responder is not None:
            try:
                responder(request, reply)
            except Exception as exc:
                reply(exc)
            return
        handler = self._handlers.get(code)
        if handler is None:
            reply(DiameterError(ResultCode.COMMAND_UNSUPPORTED, "no handler"))
            return
        task = self._loop.create_task(await_handler(handler, request, reply))
        slot.tasks.add(task)
        task.add_done_callback(slot.tasks.discard)

    def _reply(self, slot: PeerSlot, request: Message, outcome: Message | BaseException,
               started: float) -> None:
        """Send the answer to *request*: *outcome* checked, or the error answer for it."""
        slot.busy -= 1
        if slot.paused and slot.busy < self.max_inflight // 2 and slot.conn is not None:
            slot.paused = False
            slot.conn.resume_reading()
        if self._idle is not None and not self._idle.done() and not any(
                s.busy for s in self._slots):
            self._idle.set_result(None)
        if isinstance(outcome, Message) and not outcome.is_request:
            answer = outcome
            # The identifiers must be the request's (RFC 6733 §6.2), whoever built the answer.
            answer.hop_by_hop, answer.end_to_end = request.hop_by_hop, request.end_to_end
        elif isinstance(outcome, DiameterError):
            answer = self._error_answer(request, outcome)
        else:
            if not isinstance(outcome, BaseException):
                outcome = TypeError(f"handler returned {outcome!r}, not an answer")
            self._log.error("diameter_handler_failed", command=request.name, exc_info=outcome)
            answer = self._error_answer(request, DiameterError(ResultCode.UNABLE_TO_COMPLY))
        slot.peer.send_answer(answer)
        self._schedule_flush(slot)  # written at the end of this loop iteration
        record(self.metrics, self._log, "server",
               self._labels.get(request.command_code) or self._label(request), request,
               slot.peer.name, self._loop.time() - started, answer)

    # ----- metrics
    def _label(self, msg: Message) -> str:
        label = self._labels[msg.command_code] = command_label(msg.name)
        return label

    def _peers_open(self) -> list[tuple[Labels, float]]:
        return peers_open(self._slots, self._known)

    def _error_answer(self, request: Message, err: DiameterError) -> Message:
        return error_answer(
            request, err, origin_host=self.config.origin_host,
            origin_realm=self.config.origin_realm, dictionary=self.dictionary,
        )  # fmt: skip
