"""HepExporter: what a collector on 127.0.0.1 receives for SIP and Diameter taps, and an
exporter that never blocks or raises: not started, closed, collector gone, full buffer,
addresses it cannot encode."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import ims_core.hep.exporter as exporter_module
from ims_core.hep.codec import IPPROTO_TCP, IPPROTO_UDP, HepPacket, ProtoType, decode
from ims_core.hep.config import HepConfig
from ims_core.hep.exporter import MAX_BUFFERED, HepExporter
from ims_core.wiretap import WireTap
from ims_lab.procs import free_port
from tests.diameter import samples
from tests.sipnet import Reply, udp_peer

OPTIONS = (b"OPTIONS sip:scscf.ims.example SIP/2.0\r\n"
           b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-hep-1\r\n"
           b"From: <sip:pcscf.ims.example>;tag=1\r\nTo: <sip:scscf.ims.example>\r\n"
           b"i: hep-test-call@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
           b"Content-Length: 0\r\n\r\n")


@dataclass
class Collector:
    port: int
    datagrams: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)

    async def next(self) -> HepPacket:
        return decode(await asyncio.wait_for(self.datagrams.get(), 5))


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    def received(data: bytes, _reply: Reply) -> None:
        queue.put_nowait(data)

    transport, port = await udp_peer(received, "127.0.0.1")
    yield Collector(port, queue)
    transport.close()


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The events the exporter logs at warning level."""
    seen: list[str] = []

    class Log:
        def warning(self, event: str, **fields: Any) -> None:
            seen.append(event)

        def info(self, event: str, **fields: Any) -> None:
            pass

    monkeypatch.setattr(exporter_module, "_log", Log())
    return seen


async def started(port: int, **cfg: Any) -> HepExporter:
    exporter = HepExporter(HepConfig(enabled=True, host="127.0.0.1", port=port, **cfg), "pcscf")
    await exporter.start()
    return exporter


async def test_sip_over_udp(collector: Collector) -> None:
    exporter = await started(collector.port, capture_id=4242)
    tap: WireTap = exporter
    before = time.time()
    tap("sip", "udp", ("127.0.0.11", 5060), ("127.0.0.13", 5060), OPTIONS)
    got = await collector.next()
    after = time.time()
    exporter.close()
    assert got.payload == OPTIONS
    assert got.src == ("127.0.0.11", 5060) and got.dst == ("127.0.0.13", 5060)
    assert got.ip_proto == IPPROTO_UDP and got.proto_type == ProtoType.SIP
    assert got.correlation_id == b"hep-test-call@127.0.0.1"
    assert got.capture_id == 4242 and got.node_name == b"pcscf" and got.auth_key == b""
    assert int(before) <= got.ts_sec <= after
    assert before - 1e-6 <= got.ts_sec + got.ts_usec / 1e6 <= after + 1e-6
    assert (exporter.sent, exporter.dropped, exporter.errors) == (1, 0, 0)


async def test_diameter_over_tcp_with_a_password(collector: Collector) -> None:
    exporter = await started(collector.port, password="s3cret")
    uar = samples.uar()
    request, answer = uar.encode(), samples.uaa(uar).encode()
    exporter("diameter", "tcp", ("127.0.0.13", 41000), ("127.0.0.14", 3868), request)
    exporter("diameter", "tcp", ("127.0.0.14", 3868), ("127.0.0.13", 41000), answer)
    first, second = await collector.next(), await collector.next()
    exporter.close()
    sid = (uar.get_str("Session-Id") or "").encode()
    assert sid
    assert (first.payload, second.payload) == (request, answer)
    assert first.src == second.dst == ("127.0.0.13", 41000)
    assert first.dst == second.src == ("127.0.0.14", 3868)
    for got in (first, second):
        assert got.ip_proto == IPPROTO_TCP and got.proto_type == ProtoType.DIAMETER == 0x38
        assert got.correlation_id == sid and got.auth_key == b"s3cret"


async def test_ipv6_peers(collector: Collector) -> None:
    exporter = await started(collector.port)
    exporter("sip", "tcp", ("::1", 5060), ("2001:db8::15", 40001), OPTIONS)
    got = await collector.next()
    exporter.close()
    assert got.src == ("::1", 5060) and got.dst == ("2001:db8::15", 40001)


