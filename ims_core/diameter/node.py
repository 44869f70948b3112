"""The asyncio Diameter node: a thin adapter over :class:`.peer.Peer` (RFC 6733 over TCP).

::

    node = DiameterNode(DiameterConfig("hss.ims.example", "ims.example",
                                       allowed_peers=("scscf.ims.example",)))
    node.add_handler(MAR, handle_mar)           # async def handle_mar(req) -> Message
    await node.listen("127.0.0.4", 3868)

    client = DiameterNode(DiameterConfig("scscf.ims.example", "ims.example"))
    client.add_peer("127.0.0.4", 3868)         # connects, CER/CEA, reconnects with backoff
    answer = await client.request(mar, timeout=2.0)   # DiameterUnavailable / DiameterTimeout

Each connection is an ``asyncio.Protocol`` feeding one peer; the peer's ``get_timer()`` is kept
armed with one ``loop.call_at`` handle. Requests received are answered by the handler
registered for their command code (3001 with the E bit when there is none; a handler's
:class:`DiameterError` becomes the matching error answer; any other exception 5012).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from .. import log
from .capabilities import Capabilities
from .config import DiameterConfig
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
from .header import FLAG_T
from .ids import EndToEnd, SessionIds
from .message import Message, error_answer, make_request
from .peer import Peer, Role, State

Handler = Callable[[Message], Awaitable[Message]]
PeersWatcher = Callable[[list[str]], None]  # gets the open peers' Origin-Hosts

_CONNECTING = (State.WAIT_CONN_ACK, State.WAIT_CEA, State.WAIT_CER)


class _Slot:
    """Node-side bookkeeping for one peer: transport, timer, waiting requests, handler tasks."""

    __slots__ = (
        "address", "conn", "connect_task", "flush_handle", "futures", "peer", "tasks", "timer",
        "timer_at",
    )  # fmt: skip

    def __init__(self, peer: Peer, address: tuple[str, int] | None) -> None:
        self.peer = peer
        self.address = address
        self.conn: _Connection | None = None
        self.connect_task: asyncio.Task[None] | None = None
        self.flush_handle: asyncio.Handle | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at: float | None = None
        self.futures: dict[int, asyncio.Future[Message]] = {}
        self.tasks: set[asyncio.Task[None]] = set()


class _Connection(asyncio.Protocol):
    def __init__(self, node: DiameterNode, slot: _Slot) -> None:
        self.node = node
        self.slot = slot
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = node._loop.create_future()
        self.writable = asyncio.Event()  # cleared while the transport's buffer is full
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.slot.conn = self
        peername = transport.get_extra_info("peername")
        self.slot.peer.connection_made(self.node._loop.time(),
                                       str(peername[0]) if peername else None)
        self.node._process(self.slot)

    def data_received(self, data: bytes) -> None:
        self.slot.peer.receive_data(data, self.node._loop.time())
        self.node._process(self.slot)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.writable.set()
        slot = self.slot
        if slot.conn is self:
            slot.conn = None
            slot.peer.connection_lost(self.node._loop.time())
            self.node._process(slot)
            if slot.peer.role is Role.RESPONDER:
                self.node._forget(slot)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class DiameterNode:
    """A Diameter node: TCP server and/or client for a set of peers (see module docstring)."""

    def __init__(
        self,
        config: DiameterConfig,
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
        self._slots: set[_Slot] = set()
        self._open: dict[str, _Slot] = {}  # Origin-Host (lower case) -> open slot
        self._watchers: list[PeersWatcher] = []
        self._rr = itertools.count()
        self._servers: list[asyncio.Server] = []
        self._changed: asyncio.Future[None] = self._loop.create_future()
        self._stopping = False
        self._log: Any = log.get("diameter")

    # ----- public API
    def add_handler(self, command_code: int, handler: Handler) -> None:
        """Answer requests with *command_code* with ``await handler(request)``."""
        self._handlers[command_code] = handler

    async def listen(self, host: str, port: int) -> int:
        """Accept peers on *host*:*port*; returns the bound port (useful with port 0)."""
        server = await self._loop.create_server(self._accept, host, port, reuse_address=True)
        self._servers.append(server)
        bound: int = server.sockets[0].getsockname()[1]
        self._log.info("diameter_listen", host=host, port=bound)
        return bound

    def add_peer(self, host: str, port: int) -> None:
        """Connect to a peer and keep it connected (CER/CEA, watchdog, reconnect)."""
        peer = Peer(
            self.config, Role.INITIATOR, end_to_end=self._e2e, dictionary=self.dictionary,
            name=f"{host}:{port}",
        )  # fmt: skip
        slot = _Slot(peer, (host, port))
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
        """Send *msg* and return its answer.

        The peer is *peer* (an Origin-Host), else the request's Destination-Host if that peer
        is open, else any open peer supporting the application (round robin). Raises
        :class:`DiameterUnavailable` at once when no peer is open or connecting, and
        :class:`DiameterTimeout` when the answer does not come within *timeout* (default
        ``config.request_timeout``). If the link fails before the answer, the request is sent
        once more, with the T bit, to another open peer (RFC 6733 §5.5.4).
        """
        if timeout is None:
            timeout = self.config.request_timeout
        started = self._loop.time()
        deadline = started + timeout
        retried = False
        while True:
            slot = await self._select(msg, peer, deadline)
            conn = slot.conn
            if conn is not None and not conn.writable.is_set():  # back-pressure
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(conn.writable.wait(), deadline - self._loop.time())
                if not conn.writable.is_set():
                    raise DiameterTimeout(f"{slot.peer.name}: send buffer full")
                if not slot.peer.is_open:
                    continue
            fut: asyncio.Future[Message] = self._loop.create_future()
            now = self._loop.time()
            hbh = slot.peer.send_request(msg, now, max(deadline - now, 0.0))
            slot.futures[hbh] = fut
            self._schedule_flush(slot)
            try:
                answer = await fut
                break
            except DiameterUnavailable:
                if retried or self._stopping or self._loop.time() >= deadline:
                    raise
                retried = True
                msg.flags |= FLAG_T  # same End-to-End id: the server may detect a duplicate
            finally:
                if not fut.done():  # cancelled by our caller
                    slot.futures.pop(hbh, None)
                    slot.peer.cancel_request(hbh)
        if self._log.is_enabled_for(logging.DEBUG):  # its fields are AVP scans
            self._log.debug(
                "diameter_exchange", peer=slot.peer.name, command=msg.name,
                session_id=msg.session_id, result=answer.result,
                latency_ms=round((self._loop.time() - started) * 1000, 3),
            )  # fmt: skip
        return answer

    async def _select(self, msg: Message, peer: str | None, deadline: float) -> _Slot:
        slot = self._choose(msg, peer)
        while slot is None:
            if self._stopping or not any(s.peer.state in _CONNECTING for s in self._slots):
                raise DiameterUnavailable(f"no open Diameter peer for {msg.name}")
            await self._wait_change(deadline)
            slot = self._choose(msg, peer)
        return slot

    @property
    def open_peers(self) -> list[str]:
        return sorted(self._open)

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
        busy = [t for slot in self._slots for t in slot.tasks]
        if busy:
            await asyncio.wait(busy, timeout=timeout / 2)
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
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def __aenter__(self) -> DiameterNode:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----- adapter internals
    def _accept(self) -> _Connection:
        peer = Peer(self.config, Role.RESPONDER, end_to_end=self._e2e, dictionary=self.dictionary)
        slot = _Slot(peer, None)
        self._slots.add(slot)
        return _Connection(self, slot)

    def _forget(self, slot: _Slot) -> None:
        self._slots.discard(slot)
        if slot.timer is not None:
            slot.timer.cancel()
            slot.timer = slot.timer_at = None
        self._close_slot(slot)
        for fut in slot.futures.values():
            if not fut.done():
                fut.set_exception(DiameterUnavailable("node stopped"))
        slot.futures.clear()

    def _close_slot(self, slot: _Slot) -> None:
        """The slot is no peer's open connection any more."""
        hosts = [host for host, s in self._open.items() if s is slot]
        for host in hosts:
            del self._open[host]
        if hosts:
            self._open_changed()

    def _choose(self, msg: Message, peer: str | None) -> _Slot | None:
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

    def _process(self, slot: _Slot) -> None:
        """Act on the peer's events, write its output, re-arm its timer."""
        peer = slot.peer
        while (ev := peer.next_event()) is not None:
            if isinstance(ev, AnswerReceived):
                fut = slot.futures.pop(ev.hop_by_hop, None)
                if fut is not None and not fut.done():
                    fut.set_result(ev.message)
            elif isinstance(ev, RequestReceived):
                self._dispatch(slot, ev.message)
            elif isinstance(ev, RequestFailed):
                fut = slot.futures.pop(ev.hop_by_hop, None)
                if fut is not None and not fut.done():
                    exc_type = DiameterTimeout if ev.timed_out else DiameterUnavailable
                    fut.set_exception(exc_type(f"{peer.name}: {ev.reason}"))
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
                self._open[ev.capabilities.origin_host.lower()] = slot
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

    def _flush(self, slot: _Slot) -> None:
        if slot.flush_handle is not None:
            slot.flush_handle.cancel()
            slot.flush_handle = None
        data = slot.peer.data_to_send()
        if data and slot.conn is not None:
            slot.conn.write(data)

    def _schedule_flush(self, slot: _Slot) -> None:
        """Coalesce the writes of one loop iteration into one."""
        if slot.flush_handle is None:
            slot.flush_handle = self._loop.call_soon(self._flush_soon, slot)

    def _flush_soon(self, slot: _Slot) -> None:
        slot.flush_handle = None
        self._flush(slot)
        self._arm_timer(slot)

    def _arm_timer(self, slot: _Slot) -> None:
        """Keep one ``call_at`` no later than the peer's next timer. An earlier one is kept
        (waking early is harmless) so that answers do not re-arm it each time."""
        t = slot.peer.get_timer()
        if t is None or (slot.timer_at is not None and slot.timer_at <= t):
            return
        if slot.timer is not None:
            slot.timer.cancel()
        slot.timer_at = t
        slot.timer = None if t is None else self._loop.call_at(t, self._on_timer, slot)

    def _on_timer(self, slot: _Slot) -> None:
        slot.timer = slot.timer_at = None
        slot.peer.handle_timer(self._loop.time())
        self._process(slot)

    async def _connect(self, slot: _Slot) -> None:
        assert slot.address is not None
        host, port = slot.address
        source = self.config.source_address
        try:
            await asyncio.wait_for(
                self._loop.create_connection(lambda: _Connection(self, slot), host, port,
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

    def _dispatch(self, slot: _Slot, request: Message) -> None:
        task = self._loop.create_task(self._answer(slot, request))
        slot.tasks.add(task)
        task.add_done_callback(slot.tasks.discard)
        if len(slot.tasks) >= self.max_inflight and slot.conn and slot.conn.transport:
            slot.conn.transport.pause_reading()
            task.add_done_callback(lambda _t: self._maybe_resume(slot))

    def _maybe_resume(self, slot: _Slot) -> None:
        if len(slot.tasks) < self.max_inflight // 2 and slot.conn and slot.conn.transport:
            slot.conn.transport.resume_reading()

    async def _answer(self, slot: _Slot, request: Message) -> None:
        started = self._loop.time()
        handler = self._handlers.get(request.command_code)
        try:
            if handler is None:
                raise DiameterError(ResultCode.COMMAND_UNSUPPORTED, "no handler")
            answer = await handler(request)
            if not isinstance(answer, Message) or answer.is_request:
                raise TypeError(f"handler returned {answer!r}, not an answer")
            # The identifiers must be the request's (RFC 6733 §6.2), whoever built the answer.
            answer.hop_by_hop, answer.end_to_end = request.hop_by_hop, request.end_to_end
        except DiameterError as err:
            answer = self._error_answer(request, err)
        except Exception:
            self._log.exception("diameter_handler_failed", command=request.name)
            answer = self._error_answer(request, DiameterError(ResultCode.UNABLE_TO_COMPLY))
        slot.peer.send_answer(answer)
        self._schedule_flush(slot)
        if self._log.is_enabled_for(logging.DEBUG):  # its fields are AVP scans
            self._log.debug(
                "diameter_exchange", peer=slot.peer.name, command=request.name,
                session_id=request.session_id, result=answer.result,
                latency_ms=round((self._loop.time() - started) * 1000, 3),
            )  # fmt: skip

    def _error_answer(self, request: Message, err: DiameterError) -> Message:
        return error_answer(
            request, err, origin_host=self.config.origin_host,
            origin_realm=self.config.origin_realm, dictionary=self.dictionary,
        )  # fmt: skip
