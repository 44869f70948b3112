"""The node's side of one peer: its TCP connection (an ``asyncio.Protocol``) and the
bookkeeping around it (timer, requests awaiting answers, requests being answered).

Internal to :mod:`.node`, which owns the event handling; a connection only feeds its peer
and asks the node to act on what came out.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from .peer import Peer, Role

if TYPE_CHECKING:
    from ..wiretap import Address, WireTap
    from .inflight import PendingRequest
    from .node import DiameterNode


class PeerSlot:
    """One peer: transport, timer, requests awaiting answers, requests being answered."""

    __slots__ = (
        "address", "busy", "conn", "connect_task", "flush_handle", "paused", "peer", "pending",
        "tasks", "timer", "timer_at",
    )  # fmt: skip

    def __init__(self, peer: Peer, address: tuple[str, int] | None) -> None:
        self.peer = peer
        self.address = address
        self.conn: PeerConnection | None = None
        self.connect_task: asyncio.Task[None] | None = None
        self.flush_handle: asyncio.Handle | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at: float | None = None
        self.pending: dict[int, PendingRequest] = {}  # Hop-by-Hop id -> our request
        self.busy = 0  # requests received and not yet answered
        self.paused = False  # reading paused: too many requests being answered
        self.tasks: set[asyncio.Task[None]] = set()  # coroutine handlers running


class PeerConnection(asyncio.Protocol):
    def __init__(self, node: DiameterNode, slot: PeerSlot) -> None:
        self.node = node
        self.slot = slot
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = node._loop.create_future()
        self.writable = asyncio.Event()  # cleared while the transport's buffer is full
        self.writable.set()
        self.local: Address = ("", 0)  # the socket's addresses, for captures
        self.remote: Address = ("", 0)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.slot.conn = self
        peername = transport.get_extra_info("peername")
        sockname = transport.get_extra_info("sockname")
        if peername:
            self.remote = (str(peername[0]), int(peername[1]))
        if sockname:
            self.local = (str(sockname[0]), int(sockname[1]))
        self.slot.peer.connection_made(self.node._loop.time(),
                                       str(peername[0]) if peername else None)
        self.node._process(self.slot)

    def data_received(self, data: bytes) -> None:
        tap = self.node.tap
        if tap is None:
            self.slot.peer.receive_data(data, self.node._loop.time())
        else:
            src, dst = self.remote, self.local
            self.slot.peer.receive_data(
                data, self.node._loop.time(),
                lambda frame: tap("diameter", "tcp", src, dst, frame))
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

    def write_messages(self, messages: list[bytes], tap: WireTap) -> None:
        """:meth:`write`, giving *tap* each whole message written."""
        if messages and self.transport is not None and not self.transport.is_closing():
            src, dst = self.local, self.remote
            for m in messages:
                tap("diameter", "tcp", src, dst, m)
            self.transport.write(b"".join(messages))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()
