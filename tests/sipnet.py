"""Fake SIP peers on loopback for the tests that drive real sockets: a UDP socket and a
TCP listener that hand what arrives to the test's own handler, and a UDP sink that only
keeps what arrives (a silent next hop, a HEP collector)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import cast

from ims_core.sip import StreamFramer

Reply = Callable[[bytes], None]


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Reply], None]) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        transport = self.transport
        assert transport is not None
        self.on_datagram(data, lambda out: transport.sendto(out, addr))


async def udp_peer(on_datagram: Callable[[bytes, Reply], None], host: str = "127.0.0.1",
                   port: int = 0) -> tuple[asyncio.DatagramTransport, int]:
    """A UDP socket on host:port (0: an ephemeral port) that calls ``on_datagram(data,
    reply)`` for each datagram, ``reply`` sending back to where it came from; the socket
    and its port."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(on_datagram),
                                                       local_addr=(host, port))
    return transport, int(transport.get_extra_info("sockname")[1])


async def stream_frames(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The SIP messages a TCP connection carries (RFC 3261 §18.3 framing; keep-alives
    skipped) until the peer closes it."""
    framer = StreamFramer()
    while data := await reader.read(65536):
        framer.feed(data)
        while (frame := framer.next_frame()) is not None:
            if isinstance(frame, bytes):
                yield frame


@dataclass
class TcpPeer:
    """A TCP listener whose connections hand each SIP message to ``on_frame(frame,
    reply)``; ``close()`` closes the listener and every connection it accepted."""

    server: asyncio.Server
    port: int
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def close(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


async def tcp_peer(on_frame: Callable[[bytes, Reply], None], host: str = "127.0.0.1",
                   port: int = 0) -> TcpPeer:
    writers: list[asyncio.StreamWriter] = []

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        async for frame in stream_frames(reader):
            on_frame(frame, writer.write)
        writer.close()

    server = await asyncio.start_server(connection, host, port)
    return TcpPeer(server, int(server.sockets[0].getsockname()[1]), writers)


class UdpSink:
    """A UDP socket on ``host:port`` (0: any free port) read by a thread: every datagram
    is kept in ``received``, nothing is answered."""

    def __init__(self, host: str, port: int = 0, rcvbuf: int = 4 << 20) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((host, port))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.received.append(self.sock.recv(65535))
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
