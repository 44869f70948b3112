"""Memory per registered subscriber at the P-CSCF and the S-CSCF (target: at most 4 KB).

Each node's sans-I/O core is filled in-process, with a fake clock, with `--count`
registrations made by the code a 200 (OK) to a REGISTER runs: at the P-CSCF
`PcscfCore.record_registration` on the REGISTER and its 200 (contacts, Path,
Service-Route, P-Associated-URI; reg-event subscriptions off), at the S-CSCF the
registrar's implicit set, `registrar.apply` on the REGISTER and the store's `save`, with
a profile parsed from the IMSSubscription document the HSS sends. Messages are built
and dropped per registration, as on the wire.

Figures: tracemalloc's current size after a full collection, less the empty core's,
divided by N; and the RSS growth of a run without tracemalloc (its own process).
Then the cyclic collector's longest pause and its total time while the core fills, under
the nodes' settings (`ims_core.runtime.tune_gc`: survivors of the middle generation
frozen) and, as the baseline in the same run, with the same thresholds but nothing frozen
after start-up: a full collection then scans every registration held.

    python bench/bench_memory.py [--count 100000]
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hss.provision import demo_subscribers  # noqa: E402
from hss.userdata import build as build_user_data  # noqa: E402
from ims_core import log  # noqa: E402
from ims_core.config import LogConfig  # noqa: E402
from ims_core.sip import Request, Response, make_response, parse_message  # noqa: E402
from ims_core.sip.addressing import Source  # noqa: E402

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
TARGET = 4096
Fill = Callable[[int], object]


def _parse(text: str) -> Request | Response:
    return parse_message(text.replace("\n", "\r\n").encode())


def _ue(i: int) -> tuple[str, int]:
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 5060 + (i & 7)


def pcscf(count: int) -> tuple[object, Fill]:
    """A PcscfCore and a function recording registration `i` as its 200 does."""
    from ims_core.cscf import SipListen
    from ims_core.pcscf import PcscfConfig, PcscfCore
    from ims_core.pcscf.config import RegEventConfig

    core = PcscfCore(PcscfConfig(
        sip=SipListen(host="192.0.2.10", port=5060),
        home_networks={DOMAIN: "192.0.2.20:5060"},
        regevent=RegEventConfig(subscribe=False),
    ))

    def fill(i: int) -> None:
        host, port = _ue(i)
        impu = f"sip:00101{i:010d}@{DOMAIN}"
        contact = f"sip:00101{i:010d}@{host}:{port}"
        register = _parse(
            f"REGISTER sip:{DOMAIN} SIP/2.0\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{i:x};rport\n"
            f"Max-Forwards: 70\nFrom: <{impu}>;tag=f{i}\nTo: <{impu}>\n"
            f"Call-ID: reg-{i}@{host}\nCSeq: 2 REGISTER\nContact: <{contact}>\n"
            "Expires: 600000\nContent-Length: 0\n\n")
        assert isinstance(register, Request)
        ok = make_response(register, 200, to_tag=f"s{i}")
        ok.headers.add("Contact", f"<{contact}>;expires=600000")
        ok.headers.add("Path", "<sip:term@192.0.2.10:5060;lr>")
        ok.headers.add("Service-Route", "<sip:orig@192.0.2.30:5060;lr>")
        ok.headers.add("P-Associated-URI", f"<{impu}>, <tel:+1555{i:07d}>")
        ok = parse_message(ok.to_bytes())  # as it comes off the wire
        assert isinstance(ok, Response)
        ctx = core.new_context(register, Source("UDP", host, port), None, 1000.0)
        core.record_registration(ctx, ok, 1000.0)

    return core, fill


def scscf(count: int) -> tuple[object, Fill]:
    """An S-CSCF store and a function saving registration `i` as the core's 200 does."""
    from ims_core.identity import impi_from_impu
    from ims_core.scscf import RegistrarSettings, registrar
    from ims_core.scscf.store import MemoryStore, Registration
    from ims_core.sip import parse_uri
    from ims_core.userdata import parse as parse_user_data

    store = MemoryStore()
    settings = RegistrarSettings()
    subs = demo_subscribers(count + 1, DOMAIN)  # one to warm up
    source = Source("UDP", "192.0.2.20", 5060)
    service_route = "<sip:orig@scscf.ims.mnc001.mcc001.3gppnetwork.org:5060;lr>"

    def fill(i: int) -> None:
        sub = next(subs)
        impu = sub.impus[0].impu
        impi = impi_from_impu(parse_uri(impu)) or impu  # user@host, as the core derives it
        host, port = _ue(i)
        register = _parse(
            f"REGISTER sip:{DOMAIN} SIP/2.0\n"
            f"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKi{i:x}\n"
            f"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKp{i:x}\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bKu{i:x};rport\n"
            f"Max-Forwards: 68\nFrom: <{impu}>;tag=f{i}\nTo: <{impu}>\n"
            f"Call-ID: reg-{i}@{host}\nCSeq: 2 REGISTER\n"
            f"Contact: <sip:ue@{host}:{port}>;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service"
            ".ims.icsi.mmtel\"\nPath: <sip:term@192.0.2.10:5060;lr>\nExpires: 600000\n"
            "Content-Length: 0\n\n")
        assert isinstance(register, Request)
        profile = parse_user_data(build_user_data(sub))
        key = registrar.implicit_set(impu, None)[0][0]
        identities, barred = registrar.implicit_set(key, profile)
        record = Registration(key, impi, identities)
        record.barred, record.profile, record.service_route = barred, profile, service_route
        update = registrar.contact_update(register, settings)
        registrar.apply(record, update, register, source, impi, 1000.0)
        store.save(record)

    return store, fill


