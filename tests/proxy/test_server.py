"""ProxyServer end to end on loopback: a UDP/TCP client, the proxy, a raw next hop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from ims_core.proxy import ProxyConfig, ProxyCore
from ims_core.proxy.server import ProxyServer
from ims_core.sip import Request, Response, StreamFramer, make_response, parse_message
from ims_core.sip.addressing import Destination
from ims_core.transport import TransportConfig

HOST = "127.0.0.1"


def invite(via: str, body: bytes = b"") -> bytes:
    return (
        f"INVITE sip:bob@{HOST} SIP/2.0\r\nVia: {via};branch=z9hG4bKc1\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\n"
        f"Call-ID: c1@t\r\nCSeq: 1 INVITE\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class NextHop:
    """A UDP socket and a TCP listener on one port that record what reaches them."""

    port: int
    udp: socket.socket
    tcp: asyncio.Server
    tcp_frames: asyncio.Queue[tuple[bytes, asyncio.StreamWriter]]


@pytest.fixture
async def next_hop() -> AsyncIterator[NextHop]:
    frames: asyncio.Queue[tuple[bytes, asyncio.StreamWriter]] = asyncio.Queue()
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        framer = StreamFramer()
        while data := await reader.read(65536):
            framer.feed(data)
            while (frame := framer.next_frame()) is not None:
                if isinstance(frame, bytes):
                    frames.put_nowait((frame, writer))

    server = await asyncio.start_server(serve, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((HOST, port))
    udp.setblocking(False)
    yield NextHop(port, udp, server, frames)
    udp.close()
    server.close()
    for writer in writers:
        writer.close()
    await server.wait_closed()
    await asyncio.sleep(0)


@pytest.fixture
async def proxy(next_hop: NextHop) -> AsyncIterator[ProxyServer]:
    config = ProxyConfig(host=HOST, port=0, record_route=True,
                         next_hop=Destination("", HOST, next_hop.port))
    core: ProxyCore[None] = ProxyCore(config)
    server = ProxyServer(core, TransportConfig(host=HOST, port=0))
    await server.start()
    yield server
    await server.close()


async def test_udp_call_leg_is_relayed_and_answered(proxy: ProxyServer, next_hop: NextHop) -> None:
    loop = asyncio.get_running_loop()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind((HOST, 0))
    client.setblocking(False)
    try:
        cport = client.getsockname()[1]
        await loop.sock_sendto(client, invite(f"SIP/2.0/UDP {HOST}:{cport}"), proxy.address)
        trying = parse_message(await asyncio.wait_for(loop.sock_recv(client, 65535), 2))
        assert isinstance(trying, Response) and trying.status == 100
        data = await asyncio.wait_for(loop.sock_recv(next_hop.udp, 65535), 2)
        fwd = parse_message(data)
        assert isinstance(fwd, Request) and fwd.top_via().port == proxy.address[1]
        assert fwd.record_routes()[0].uri.port == proxy.address[1]  # type: ignore[union-attr]
        await loop.sock_sendto(next_hop.udp, make_response(fwd, 200, to_tag="b").to_bytes(),
                               proxy.address)
        ok = parse_message(await asyncio.wait_for(loop.sock_recv(client, 65535), 2))
        assert isinstance(ok, Response) and ok.status == 200
        assert len(ok.vias()) == 1
    finally:
        client.close()


async def test_large_udp_request_goes_out_over_tcp(proxy: ProxyServer, next_hop: NextHop) -> None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind((HOST, 0))
        client.setblocking(False)
        cport = client.getsockname()[1]
        body = b"v=0\r\n" + b"a=padding-attribute\r\n" * 80
        await loop.sock_sendto(client, invite(f"SIP/2.0/UDP {HOST}:{cport}", body),
                               proxy.address)
        frame, _ = await asyncio.wait_for(next_hop.tcp_frames.get(), 3)
        fwd = parse_message(frame, stream=True)
        assert fwd.top_via().transport == "TCP"  # §18.1.1
        assert fwd.body == body


async def test_tcp_response_returns_over_the_client_connection(
    proxy: ProxyServer, next_hop: NextHop
) -> None:
    reader, writer = await asyncio.open_connection(*proxy.address)
    try:
        local_port = writer.get_extra_info("sockname")[1]
        writer.write(invite(f"SIP/2.0/TCP {HOST}:{local_port + 1}"))  # sent-by port unused
        frame, hop_writer = await asyncio.wait_for(next_hop.tcp_frames.get(), 3)
        fwd = parse_message(frame, stream=True)
        assert isinstance(fwd, Request)
        hop_writer.write(make_response(fwd, 486, to_tag="b").to_bytes())
        framer = StreamFramer()
        statuses = []
        while 486 not in statuses:
            framer.feed(await asyncio.wait_for(reader.read(65536), 3))
            while (f := framer.next_frame()) is not None:
                if isinstance(f, bytes):
                    statuses.append(parse_message(f, stream=True).status)  # type: ignore[union-attr]
        assert statuses == [100, 486]
    finally:
        writer.close()
