"""SIP over TCP (RFC 3261 §18.3): one protocol object per connection, framed by
Content-Length with the sans-I/O `StreamFramer`; CRLF keep-alives (RFC 5626 §3.5.1).

A connection that sends what cannot be framed, overflows its buffers or resets costs
only itself: it is aborted and forgotten, nothing else is touched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from ims_core.sip import PING, PONG, SipParseError, StreamFramer

from .config import TransportConfig

# (connection, one framed message) -> None
FrameHandler = Callable[["TcpConnection", bytes], None]
# (connection, why its stream cannot be framed) -> None, just before it is aborted
UnframeableHandler = Callable[["TcpConnection", SipParseError], None]
CRLF = b"\r\n"


class TcpConnection(asyncio.Protocol):
    """One TCP connection, inbound or outbound. `peer` is the remote (host, port)."""

    def __init__(
        self,
        config: TransportConfig,
        on_frame: FrameHandler,
        on_open: Callable[[TcpConnection], bool],
        on_close: Callable[[TcpConnection], None],
        *,
        outbound: bool,
        on_unframeable: UnframeableHandler | None = None,
    ) -> None:
        self._config = config
        self._on_frame = on_frame
        self._on_unframeable = on_unframeable
        self._on_open = on_open
        self._on_close = on_close
        self._framer = StreamFramer(config.limits)
        self._transport: asyncio.Transport | None = None
        self.outbound = outbound
        self.peer: tuple[str, int] = ("", 0)
        self.local: tuple[str, int] = ("", 0)
        self.last_active = 0.0
        self.closed = False

    def __repr__(self) -> str:
        way = "out" if self.outbound else "in"
        return f"<TcpConnection {way} {self.peer[0]}:{self.peer[1]}>"

    # -- asyncio.Protocol --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self.peer = (str(peer[0]), int(peer[1]))
        self.local = (str(local[0]), int(local[1]))
        self.last_active = asyncio.get_running_loop().time()
        # Writes above the high-water mark are still accepted; write() drops the
        # connection when the queue exceeds max_write_buffer.
        self._transport.set_write_buffer_limits(high=self._config.max_write_buffer // 2)
        if not self._on_open(self):
            self.abort()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.last_active = asyncio.get_running_loop().time()
        framer = self._framer
        try:
            framer.feed(data)
            while True:
                frame = framer.next_frame()
                if frame is None:
                    break
                if frame is PING:
                    self.write(CRLF)  # RFC 5626 §3.5.1 pong
                elif frame is PONG:
                    continue
                else:
                    self._on_frame(self, cast(bytes, frame))
                    if self.closed:
                        return
        except SipParseError as exc:
            if self._on_unframeable is not None:
                self._on_unframeable(self, exc)
            self.abort()  # §18.3: the stream cannot be framed any more

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._transport = None
        self._on_close(self)

    # -- used by the transport layer ----------------------------------------------------
    def write(self, data: bytes) -> bool:
        """Queue `data`; False (and the connection aborted) if it is closed or stuck."""
        transport = self._transport
        if self.closed or transport is None or transport.is_closing():
            return False
        transport.write(data)
        if transport.get_write_buffer_size() > self._config.max_write_buffer:
            self.abort()
            return False
        self.last_active = asyncio.get_running_loop().time()
        return True

    def close(self) -> None:
        if self._transport is not None and not self.closed:
            self.closed = True
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self.closed = True
            self._transport.abort()


class ConnectionTable:
    """Open connections by remote (host, port): inbound ones by their source address,
    outbound ones by the address dialled, so requests to a peer reuse any connection
    already open to it (RFC 3261 §18.1.1, RFC 5923 §1)."""

    def __init__(self) -> None:
        self._by_peer: dict[tuple[str, int], TcpConnection] = {}
        self._all: dict[TcpConnection, list[tuple[str, int]]] = {}

    def __len__(self) -> int:
        return len(self._all)

    def connections(self) -> list[TcpConnection]:
        return list(self._all)

    def add(self, conn: TcpConnection, key: tuple[str, int] | None = None) -> None:
        keys = self._all.setdefault(conn, [])
        for k in (conn.peer, key):
            if k is not None and k not in keys:
                keys.append(k)
                self._by_peer[k] = conn

    def get(self, key: tuple[str, int]) -> TcpConnection | None:
        conn = self._by_peer.get(key)
        if conn is not None and conn.closed:
            del self._by_peer[key]
            return None
        return conn

    def remove(self, conn: TcpConnection) -> None:
        for key in self._all.pop(conn, ()):
            if self._by_peer.get(key) is conn:
                del self._by_peer[key]

    def idle(self, before: float) -> list[TcpConnection]:
        """Connections with no traffic since `before`."""
        return [c for c in self._all if c.last_active < before]
