"""What SipTransport counts (parse errors, TCP connections) and hands its wire tap, with
real sockets on 127.0.0.1 and ephemeral ports."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from ims_core.metrics import Registry, SipMetrics
from ims_core.sip import Request, Response, SipParseError, parse_message
from ims_core.sip.addressing import Destination, Source
from ims_core.transport import TransportConfig
from ims_core.transport.queueprobe import QueueProbe
from ims_core.wiretap import Address, Payload, Proto

from .test_layer import HOST, Node, read_message, sip_request

Tapped = tuple[Payload, Proto, Address, Address, bytes]


class TapNode(Node):
    def __init__(self, config: TransportConfig) -> None:
        super().__init__(config)
        self.tapped: list[Tapped] = []
        self.transport.tap = self.tap

    def tap(self, payload: Payload, proto: Proto, src: Address, dst: Address,
            data: bytes) -> None:
        self.tapped.append((payload, proto, src, dst, data))

    @property
    def address(self) -> tuple[str, int]:
        return (HOST, self.port)

    def errors(self) -> dict[tuple[str, ...], float]:
        return self.transport.metrics.parse_errors.values


@pytest.fixture
async def node() -> AsyncIterator[TapNode]:
    n = TapNode(TransportConfig(host=HOST, port=0, tcp_idle_timeout=30))
    await n.transport.start()
    yield n
    await n.transport.close()


class Client:
    """A UDP socket on 127.0.0.1 talking to the node."""

    def __init__(self, node: TapNode) -> None:
        self.node = node
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.address: tuple[str, int] = self.sock.getsockname()

    async def send(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendto(self.sock, data, self.node.address)

    async def exchange(self, data: bytes) -> bytes:
        await self.send(data)
        return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 65535), 2)

    def close(self) -> None:
        self.sock.close()


async def test_the_tap_gets_each_udp_message_both_ways_exactly(node: TapNode) -> None:
    client = Client(node)
    try:
        await client.send(b"\r\n\r\n")  # a keep-alive: not SIP, not tapped
        request = sip_request()
        reply = await client.exchange(request)
    finally:
        client.close()
    assert node.tapped == [
        ("sip", "udp", client.address, node.address, request),
        ("sip", "udp", node.address, client.address, reply),
    ]
    assert node.errors() == {}  # a keep-alive is no parse error


async def test_the_queue_probe_is_not_tapped(node: TapNode) -> None:
    delays: list[float] = []
    client = Client(node)
    probe = QueueProbe(lambda delay, now: delays.append(delay))
    node.transport.probe, node.transport.probe_from = probe, client.address
    try:
        await client.send(probe.payload(asyncio.get_running_loop().time()))
        for _ in range(100):
            if delays:
                break
            await asyncio.sleep(0.01)
    finally:
        client.close()
    assert len(delays) == 1 and node.tapped == []


async def test_the_tap_gets_each_framed_tcp_message_both_ways(node: TapNode) -> None:
    reader, writer = await asyncio.open_connection(HOST, node.port)
    try:
        local = writer.get_extra_info("sockname")[:2]
        first = sip_request(via="SIP/2.0/TCP 10.0.0.1:5060")
        second = sip_request(via="SIP/2.0/TCP 10.0.0.1:5060", branch="z9hG4bKt2")
        writer.write(b"\r\n\r\n" + first + second)  # a ping, then two messages at once
        assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"  # the pong
        replies = [await read_message(reader), await read_message(reader)]
        assert node.transport.metrics.tcp_connections.value() == 1
    finally:
        writer.close()
        await writer.wait_closed()
    client = (HOST, local[1])
    assert node.tapped == [
        ("sip", "tcp", client, node.address, first),
        ("sip", "tcp", node.address, client, replies[0]),
        ("sip", "tcp", client, node.address, second),
        ("sip", "tcp", node.address, client, replies[1]),
    ]


async def test_a_send_to_a_name_is_tapped_with_the_address_resolved(node: TapNode) -> None:
    client = Client(node)
    try:
        data = sip_request(method="MESSAGE")
        node.transport.send(data, Destination("UDP", "localhost", client.address[1]))
        got = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(client.sock, 65535), 2)
    finally:
        client.close()
    assert got == data
    assert node.tapped == [("sip", "udp", node.address, client.address, data)]


async def test_a_failing_tap_costs_nothing_but_a_log_line(node: TapNode) -> None:
    def broken(payload: Payload, proto: Proto, src: Address, dst: Address,
               data: bytes) -> None:
        raise RuntimeError("capture down")

    node.transport.tap = broken
    client = Client(node)
    try:
        reply = parse_message(await client.exchange(sip_request()))
    finally:
        client.close()
    assert isinstance(reply, Response) and reply.status == 200


async def test_parse_errors_are_counted_by_the_status_answered(node: TapNode) -> None:
    client = Client(node)
    try:
        await client.send(b"\x00\xffgarbage")  # no request line: nothing to answer
        bad_version = sip_request().replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1)
        assert parse_message(await client.exchange(bad_version)).status == 505  # type: ignore[union-attr]

        def strict(msg: Request | Response, source: Source) -> None:
            raise SipParseError("Bad Max-Forwards header")  # the TU found a bad header

        node.transport.handler = strict
        assert parse_message(await client.exchange(sip_request())).status == 400  # type: ignore[union-attr]
    finally:
        client.close()
    assert node.errors() == {("dropped",): 1, ("505",): 1, ("400",): 1}


async def test_a_tcp_stream_that_cannot_be_framed_is_one_dropped(node: TapNode) -> None:
    reader, writer = await asyncio.open_connection(HOST, node.port)
    try:
        writer.write(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: lots\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):  # aborted: maybe a reset
            assert await asyncio.wait_for(reader.read(), 2) == b""  # the node closed it
    finally:
        writer.close()
        with contextlib.suppress(ConnectionResetError):
            await writer.wait_closed()
    assert node.errors() == {("dropped",): 1}
    assert node.tapped == []  # nothing was framed


def test_the_transport_counts_in_the_metrics_it_is_given() -> None:
    registry = Registry()
    metrics = SipMetrics.create(registry)
    node = Node(TransportConfig(host=HOST, port=0))
    assert node.transport.metrics is not metrics and node.transport.tap is None
    transport = type(node.transport)(TransportConfig(host=HOST, port=0), node.handle, metrics)
    assert transport.metrics is metrics
    assert metrics.tcp_connections.samples() == [((), 0)]  # read from its (empty) table
