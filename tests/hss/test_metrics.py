"""What the HSS counts: Cx exchanges it answers and sends, store batches and outbox
claims, SQN resynchronisations, RTR/PPR outcomes, the subscriber count; its
``/metrics`` and ``/readyz`` (a real HssServer on 127.0.0.1, port 0)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from hss import sqn as sqnmod
from hss.batch import Batcher
from hss.config import DiameterConfig as HssDiameterConfig
from hss.config import HssConfig
from hss.model import Push, PushKind, PushState
from hss.server import HssServer
from hss.store.base import Store
from hss.store.sqlite import SqliteStore
from ims_core import log
from ims_core.diameter import (
    CxResult,
    DiameterConfig,
    Message,
    decode,
    make_answer,
    make_request,
)
from ims_core.diameter.node import DiameterNode
from ims_core.hep.codec import decode as hep_decode
from ims_core.hep.config import HepConfig
from ims_core.metrics import HssMetrics, Registry
from ims_core.metrics.config import MetricsConfig
from tests.hss.conftest import DOMAIN, resync_authorization, subscriber
from tests.hss.cxutil import IMPI, IMPU, SCSCF, context, result, run
from tests.hss.test_cx_mar import mar as cx_mar
from tests.hss.test_push import IMSI, SCSCF_HOST, Lab, running

HOST = "127.0.0.1"
CLIENT = f"scscf.{DOMAIN}"


def _config(tmp_path: Path, metrics: bool = False) -> HssConfig:
    return HssConfig(
        data_dir=str(tmp_path),
        diameter=HssDiameterConfig(listen_host=HOST, listen_port=0, peers=(CLIENT,)),
        metrics=MetricsConfig(enabled=metrics, host=HOST, port=0),
    )


def _mar(authz: bytes | None = None, impi: str = IMPI) -> Message:
    item: list[tuple[str, Any]] = [("SIP-Authentication-Scheme", "Digest-AKAv1-MD5")]
    if authz is not None:
        item.append(("SIP-Authorization", authz))
    return make_request(
        "MAR", origin_host=CLIENT, origin_realm=DOMAIN, destination_realm=DOMAIN,
        avps=[("User-Name", impi), ("Public-Identity", IMPU), ("SIP-Number-Auth-Items", 1),
              ("SIP-Auth-Data-Item", item), ("Server-Name", SCSCF)],
    )  # fmt: skip


@dataclasses.dataclass
class Hss:
    server: HssServer
    client: DiameterNode
    store: SqliteStore


@pytest.fixture
async def hss(tmp_path: Path) -> AsyncIterator[Hss]:
    store = SqliteStore(tmp_path / "db" / "hss.sqlite")
    store.add([subscriber()])
    server = HssServer(_config(tmp_path, metrics=True), store=store, registry=Registry())
    port = await server.start()
    client = DiameterNode(DiameterConfig(CLIENT, DOMAIN, watchdog_jitter=0))
    await client.connect(HOST, port, timeout=5)
    try:
        yield Hss(server, client, store)
    finally:
        await client.stop()
        await server.stop()
        store.close()


async def _http(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split(" ")[1]), body


async def _until(cond: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not await cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_exchanges_answered_and_store_batches(hss: Hss) -> None:
    """Each MAR sent after the previous answer is one store batch: exact counts."""
    for _ in range(3):
        assert (await hss.client.request(_mar(), timeout=5)).result_code == 2001
    assert (await hss.client.request(_mar(impi=f"nobody@{DOMAIN}"), timeout=5)
            ).experimental_result == (10415, CxResult.ERROR_USER_UNKNOWN)  # fmt: skip
    dm, hm = hss.server.diameter_metrics, hss.server.metrics
    assert dm.requests.values == {
        ("server", "MAR", "base", "2001"): 3,
        ("server", "MAR", "experimental", "5001"): 1,
    }
    assert dm.latency.count("server", "MAR") == 4
    assert hm.store_seconds.count("batch") == 4
    assert hss.client.metrics.requests.value("client", "MAR", "base", "2001") == 3


async def test_batcher_observes_one_batch_per_loop_iteration(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hss.sqlite")
    metrics = HssMetrics.create()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        b = Batcher(pool, store, metrics=metrics)
        got: list[Message | BaseException] = []
        for _ in range(5):  # in one loop iteration
            b.submit(lambda req: make_answer(req, 2001), _mar(), got.append)

        async def answered() -> bool:
            return len(got) == 5

        await _until(answered)
    store.close()
    assert metrics.store_seconds.count("batch") == 1


def test_sqn_resyncs_by_outcome(store: Store) -> None:
    """In the MAR handler: ok, mac_failure (MAC-S), malformed (not RAND ‖ AUTS); a MAR
    without AUTS is no resynchronisation."""
    s = subscriber(sqn=sqnmod.join(3, 3))
    store.add([s])
    metrics = HssMetrics.create()
    ctx = dataclasses.replace(context(store), metrics=metrics)
    authz = resync_authorization(s, b"\x42" * 16, 5000, 11)
    assert result(run(ctx, cx_mar(authz=authz))) == ("base", 2001)
    bad = bytearray(authz)
    bad[16 + 7] ^= 0xFF
    assert result(run(ctx, cx_mar(authz=bytes(bad)))) == ("base", 4001)
    assert result(run(ctx, cx_mar(authz=authz[:20]))) == ("base", 4001)
    assert result(run(ctx, cx_mar())) == ("base", 2001)
    assert metrics.sqn_resyncs.values == {("ok",): 1, ("mac_failure",): 1, ("malformed",): 1}


async def test_sqn_resync_over_the_wire(hss: Hss) -> None:
    s = subscriber()
    authz = resync_authorization(s, b"\x42" * 16, 7000, 1)
    assert (await hss.client.request(_mar(authz), timeout=5)).result_code == 2001
    assert hss.server.metrics.sqn_resyncs.values == {("ok",): 1}


@pytest.fixture
def exchange_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MutableMapping[str, Any]]]:
    monkeypatch.setattr(log, "_exchange_level", "info")
    with capture_logs() as captured:
        yield captured


async def test_one_exchange_line_per_answer(tmp_path: Path,
                                            exchange_lines: list[MutableMapping[str, Any]]
                                            ) -> None:  # fmt: skip
    store = SqliteStore(tmp_path / "hss.sqlite")
    store.add([subscriber()])
    server = HssServer(_config(tmp_path), store=store)
    port = await server.start()
    async with DiameterNode(DiameterConfig(CLIENT, DOMAIN, watchdog_jitter=0)) as client:
        await client.connect(HOST, port, timeout=5)
        req = _mar()
        await client.request(req, timeout=5)
    await server.stop()
    store.close()
    lines = [e for e in exchange_lines if e["event"] == "cx_exchange"]
    assert [e["role"] for e in lines] == ["server", "client"]  # one home: the node's
    at_hss = lines[0]
    assert at_hss["command"] == "MAR" and at_hss["result"] == "2001"
    assert at_hss["peer"] == CLIENT and at_hss["session_id"] == req.session_id
    assert at_hss["user"] == IMPI and at_hss["impu"] == IMPU


def _queue(lab: Lab) -> int:
    return lab.store.queue_push(
        Push(PushKind.RTR, IMSI, IMPI, SCSCF_HOST, reason_code=0), time.time())


async def _finished(lab: Lab, push_id: int) -> Push:
    deadline = time.monotonic() + 5
    while True:
        push = lab.store.get_push(push_id)
        assert push is not None
        if push.state in (PushState.DONE, PushState.FAILED):
            return push
        assert time.monotonic() < deadline, "push not finished in time"
        await asyncio.sleep(0.02)


async def test_push_requests_by_outcome(tmp_path: Path) -> None:
    async with running(tmp_path) as lab:
        await lab.scscf.register()
        assert (await _finished(lab, _queue(lab))).state is PushState.DONE
        await lab.scscf.register()
        lab.scscf.answer = lambda req: make_answer(req, 5012)  # refused: state kept
        assert (await _finished(lab, _queue(lab))).state is PushState.FAILED
        lab.scscf.delay = 1.0  # past the answer timeout
        assert (await _finished(lab, _queue(lab))).state is PushState.FAILED
        hm, dm = lab.server.metrics, lab.server.diameter_metrics
        assert hm.push_requests.values == {("RTR", "done"): 1, ("RTR", "failed"): 2}
        assert {k: v for k, v in dm.requests.values.items() if k[0] == "client"} == {
            ("client", "RTR", "base", "2001"): 1,
            ("client", "RTR", "base", "5012"): 1,
            ("client", "RTR", "timeout", ""): 1,
        }
        assert hm.store_seconds.count("push_claim") >= 3  # one per poll of the outbox


async def test_metrics_endpoint_and_readiness(hss: Hss) -> None:
    await hss.client.request(_mar(), timeout=5)
    port = hss.server.metrics_port
    assert port is not None and port > 0
    status, text = await _http(port, "/metrics")
    assert status == 200
    for line in (
        'ims_cx_requests_total{command="MAR",result="2001",result_kind="base",role="server"}'
        " 1.0",
        f'ims_diameter_peer_open{{peer="{CLIENT}"}} 1.0',
        "ims_hss_subscribers 1.0",
        'ims_hss_store_operation_seconds_count{operation="batch"} 1.0',
        'ims_cx_latency_seconds_count{command="MAR",role="server"} 1.0',
        'ims_node_info{node="hss"',
    ):  # fmt: skip
        assert any(got.startswith(line) for got in text.splitlines()), line
    assert await _http(port, "/healthz") == (200, "ok\n")
    assert await _http(port, "/readyz") == (200, "ready\n")
    # The store goes away: once the next read fails, not ready, and why.
    watch = hss.server.store_watch
    assert watch is not None
    watch.max_age = 0.0
    hss.store.close()
    shutil.rmtree(hss.store.path.parent)

    async def not_ready() -> bool:
        return (await _http(port, "/readyz"))[0] == 503

    await _until(not_ready)
    status, text = await _http(port, "/readyz")
    assert status == 503 and text.startswith("store unreachable: ")
    assert await _http(port, "/healthz") == (200, "ok\n")


async def test_not_ready_until_listening_nor_after_stop(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hss.sqlite")
    server = HssServer(_config(tmp_path), store=store)
    assert server.ready() == ["diameter: not listening"]
    await server.start()
    assert server.ready() == []
    await server.stop()
    assert "diameter: not listening" in server.ready()
    store.close()


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[bytes] = []

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.got.append(data)


async def test_hep_copy_of_every_diameter_message(tmp_path: Path) -> None:
    """``[hep] enabled``: each message the HSS reads or writes, CER to DPA, reaches the
    collector as the payload of one HEP3 packet, byte for byte."""
    loop = asyncio.get_running_loop()
    transport, collector = await loop.create_datagram_endpoint(
        _Collector, local_addr=(HOST, 0))
    hep = HepConfig(enabled=True, host=HOST, port=transport.get_extra_info("sockname")[1])
    store = SqliteStore(tmp_path / "hss.sqlite")
    store.add([subscriber()])
    server = HssServer(dataclasses.replace(_config(tmp_path), hep=hep), store=store)
    port = await server.start()
    to_hss: list[bytes] = []
    from_hss: list[bytes] = []
    client = DiameterNode(DiameterConfig(CLIENT, DOMAIN, watchdog_jitter=0))
    client.tap = lambda p, proto, src, dst, data: (
        to_hss if dst[1] == port else from_hss).append(data)
    await client.connect(HOST, port, timeout=5)
    await client.request(_mar(), timeout=5)
    await client.stop()
    await server.stop()
    store.close()

    async def all_there() -> bool:
        return len(collector.got) >= len(to_hss) + len(from_hss)

    await _until(all_there)
    transport.close()
    packets = [hep_decode(d) for d in collector.got]
    assert [p.payload for p in packets if p.dst == (HOST, port)] == to_hss
    assert [p.payload for p in packets if p.src == (HOST, port)] == from_hss
    assert [decode(d).name for d in to_hss] == ["CER", "MAR", "DPR"]
    assert {p.capture_id for p in packets} == {hep.capture_id}
