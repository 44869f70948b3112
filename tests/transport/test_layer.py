"""SipTransport with real sockets on 127.0.0.1 and ephemeral ports."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from ims_core.sip import Request, Response, SipParseError, make_response, parse_message
from ims_core.sip.addressing import Destination, Source
from ims_core.transport import SipTransport, TransportConfig

HOST = "127.0.0.1"


def sip_request(method: str = "OPTIONS", via: str = "SIP/2.0/UDP 10.0.0.1:5060;rport",
                branch: str = "z9hG4bKt1", body: bytes = b"") -> bytes:
    return (
        f"{method} sip:x@{HOST} SIP/2.0\r\nVia: {via};branch={branch}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\n"
        f"Call-ID: {branch}@t\r\nCSeq: 1 {method}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class Node:
    """A SipTransport whose handler records messages and answers requests with 200."""

    def __init__(self, config: TransportConfig, *, answer: bool = True) -> None:
        self.received: list[tuple[Request | Response, Source]] = []
        self.answer = answer
        self.transport = SipTransport(config, self.handle)

    def handle(self, msg: Request | Response, source: Source) -> None:
        self.received.append((msg, source))
        if self.answer and isinstance(msg, Request) and source.reply_to is not None:
            self.transport.send(make_response(msg, 200).to_bytes(), source.reply_to)

    @property
    def port(self) -> int:
        return self.transport.local[1]


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    n = Node(TransportConfig(host=HOST, port=0, tcp_idle_timeout=30))
    await n.transport.start()
    yield n
    await n.transport.close()


async def udp_exchange(port: int, data: bytes) -> tuple[bytes, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    try:
        await loop.sock_sendto(sock, data, (HOST, port))
        reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), 2)
        return reply, sock.getsockname()
    finally:
        sock.close()


async def read_message(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    return head


async def test_udp_request_gets_received_and_rport_and_a_reply(node: Node) -> None:
    reply, addr = await udp_exchange(node.port, sip_request())
    resp = parse_message(reply)
    assert isinstance(resp, Response) and resp.status == 200
    via = resp.top_via()
    assert via.received == HOST and via.rport == addr[1]
    _, source = node.received[0]
    assert source.transport == "UDP" and source.port == addr[1]


async def test_malformed_udp_request_is_answered_400(node: Node) -> None:
    bad = sip_request().replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE")
    bad = bad.replace(b"Max-Forwards: 70", b"Max-Forwards: many")

    def strict(msg: Request | Response, source: Source) -> None:
        raise SipParseError("Bad Max-Forwards header")  # the TU found a bad header

    node.transport.handler = strict
    reply, _ = await udp_exchange(node.port, bad)
    resp = parse_message(reply)
    assert isinstance(resp, Response) and resp.status == 400


async def test_unparseable_udp_request_gets_the_parser_status(node: Node) -> None:
    data = sip_request().replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1)
    reply, _ = await udp_exchange(node.port, data)
    resp = parse_message(reply)
    assert isinstance(resp, Response) and resp.status == 505


async def test_udp_garbage_is_dropped_and_the_node_keeps_working(node: Node) -> None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        await loop.sock_sendto(s, b"\x00\xffgarbage", (HOST, node.port))
    reply, _ = await udp_exchange(node.port, sip_request())
    assert parse_message(reply).status == 200  # type: ignore[union-attr]


async def test_tcp_response_comes_back_on_the_same_connection(node: Node) -> None:
    reader, writer = await asyncio.open_connection(HOST, node.port)
    try:
        writer.write(sip_request(via="SIP/2.0/TCP 10.0.0.1:5060") + sip_request(
            via="SIP/2.0/TCP 10.0.0.1:5060", branch="z9hG4bKt2"))
        first = parse_message(await read_message(reader))
        second = parse_message(await read_message(reader))
        assert first.status == second.status == 200  # type: ignore[union-attr]
        assert len(node.transport.connections) == 1
    finally:
        writer.close()


async def test_crlf_ping_gets_a_pong(node: Node) -> None:
    reader, writer = await asyncio.open_connection(HOST, node.port)
    try:
        writer.write(b"\r\n\r\n")
        assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"
    finally:
        writer.close()


async def test_tcp_garbage_costs_only_its_connection(node: Node) -> None:
    bad_reader, bad_writer = await asyncio.open_connection(HOST, node.port)
    good_reader, good_writer = await asyncio.open_connection(HOST, node.port)
    try:
        bad_writer.write(b"INVITE sip:x SIP/2.0\r\nContent-Length: lots\r\n\r\n")
        assert await asyncio.wait_for(bad_reader.read(), 2) == b""  # closed on us
        good_writer.write(sip_request(via="SIP/2.0/TCP 10.0.0.1"))
        assert parse_message(await read_message(good_reader)).status == 200  # type: ignore[union-attr]
    finally:
        bad_writer.close()
        good_writer.close()


async def test_oversized_header_block_closes_the_connection(node: Node) -> None:
    reader, writer = await asyncio.open_connection(HOST, node.port)
    try:
        writer.write(b"OPTIONS sip:x SIP/2.0\r\nX: " + b"a" * 70000)
        assert await asyncio.wait_for(reader.read(), 2) == b""
    finally:
        writer.close()


async def test_reset_and_half_messages_cost_nothing_else(node: Node) -> None:
    loop = asyncio.get_running_loop()
    for _ in range(5):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        await loop.sock_connect(s, (HOST, node.port))
        await loop.sock_sendall(s, sip_request()[:40])
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST
    await asyncio.sleep(0.1)
    assert len(node.transport.connections) == 0
    reply, _ = await udp_exchange(node.port, sip_request())
    assert parse_message(reply).status == 200  # type: ignore[union-attr]


async def test_idle_tcp_connections_are_closed() -> None:
    n = Node(TransportConfig(host=HOST, port=0, tcp_idle_timeout=0.2))
    await n.transport.start()
    try:
        reader, writer = await asyncio.open_connection(HOST, n.port)
        writer.write(sip_request(via="SIP/2.0/TCP 10.0.0.1"))
        await read_message(reader)
        assert await asyncio.wait_for(reader.read(), 2) == b""  # closed when idle
        writer.close()
        assert len(n.transport.connections) == 0
    finally:
        await n.transport.close()


async def test_outbound_tcp_connections_are_reused(node: Node) -> None:
    peer = Node(TransportConfig(host=HOST, port=0), answer=False)
    await peer.transport.start()
    try:
        dest = Destination("TCP", HOST, peer.port)
        for i in range(3):
            node.transport.send(sip_request(branch=f"z9hG4bKr{i}"), dest)
        for _ in range(100):
            if len(peer.received) == 3:
                break
            await asyncio.sleep(0.02)
        assert len(peer.received) == 3
        assert len({id(s.conn) for _, s in peer.received}) == 1
        assert len(node.transport.connections) == 1
    finally:
        await peer.transport.close()


async def test_failed_connect_is_reported(node: Node) -> None:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        failed = asyncio.Event()
        node.transport.send(b"x", Destination("TCP", HOST, port), failed.set)
        await asyncio.wait_for(failed.wait(), 3)