NODES = {"pcscf": pcscf, "scscf": scscf}


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def pauses(node: str, count: int, freeze: bool) -> None:
    """Fill under the nodes' collector settings; prints `longest-pause-ms total-ms`."""
    from ims_core import runtime

    log.setup(LogConfig(level="warning"))
    holder, fill = NODES[node](count)
    fill(-1 & 0xFFFFFF)
    runtime.tune_gc()
    if not freeze:
        gc.callbacks[:] = [c for c in gc.callbacks if not isinstance(c, runtime.FreezeSurvivors)]
    times: list[float] = []
    started = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            times.append(time.perf_counter() - started[0])

    gc.callbacks.insert(0, timed)
    for i in range(count):
        fill(i)
    gc.callbacks.remove(timed)
    assert len(holder.store if hasattr(holder, "store") else holder) >= count  # type: ignore[attr-defined, arg-type]
    print(f"{1000 * max(times, default=0.0):.1f} {1000 * sum(times):.0f}")


def run(node: str, count: int, trace: bool) -> None:
    """One node, one way of measuring; prints `bytes-per-subscriber seconds`."""
    log.setup(LogConfig(level="warning"))
    holder, fill = NODES[node](count)
    fill(-1 & 0xFFFFFF)  # warm caches (interned names, imports) outside the count
    gc.collect()
    if trace:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0] if trace else rss()
    start = time.perf_counter()
    for i in range(count):
        fill(i)
    elapsed = time.perf_counter() - start
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if trace else rss()
    assert len(holder.store if hasattr(holder, "store") else holder) >= count  # type: ignore[attr-defined, arg-type]
    print(f"{(after - before) / count:.0f} {elapsed:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--node", choices=sorted(NODES))
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--pauses", choices=("frozen", "unfrozen"))
    args = parser.parse_args()
    if args.node and args.pauses:
        pauses(args.node, args.count, args.pauses == "frozen")
        return 0
    if args.node:
        run(args.node, args.count, args.trace)
        return 0
    worst = 0.0
    print(f"{args.count} registered subscribers per node; target <= {TARGET} B each")
    for node in NODES:
        figures = {}
        for trace in (True, False):
            cmd = [sys.executable, __file__, "--node", node, "--count", str(args.count)]
            out = subprocess.run(cmd + (["--trace"] if trace else []), check=True,
                                 capture_output=True, text=True).stdout.split()
            figures[trace] = (float(out[0]), float(out[1]))
        traced, fill_s = figures[True]
        worst = max(worst, traced)
        print(f"{node}: {traced:,.0f} B/subscriber (tracemalloc), "
              f"{figures[False][0]:,.0f} B/subscriber (RSS delta); "
              f"filled in {figures[False][1]:.1f} s untraced, {fill_s:.1f} s traced")
    for node in NODES:
        got = {}
        for mode in ("frozen", "unfrozen"):
            cmd = [sys.executable, __file__, "--node", node, "--count", str(args.count),
                   "--pauses", mode]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
            got[mode] = (float(out[0]), float(out[1]))
        (fmax, ftotal), (umax, utotal) = got["frozen"], got["unfrozen"]
        print(f"{node}: collector while filling, longest pause {fmax:.1f} ms, total "
              f"{ftotal:.0f} ms; baseline (nothing frozen) {umax:.1f} ms, {utotal:.0f} ms; "
              f"ratio {fmax / max(umax, 1e-3):.2f} (longest), "
              f"{ftotal / max(utotal, 1e-3):.2f} (total)")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
