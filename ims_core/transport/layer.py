"""The SIP transport layer (RFC 3261 §18) on asyncio: UDP and TCP on one address.

Theory of operation: `SipTransport.start()` binds a UDP endpoint and a TCP server on the
same host and port. Every datagram and every framed TCP message goes to the sans-I/O
`ims_core.sip.inbound`, whose verdict this layer carries out: deliver the message with
its `Source` to the handler (the transaction user), send an answer back (a 400 or 513
to what cannot be parsed, or to what the handler refused with a SipParseError), or drop
it. An unframeable TCP stream closes only its own connection.

`send(data, dest)` writes bytes: over UDP to the address, over TCP to `dest.conn` when
it is still open, else over any open connection to the address, else over a new one
(connects are shared while pending). A destination host that is a name is resolved
through a `NameCache` (one lookup per name and TTL). Failures are reported through
`on_error`.

`metrics` (the node's `SipMetrics`, else a private set): ``parse_errors{status}`` counts
each message refused here, by the status answered ("400", "513", ...) or "dropped" when
none could be (an unparseable response or request line, a malformed ACK, a TCP stream
that cannot be framed); ``tcp_connections`` reads the connection table at scrape time.
`tap` (a `WireTap`, None by default) gets a copy of every SIP message read (each
datagram, each framed TCP message; not keep-alives, not the queue probe's datagrams)
and written, with the addresses on the wire (our side: the bound address).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import cast

from ims_core import log
from ims_core.listening import bound_address
from ims_core.metrics import SipMetrics
from ims_core.sip import Request, Response, SipParseError, inbound, is_keepalive
from ims_core.sip.addressing import TCP, UDP, Destination, Source, is_ip
from ims_core.wiretap import Address, Proto, WireTap

from .config import TransportConfig
from .queueprobe import QueueProbe
from .resolver import NameCache
from .tcp import ConnectionTable, TcpConnection

Message = Request | Response
Handler = Callable[[Message, Source], None]
ErrorCallback = Callable[[], None] | None

_log = log.get("transport")
_IPS_KEPT = 4096  # addresses remembered as such (bounded: UEs' addresses are many)


class _UdpEndpoint(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport, local_port: int = 0) -> None:
        self._owner = owner
        self._local_port = local_port  # 0: the main listener
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self._owner._on_datagram(data, (str(addr[0]), int(addr[1])), self._local_port)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors on an unconnected socket: nothing to attribute them to


class SipTransport:
    """UDP + TCP listeners on `config.host:config.port` feeding `handler`."""

    def __init__(self, config: TransportConfig, handler: Handler,
                 metrics: SipMetrics | None = None) -> None:
        self.config = config
        self.handler = handler
        self.connections = ConnectionTable()
        self.metrics = metrics if metrics is not None else SipMetrics.create()
        self.metrics.tcp_connections.read = self._open_connections
        self.tap: WireTap | None = None  # assignable any time (see the module docstring)
        self._udp: _UdpEndpoint | None = None
        self._server: asyncio.Server | None = None
        self._extra_udp: dict[int, _UdpEndpoint] = {}  # further ports (config.server_ports
        self._extra_tcp: list[asyncio.Server] = []     # and client_ports)
        self._pending: dict[tuple[str, int], asyncio.Future[TcpConnection]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.local: tuple[str, int] = (config.host, config.port)
        self.probe: QueueProbe | None = None  # see queueprobe: datagrams from probe_from
        self.probe_from: tuple[str, int] | None = None
        self.datagrams = 0  # read so far (the probe stays quiet while none come)
        self.names: NameCache | None = None
        self._ips: dict[str, str] = {}  # host text that is an address -> the address

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        cfg = self.config
        self.names = NameCache(self._lookup, loop.time, ttl=cfg.name_ttl,
                               negative_ttl=cfg.name_failure_ttl, size=cfg.name_cache_size)
        # TCP first so port 0 picks a port that UDP then shares.
        self._server = await loop.create_server(
            lambda: self._new_connection(outbound=False), cfg.host, cfg.port,
            reuse_address=True, backlog=1024,
        )
        self.local = bound_address(self._server)
        try:
            _, proto = await loop.create_datagram_endpoint(
                lambda: _UdpEndpoint(self), local_addr=self.local
            )
        except OSError:
            self._server.close()
            raise
        self._udp = proto
        udp_sock = proto.transport.get_extra_info("socket") if proto.transport else None
        if udp_sock is not None:
            with contextlib.suppress(OSError):
                udp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, cfg.udp_receive_buffer)
        try:
            await self._start_extra(loop)
        except OSError:
            await self.close()
            raise
        self._schedule_sweep()

    async def _start_extra(self, loop: asyncio.AbstractEventLoop) -> None:
        """UDP on every further port, TCP listeners on the server ports (a client port
        only connects out over TCP: no listener there, so its outbound sockets can bind)."""
        host = self.local[0]
        for port in dict.fromkeys(self.config.server_ports + self.config.client_ports):
            _, proto = await loop.create_datagram_endpoint(
                lambda p=port: _UdpEndpoint(self, p), local_addr=(host, port))  # type: ignore[misc]
            self._extra_udp[port] = proto
        for port in self.config.server_ports:
            self._extra_tcp.append(await loop.create_server(
                lambda: self._new_connection(outbound=False), host, port,
                reuse_address=True, backlog=1024))

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        for server in self._extra_tcp:
            server.close()
        for udp in self._extra_udp.values():
            if udp.transport is not None:
                udp.transport.close()
        for conn in self.connections.connections():
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.sleep(0)

    def _schedule_sweep(self) -> None:
        assert self._loop is not None
        period = max(0.05, min(self.config.tcp_idle_timeout / 4, 30.0))
        self._sweeper = self._loop.call_later(period, self._sweep)

    def _sweep(self) -> None:
        """Close TCP connections idle longer than tcp_idle_timeout."""
        assert self._loop is not None
        for conn in self.connections.idle(self._loop.time() - self.config.tcp_idle_timeout):
            conn.close()
        self._schedule_sweep()

    # -- receiving -----------------------------------------------------------------------
    def _new_connection(self, *, outbound: bool) -> TcpConnection:
        return TcpConnection(
            self.config, self._on_frame, self._on_open, self.connections.remove,
            outbound=outbound, on_unframeable=self._unframeable,
        )

    def _open_connections(self) -> list[tuple[tuple[str, ...], float]]:
        return [((), len(self.connections))]

    def _unframeable(self, conn: TcpConnection, error: SipParseError) -> None:
        self.metrics.parse_errors.inc("dropped")
        _log.info("sip.malformed", peer=f"tcp:{conn.peer[0]}:{conn.peer[1]}",
                  reason=error.reason)

    def _on_open(self, conn: TcpConnection) -> bool:
        if not conn.outbound and len(self.connections) >= self.config.max_connections:
            return False
        self.connections.add(conn)
        return True

    def _on_frame(self, conn: TcpConnection, frame: bytes) -> None:
        if self.tap is not None:
            self._tap("tcp", conn.peer, conn.local, frame)
        host, port = conn.peer
        local_port = conn.local[1]
        self._act(inbound.receive(frame, TCP, host, port, conn, limits=self.config.limits,
                                  stream=True), TCP, host, port, conn,
                  0 if local_port == self.local[1] else local_port)

    def _on_datagram(self, data: bytes, addr: tuple[str, int], local_port: int = 0) -> None:
        self.datagrams += 1
        if addr == self.probe_from and self.probe is not None:  # our own queue probe
            self.probe.arrived(data, cast(asyncio.AbstractEventLoop, self._loop).time())
            return
        if self.tap is not None and not is_keepalive(data):
            self._tap("udp", addr, (self.local[0], local_port or self.local[1]), data)
        host, port = addr
        verdict = inbound.receive(data, UDP, host, port, limits=self.config.limits)
        if type(verdict) is inbound.Deliver and not local_port:  # the usual case, inline
            self._dispatch(verdict.message, verdict.source)
        else:
            self._act(verdict, UDP, host, port, None, local_port)

    def _act(self, verdict: inbound.Verdict, transport: str, host: str, port: int,
             conn: TcpConnection | None, local_port: int = 0) -> None:
        """Carry out what `ims_core.sip.inbound` decided about bytes from `host:port`;
        what arrived on a further port is answered from it, to its source (see
        `TransportConfig`)."""
        if isinstance(verdict, inbound.Deliver):
            source = verdict.source
            if local_port:
                source = replace(source, local_port=local_port, reply_to=Destination(
                    transport, host, port, conn, local_port))
            self._dispatch(verdict.message, source)
            return
        peer = f"{transport.lower()}:{host}:{port}"
        if isinstance(verdict, inbound.Answer):
            self.metrics.parse_errors.inc(str(verdict.status))
            _log.info("sip.rejected", peer=peer, status=verdict.status, reason=verdict.reason)
            dest = verdict.dest
            if local_port:
                dest = Destination(transport, host, port, conn, local_port)
            self.send(verdict.data, dest)
            return
        if not verdict.quiet:  # a keep-alive is no error
            self.metrics.parse_errors.inc("dropped")
        if verdict.error is not None:
            _log.error("sip.parser_failed", peer=peer, exc_info=verdict.error)
        elif not verdict.quiet:
            _log.info("sip.malformed", peer=peer, reason=verdict.reason)
        if verdict.close and conn is not None:
            conn.abort()

    def _dispatch(self, msg: Message, source: Source) -> None:
        try:
            self.handler(msg, source)
        except SipParseError as exc:  # the handler found a header it needed malformed
            self._act(inbound.reject(exc, msg, source), source.transport, source.host,
                      source.port, cast(TcpConnection | None, source.conn))
        except Exception:
            _log.exception("transport.handler_failed", peer=str(source))

    def _tap(self, proto: Proto, src: Address, dst: Address, data: bytes) -> None:
        """Hand a copy to the tap; one that fails must not cost the message."""
        try:
            cast(WireTap, self.tap)("sip", proto, src, dst, data)
        except Exception:
            _log.exception("transport.tap_failed")

    # -- sending -------------------------------------------------------------------------
    def send(self, data: bytes, dest: Destination, on_error: ErrorCallback = None) -> None:
        """Send `data` to `dest`; `on_error()` is called (maybe later) if that fails."""
        if dest.transport == UDP:
            udp = self._extra_udp.get(dest.local_port, self._udp) if dest.local_port \
                else self._udp
            if udp is None or udp.transport is None:
                _call(on_error)
                return
            address = self._ips.get(dest.host)
            if address is not None:
                pass  # an address seen before (the next hops: nearly every send)
            elif is_ip(dest.host):
                address = dest.host.strip("[]")
                if len(self._ips) >= _IPS_KEPT:
                    self._ips.clear()
                self._ips[dest.host] = address
            else:
                names = self.names
                address = names.cached(dest.host, dest.port) if names is not None else None
            if address is None:
                self._spawn(self._resolve_and_send(data, dest, on_error))
                return
            udp.transport.sendto(data, (address, dest.port))
            if self.tap is not None:
                self._tap("udp", (self.local[0], dest.local_port or self.local[1]),
                          (address, dest.port), data)
            return
        if dest.transport != TCP:
            _call(on_error)  # TLS, SCTP, WS: not offered by this transport layer
            return
        conn = cast(TcpConnection | None, dest.conn)
        if conn is not None and self._write(conn, data):
            return
        key = (dest.host.strip("[]"), dest.port)
        conn = self.connections.get(key)
        if conn is not None and (not dest.local_port or conn.local[1] == dest.local_port) \
                and self._write(conn, data):
            return
        self._spawn(self._connect_and_send(key, data, on_error, dest.local_port))

    def _write(self, conn: TcpConnection, data: bytes) -> bool:
        """`conn.write(data)`, and the copy to the tap when it was queued."""
        if not conn.write(data):
            return False
        if self.tap is not None:
            self._tap("tcp", conn.local, conn.peer, data)
        return True

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve_and_send(self, data: bytes, dest: Destination,
                                on_error: ErrorCallback) -> None:
        try:
            host = await self._resolve(dest.host, dest.port)
        except OSError as exc:
            _log.info("sip.resolve_failed", peer=f"{dest.host}:{dest.port}", error=str(exc))
            _call(on_error)
            return
        self.send(data, Destination(dest.transport, host, dest.port), on_error)

    async def _resolve(self, host: str, port: int) -> str:
        """`host` as an address (unchanged when it is one)."""
        if is_ip(host):
            return host.strip("[]")
        assert self.names is not None
        return await self.names.resolve(host, port)

    async def _lookup(self, host: str, port: int) -> str:
        """The system resolver's first answer in our socket's address family."""
        assert self._loop is not None
        local = self.local[0].strip("[]")
        family = (socket.AF_UNSPEC if not is_ip(local) else
                  socket.AF_INET6 if ":" in local else socket.AF_INET)
        infos = await self._loop.getaddrinfo(host, port, family=family,
                                             type=socket.SOCK_DGRAM)
        if not infos:
            raise OSError(f"{host}: no address")
        return str(infos[0][4][0])

    async def _connect_and_send(self, key: tuple[str, int], data: bytes,
                                on_error: ErrorCallback, local_port: int = 0) -> None:
        try:
            conn = await self._connect(key, local_port)
        except (TimeoutError, OSError) as exc:
            _log.info("tcp.connect_failed", peer=f"{key[0]}:{key[1]}", error=str(exc))
            _call(on_error)
            return
        if not self._write(conn, data):
            _call(on_error)

    async def _connect(self, key: tuple[str, int], local_port: int = 0) -> TcpConnection:
        """An open connection to `key` (from `local_port` when given), sharing a connect
        already in progress."""
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        assert self._loop is not None
        future: asyncio.Future[TcpConnection] = self._loop.create_future()
        self._pending[key] = future
        try:
            host = await self._resolve(*key)
            _, conn = await asyncio.wait_for(
                self._open_connection(host, key[1], local_port),
                self.config.tcp_connect_timeout,
            )
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._pending[key]
        self.connections.add(conn, key)
        future.set_result(conn)
        return conn


    async def _open_connection(self, host: str, port: int,
                               local_port: int) -> tuple[asyncio.BaseTransport, TcpConnection]:
        assert self._loop is not None
        factory = lambda: self._new_connection(outbound=True)  # noqa: E731
        local = self.local[0].strip("[]")
        if not local_port:
            return await self._loop.create_connection(
                factory, host, port, local_addr=(local, 0) if is_ip(local) else None)
        # From a given port (TS 33.203 §7.1: the protected client port): bound by hand,
        # with SO_REUSEADDR so several connections to different peers share it.
        sock = socket.socket(socket.AF_INET6 if ":" in local else socket.AF_INET,
                             socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((local, local_port))
            sock.setblocking(False)
            await self._loop.sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        return await self._loop.create_connection(factory, sock=sock)


def _call(callback: ErrorCallback) -> None:
    if callback is not None:
        callback()
