"""HSS throughput: MAR/MAA per second over TCP against the SQLite store.

Starts a real ``ims-core hss`` (C auth core), seeds demo subscribers, opens several
Diameter connections from this process (CER/CEA each), and keeps a window of MARs in flight
on each for a fixed time. Then the same with the pure-Python auth twin
(``IMS_CORE_PURE_AUTH=1``), reported as a ratio. Loopback only; bounded in time and count.

    python bench/bench_hss_mar.py [--seconds 5] [--connections 4] [--window 32]
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import tempfile
import time
from pathlib import Path

from procs import cpu_seconds  # bench/ is sys.path[0] when run

from ims_core.diameter import make_request
from ims_core.runtime import run
from ims_lab.plan import DOMAIN
from ims_lab.running import CLIENT_HOST, running_hss

SUBSCRIBERS = 1000
FIRST_IMSI = 1010000000001
# Result-Code (268, M flag, length 12) = 2001 DIAMETER_SUCCESS, as it appears on the wire.
SUCCESS = struct.pack("!IBxHI", 268, 0x40, 12, 2001)
MAX_REQUESTS = 2_000_000  # hard bound whatever the rate


def _mar_templates(count: int) -> list[bytearray]:
    out = []
    for i in range(count):
        imsi = f"{FIRST_IMSI + i:015d}"
        msg = make_request(
            "MAR", origin_host=CLIENT_HOST, origin_realm=DOMAIN, destination_realm=DOMAIN,
            session_id=f"{CLIENT_HOST};bench;{i}",
            avps=[
                ("User-Name", f"{imsi}@{DOMAIN}"),
                ("Public-Identity", f"sip:{imsi}@{DOMAIN}"),
                ("SIP-Number-Auth-Items", 1),
                ("SIP-Auth-Data-Item", {"SIP-Authentication-Scheme": "Digest-AKAv1-MD5"}),
                ("Server-Name", f"sip:scscf.{DOMAIN}:5060"),
            ],
        )
        out.append(bytearray(msg.encode()))
    return out


def _cer() -> bytes:
    msg = make_request(
        "CER", origin_host=CLIENT_HOST, origin_realm=DOMAIN, session_id=False,
        avps=[
            ("Host-IP-Address", "127.0.0.1"), ("Vendor-Id", 10415),
            ("Product-Name", "ims-core-bench"), ("Supported-Vendor-Id", 10415),
            ("Vendor-Specific-Application-Id",
             {"Vendor-Id": 10415, "Auth-Application-Id": 16777216}),
        ],
    )
    msg.hop_by_hop = msg.end_to_end = 1
    return msg.encode()


class Stats:
    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.latencies: list[float] = []
        self.cpu_us = 0.0
        self.client_us = 0.0


class _MarClient(asyncio.Protocol):
    """One Diameter connection keeping ``window`` MARs in flight: each answer read sends
    the next MAR. A protocol (no stream reader, no await per answer) so the load
    generator takes as little of the shared CPU as it can, like SIPp does for SIP."""

    def __init__(self, templates: list[bytearray], offset: int, window: int,
                 stop_at: float, stats: Stats) -> None:
        self.templates, self.idx, self.window = templates, offset, window
        self.stop_at, self.stats = stop_at, stats
        self.hop = 1_000_000 * (offset + 1)
        self.sent: dict[int, float] = {}
        self.total = 0
        self.buf = bytearray()
        self.cea: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        assert self.transport is not None
        self.transport.write(_cer())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed by the HSS"))

    def start(self) -> None:
        out = [self._next() for _ in range(self.window)]
        assert self.transport is not None
        self.transport.write(b"".join(out))

    def _next(self) -> bytes:
        self.hop += 1
        self.total += 1
        t = self.templates[self.idx % len(self.templates)]
        self.idx += 1
        t[12:20] = self.hop.to_bytes(4, "big") * 2
        self.sent[self.hop] = time.perf_counter()
        return bytes(t)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        out: list[bytes] = []
        pos = 0
        while len(buf) - pos >= 20:
            length = int.from_bytes(buf[pos + 1:pos + 4], "big")
            if len(buf) - pos < length:
                break
            msg = bytes(buf[pos:pos + length])
            pos += length
            if not self.cea.done():
                self.cea.set_result(msg)
                continue
            started = self.sent.pop(int.from_bytes(msg[12:16], "big"), None)
            if started is None:
                continue
            now = time.perf_counter()
            self.stats.latencies.append(now - started)
            if SUCCESS in msg:
                self.stats.ok += 1
            else:
                self.stats.failed += 1
            if now < self.stop_at and self.total < MAX_REQUESTS:
                out.append(self._next())
        del buf[:pos]
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
        if self.total and not self.sent and not self.done.done():
            self.done.set_result(None)


async def _connection(host: str, port: int, templates: list[bytearray], offset: int,
                      window: int, stop_at: float, stats: Stats) -> None:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_connection(
        lambda: _MarClient(templates, offset, window, stop_at, stats), host, port)
    try:
        cea = await client.cea
        assert SUCCESS in cea, "CER refused"
        client.start()
        await client.done
    finally:
        transport.close()


async def _load(host: str, port: int, seconds: float, connections: int,
                window: int) -> tuple[float, Stats]:
    templates = _mar_templates(SUBSCRIBERS)
    stats = Stats()
    # warm-up: one short round so the HSS has its caches and threads up
    await asyncio.wait_for(_connection(host, port, templates, 0, window,
                                       time.perf_counter() + 0.5, Stats()), 30)
    start = time.perf_counter()
    stop_at = start + seconds
    await asyncio.wait_for(asyncio.gather(*(
        _connection(host, port, templates, i * 97, window, stop_at, stats)
        for i in range(connections))), seconds + 60)
    return stats.ok / (time.perf_counter() - start), stats




def _run(pure: bool, args: argparse.Namespace) -> tuple[float, Stats]:
    env = {"IMS_CORE_PURE_AUTH": "1" if pure else ""}
    with tempfile.TemporaryDirectory() as tmp, running_hss(
        Path(tmp), seed=SUBSCRIBERS, env=env, workers=args.workers
    ) as hss:
        cpu0, own0 = cpu_seconds(hss.proc.pid), time.process_time()
        rate, stats = run(
            _load(hss.host, hss.port, args.seconds, args.connections, args.window))
        # CPU the HSS spent per answered MAR: robust against other load on the machine.
        stats.cpu_us = (cpu_seconds(hss.proc.pid) - cpu0) * 1e6 / max(1, stats.ok)
        stats.client_us = (time.process_time() - own0) * 1e6 / max(1, stats.ok)
        return rate, stats


def _report(label: str, rate: float, stats: Stats) -> None:
    lat = sorted(stats.latencies)
    pct = {p: lat[min(len(lat) - 1, int(len(lat) * p / 100))] * 1000 for p in (50, 99)}
    print(f"  {label:28} {rate:10,.0f} MAR/s   ok={stats.ok:,} failed={stats.failed} "
          f"p50={pct[50]:.2f} ms p99={pct[99]:.2f} ms  HSS CPU {stats.cpu_us:.0f} us/MAR "
          f"(load generator {stats.client_us:.0f})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--window", type=int, default=32, help="MARs in flight per connection")
    ap.add_argument("--workers", type=int, default=4, help="HSS worker threads")
    args = ap.parse_args()
    print(f"HSS MAR/MAA over TCP, SQLite store, {args.connections} connections x "
          f"{args.window} in flight, {args.seconds:g} s each")
    c_rate, c_stats = _run(False, args)
    _report("C auth core", c_rate, c_stats)
    py_rate, py_stats = _run(True, args)
    _report("pure-Python auth twin", py_rate, py_stats)
    print(f"  ratio C / twin: {c_rate / py_rate:.2f}x")
    target = 15_000  # one process, SQLite store
    verdict = "met" if c_rate >= target else "NOT met"
    print(f"  target >= {target:,} MAR/s with the C core: {verdict}")
    return 0 if c_stats.failed == 0 and py_stats.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
