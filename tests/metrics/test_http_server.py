"""The metrics listener on 127.0.0.1 (port 0): every path and method, malformed and
oversized heads, slow clients on both sides, the connection bound, and a scrape that
fails without taking anything else down."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ims_core.metrics import Registry, SipMetrics
from ims_core.metrics.families import Family
from ims_core.metrics.http import MAX_HEAD, MetricsServer

HOST = "127.0.0.1"


class Node:
    """A listener and what its readiness says."""

    def __init__(self, server: MetricsServer, port: int, sip: SipMetrics) -> None:
        self.server = server
        self.port = port
        self.sip = sip
        self.reasons: list[str] = []


@contextlib.asynccontextmanager
async def listening(registry: Registry | None = None, **kw: Any) -> AsyncIterator[Node]:
    r = Registry() if registry is None else registry
    sip = SipMetrics.create(r)
    holder: list[Node] = []
    server = MetricsServer(r, "pcscf", lambda: holder[0].reasons, **kw)
    port = await server.start(HOST, 0)
    holder.append(Node(server, port, sip))
    try:
        yield holder[0]
    finally:
        await server.close()


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async with listening() as n:
        yield n


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(HOST, port)


async def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data``, read until the server closes."""
    reader, writer = await connect(port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def split(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status, _ = lines[0].split(" ", 2)
    assert version == "HTTP/1.1"
    fields = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
    return int(status), fields, body


async def get(port: int, path: str, method: str = "GET", version: str = "HTTP/1.1"
              ) -> tuple[int, dict[str, str], bytes]:
    return split(await exchange(port, f"{method} {path} {version}\r\nHost: {HOST}\r\n"
                                      "User-Agent: test\r\n\r\n".encode()))


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_get_metrics(node: Node) -> None:
    node.sip.requests_received.inc("OPTIONS")
    status, fields, body = await get(node.port, "/metrics")
    assert status == 200
    assert fields["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert fields["connection"] == "close"
    assert int(fields["content-length"]) == len(body)
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    [sample] = families["ims_sip_requests_received"].samples
    assert (sample.labels, sample.value) == ({"method": "OPTIONS"}, 1.0)
    assert families["ims_node_info"].samples[0].labels["node"] == "pcscf"
    assert "date" in fields


async def test_head_metrics_has_the_fields_and_no_body(node: Node) -> None:
    _, got, full = await get(node.port, "/metrics")
    status, fields, body = await get(node.port, "/metrics", "HEAD")
    assert (status, body) == (200, b"")
    assert abs(int(fields["content-length"]) - len(full)) < 200  # process figures move
    assert fields["content-type"] == got["content-type"]


async def test_healthz_and_readyz(node: Node) -> None:
    status, _, body = await get(node.port, "/healthz")
    assert (status, body) == (200, b"ok\n")
    status, _, body = await get(node.port, "/readyz", version="HTTP/1.0")
    assert (status, body) == (200, b"ready\n")
    node.reasons = ["sip: not listening yet", "diameter: no open peer (hss 127.0.0.4:3868)"]
    status, _, body = await get(node.port, "/readyz")
    assert status == 503
    assert body == b"sip: not listening yet\ndiameter: no open peer (hss 127.0.0.4:3868)\n"
    status, _, body = await get(node.port, "/healthz")  # alive all the same
    assert (status, body) == (200, b"ok\n")
    status, fields, body = await get(node.port, "/readyz", "HEAD")
    assert (status, body) == (503, b"") and fields["content-length"] == "67"


async def test_unknown_path_and_method(node: Node) -> None:
    status, _, _ = await get(node.port, "/")
    assert status == 404
    status, _, _ = await get(node.port, "/metrics/")
    assert status == 404
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "BREW"):
        status, fields, _ = await get(node.port, "/metrics", method)
        assert (status, fields["allow"]) == (405, "GET, HEAD"), method


@pytest.mark.parametrize(("data", "status"), [
    (b"GET /metrics\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET /metrics HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # a TLS hello, near enough
    (b"GET /metrics HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    (b"GET /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody", 413),
    (b"POST /metrics HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 413),
    (b"GET /metrics HTTP/1.1\r\nHost: h\r\n", 400),  # the client half-closes mid-head
])
async def test_malformed_requests(node: Node, data: bytes, status: int) -> None:
    reader, writer = await connect(node.port)
    try:
        writer.write(data)
        writer.write_eof()
        got, _, _ = split(await asyncio.wait_for(reader.read(), 5))
    finally:
        writer.close()
    assert got == status


async def test_an_oversized_head_gets_431(node: Node) -> None:
    big = b"GET /metrics HTTP/1.1\r\nHost: h\r\nX-Fill: " + b"a" * MAX_HEAD + b"\r\n\r\n"
    status, _, body = split(await exchange(node.port, big))
    assert (status, body) == (431, b"request head over 8192 bytes\n")
    # Never ending: no blank line ever comes, and the server stops reading at the limit.
    reader, writer = await connect(node.port)
    try:
        writer.write(b"GET /metrics HTTP/1.1\r\n")
        with contextlib.suppress(ConnectionError):
            for _ in range(10):
                writer.write(b"X-More: " + b"b" * 2000 + b"\r\n")
                await writer.drain()
        status, _, _ = split(await asyncio.wait_for(reader.read(), 5))
    finally:
        writer.close()
    assert status == 431
    # Just under the limit is fine.
    fill = MAX_HEAD - len(b"GET /metrics HTTP/1.1\r\nHost: h\r\nX-Fill: \r\n\r\n")
    ok = b"GET /metrics HTTP/1.1\r\nHost: h\r\nX-Fill: " + b"a" * fill + b"\r\n\r\n"
    assert len(ok) == MAX_HEAD
    assert split(await exchange(node.port, ok))[0] == 200


async def test_a_slow_client_gets_408_and_a_silent_one_is_dropped() -> None:
    async with listening(head_timeout=0.3) as n:
        reader, writer = await connect(n.port)
        try:
            writer.write(b"GET /metrics HTTP/1.1\r\nHo")
            status, _, body = split(await asyncio.wait_for(reader.read(), 5))
        finally:
            writer.close()
        assert (status, body) == (408, b"no complete request head within 0.3s\n")
        reader, writer = await connect(n.port)
        try:
            got = await asyncio.wait_for(reader.read(), 5)  # nothing sent: 408 as well
        finally:
            writer.close()
        assert split(got)[0] == 408
        await until(lambda: n.server.connections == 0)


async def test_a_client_that_never_reads_is_cut_off() -> None:
    registry = Registry()
    big = registry.counter("ims_big", "a large family", ("peer",))
    for i in range(100_000):  # ~8 MB of text: more than the socket buffers hold
        big.inc(f"peer-number-{i:08d}-with-a-long-label-value-to-fill")
    # A lingering close of 30 s: only the write timeout can end this connection in time.
    async with listening(registry, write_timeout=0.5, linger=30.0) as n:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (HOST, n.port))
        try:
            await asyncio.get_running_loop().sock_sendall(
                sock, b"GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n")
            await until(lambda: n.server.connections == 1)
            await until(lambda: n.server.connections == 0, timeout=10)
            assert (await get(n.port, "/healthz"))[0] == 200  # still serving
        finally:
            sock.close()


async def test_connections_are_bounded() -> None:
    async with listening(max_connections=3) as n:
        idle = [await connect(n.port) for _ in range(3)]
        try:
            await until(lambda: n.server.connections == 3)
            status, fields, body = split(await exchange(n.port, b""))
            assert (status, body, fields["retry-after"]) == (503, b"too many connections\n", "1")
            _, writer = idle.pop()
            writer.close()  # one leaves: room again
            await until(lambda: n.server.connections == 2)
            assert (await get(n.port, "/healthz"))[0] == 200
        finally:
            for _, writer in idle:
                writer.close()
        await until(lambda: n.server.connections == 0)


async def test_a_reset_mid_request_harms_nothing(node: Node) -> None:
    sock = socket.create_connection((HOST, node.port))
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # RST
    await until(lambda: node.server.connections == 0)
    assert (await get(node.port, "/healthz"))[0] == 200


class BrokenRegistry(Registry):
    def families(self) -> list[Family]:
        raise MemoryError("no room")


async def test_a_scrape_that_blows_up_ends_only_its_connection() -> None:
    async with listening(BrokenRegistry()) as n:
        assert await exchange(n.port, b"GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n") == b""
        assert (await get(n.port, "/healthz"))[0] == 200
        await until(lambda: n.server.connections == 0)


async def test_close_ends_open_connections() -> None:
    async with listening() as n:
        reader, writer = await connect(n.port)
        await until(lambda: n.server.connections == 1)
        await asyncio.wait_for(n.server.close(), 2)
        assert n.server.connections == 0
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
        with pytest.raises(OSError):
            await connect(n.port)


async def test_a_port_in_use_raises_oserror(node: Node) -> None:
    other = MetricsServer(Registry(), "x", list)
    with pytest.raises(OSError):
        await other.start(HOST, node.port)
    await other.close()
