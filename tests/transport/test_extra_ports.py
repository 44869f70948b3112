"""Further server and client ports (the protected ports of IPsec SAs, TS 33.203 §7.1):
what arrives on one is answered from it to its source; a send can name the port it
leaves from, over UDP and TCP. Real sockets on 127.0.0.96/97."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from ims_core.sip.addressing import Destination
from ims_core.transport import SipTransport, TransportConfig

from .test_layer import Node, sip_request

HOST = "127.0.0.96"
PEER = "127.0.0.97"


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind((HOST, 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture
async def node() -> AsyncIterator[tuple[Node, int, int]]:
    port_s, port_c = free_ports(2)
    n = Node(TransportConfig(host=HOST, port=0, tcp_idle_timeout=30,
                             server_ports=(port_s,), client_ports=(port_c,)))
    await n.transport.start()
    yield n, port_s, port_c
    await n.transport.close()


async def test_udp_on_a_server_port_is_answered_from_it_to_the_source(
        node: tuple[Node, int, int]) -> None:
    n, port_s, _ = node
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((PEER, 0))
    sock.setblocking(False)
    try:
        # The Via names another port and no rport: the answer still goes to the source.
        await loop.sock_sendto(sock, sip_request(via="SIP/2.0/UDP 10.9.9.9:7000"),
                               (HOST, port_s))
        data, addr = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), 5)
    finally:
        sock.close()
    assert data.startswith(b"SIP/2.0 200")
    assert addr == (HOST, port_s)
    [(_, source)] = n.received
    assert source.local_port == port_s
    assert source.reply_to == Destination("UDP", PEER, source.port, None, port_s)


async def test_a_send_leaves_from_the_client_port_it_names(
        node: tuple[Node, int, int]) -> None:
    n, _, port_c = node
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((PEER, 0))
    sock.setblocking(False)
    try:
        n.transport.send(sip_request(), Destination("UDP", PEER, sock.getsockname()[1],
                                                    local_port=port_c))
        _, addr = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), 5)
        n.transport.send(sip_request(), Destination("UDP", PEER, sock.getsockname()[1]))
        _, main = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), 5)
    finally:
        sock.close()
    assert addr == (HOST, port_c)
    assert main == n.transport.local


async def test_tcp_listens_on_the_server_port_and_connects_out_from_the_client_port(
        node: tuple[Node, int, int]) -> None:
    n, port_s, port_c = node
    reader, writer = await asyncio.open_connection(HOST, port_s, local_addr=(PEER, 0))
    try:
        writer.write(sip_request(via="SIP/2.0/TCP 10.9.9.9:7000"))
        line = await asyncio.wait_for(reader.readline(), 5)
        assert line.startswith(b"SIP/2.0 200")
        [(_, source)] = n.received
        assert source.local_port == port_s and source.transport == "TCP"
    finally:
        writer.close()
    accepted: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()

    def on_connect(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted.set_result(w.get_extra_info("peername")[:2])
        w.close()

    server = await asyncio.start_server(on_connect, PEER, 0)
    try:
        peer_port = server.sockets[0].getsockname()[1]
        n.transport.send(sip_request(), Destination("TCP", PEER, peer_port,
                                                    local_port=port_c))
        assert await asyncio.wait_for(accepted, 5) == (HOST, port_c)
    finally:
        server.close()


async def test_a_taken_extra_port_fails_start_and_frees_the_rest() -> None:
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind((HOST, 0))
    taken = blocker.getsockname()[1]
    try:
        t = SipTransport(TransportConfig(host=HOST, port=0, server_ports=(taken,)),
                         lambda m, s: None)
        with pytest.raises(OSError):
            await t.start()
        again = SipTransport(TransportConfig(host=HOST, port=t.local[1]), lambda m, s: None)
        await again.start()  # the main port was released
        await again.close()
    finally:
        blocker.close()