async def test_many_in_a_burst_arrive_in_order(collector: Collector) -> None:
    exporter = await started(collector.port)
    messages = [OPTIONS.replace(b"hep-test-call", b"call-%d" % i) for i in range(50)]
    for m in messages:
        exporter("sip", "udp", ("127.0.0.11", 5060), ("127.0.0.13", 5060), m)
    got = [await collector.next() for _ in messages]
    exporter.close()
    assert [g.payload for g in got] == messages
    assert [g.correlation_id for g in got] == [b"call-%d@127.0.0.1" % i for i in range(50)]


async def test_before_start_and_after_close_it_drops(collector: Collector) -> None:
    exporter = HepExporter(HepConfig(enabled=True, port=collector.port), "scscf")
    exporter("sip", "udp", ("127.0.0.1", 1), ("127.0.0.1", 2), OPTIONS)
    await exporter.start()
    await exporter.start()  # a second start keeps the one socket
    exporter("sip", "udp", ("127.0.0.1", 1), ("127.0.0.1", 2), OPTIONS)
    await collector.next()
    exporter.close()
    exporter.close()
    exporter("sip", "udp", ("127.0.0.1", 1), ("127.0.0.1", 2), OPTIONS)
    assert (exporter.sent, exporter.dropped) == (1, 2)
    assert collector.datagrams.empty()


async def test_a_collector_that_is_not_there(warnings: list[str]) -> None:
    """Nothing listens on the port: the kernel's ICMP answers come back as send errors,
    counted and logged once; the tap itself never raises."""
    exporter = await started(free_port("127.0.0.1"))
    for _ in range(20):
        exporter("sip", "udp", ("127.0.0.1", 1), ("127.0.0.1", 2), OPTIONS)
        await asyncio.sleep(0.01)
    exporter.close()
    assert exporter.errors >= 1
    assert warnings == ["hep.send_failed"]


async def test_what_cannot_be_encoded_is_dropped(collector: Collector,
                                                 warnings: list[str]) -> None:
    exporter = await started(collector.port)
    exporter("sip", "udp", ("localhost", 5060), ("127.0.0.1", 2), OPTIONS)
    exporter("sip", "udp", ("127.0.0.1", 70000), ("127.0.0.1", 2), OPTIONS)
    exporter("sip", "tcp", ("127.0.0.1", 1), ("127.0.0.1", 2), b"x" * 70_000)
    exporter("sip", "udp", ("127.0.0.1", 1), ("127.0.0.1", 2), OPTIONS)
    got = await collector.next()
    exporter.close()
    assert got.payload == OPTIONS
    assert (exporter.sent, exporter.dropped) == (1, 3)
    assert warnings == ["hep.not_encodable"]


async def test_a_full_socket_buffer_drops(collector: Collector) -> None:
    exporter = await started(collector.port)

    class Full:
        def __init__(self) -> None:
            self.sent: list[bytes] = []

        def sendto(self, data: bytes, addr: None = None, /) -> None:
            self.sent.append(data)

        def get_write_buffer_size(self) -> int:
            return MAX_BUFFERED + 1

        def close(self) -> None:
            pass

    full = Full()
    real, exporter._transport = exporter._transport, full
    exporter("sip", "udp", ("127.0.0.1", 1), ("127.0.0.1", 2), OPTIONS)
    assert (exporter.sent, exporter.dropped, full.sent) == (0, 1, [])
    exporter._transport = real
    exporter.close()


async def test_an_unusable_collector_address_leaves_it_dropping(
        monkeypatch: pytest.MonkeyPatch, warnings: list[str]) -> None:
    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "create_datagram_endpoint", refuse)
    exporter = await started(9)
    exporter("sip", "udp", ("127.0.0.1", 1), ("127.0.0.1", 2), OPTIONS)
    assert (exporter.sent, exporter.dropped) == (0, 1)
    assert warnings == ["hep.unavailable"]


async def test_tapping_is_cheap(collector: Collector) -> None:
    """An export costs microseconds (encode + one send); bounded loosely for a loaded box."""
    exporter = await started(collector.port)
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        exporter("sip", "udp", ("127.0.0.11", 5060), ("127.0.0.13", 5060), OPTIONS)
    per_call = (time.perf_counter() - t0) / n
    exporter.close()
    assert exporter.sent + exporter.dropped == n
    assert per_call < 200e-6, f"{per_call * 1e6:.1f} µs per tap"
