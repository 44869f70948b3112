"""A hostile soak: valid SIPp IMS-AKA registrations through the four-node lab with, mixed
in, about 10 % malformed SIP (garbage, truncated, oversized, bad headers; over UDP and
TCP, to the P-CSCF) and malformed Diameter (to the HSS: bad versions and lengths, bad
AVPs, garbage) for ``--seconds`` (default 600). Each node's RSS is sampled every
``--every`` seconds and printed as a table with the hostile traffic sent so far.

Exits 1 when a node died, a node's RSS grew more than 10 % from its first sample after
the warm-up (``--warmup``; by default the first pass over the subscribers, which fills
the registration stores, plus one sample, at most half the run) to the end, or fewer
than 99 % of the valid registrations succeeded. Bounded: SIPp, the sender threads and
the lab stop at the end of the run.

    python bench/soak_hostile.py [--seconds 600] [--rate 50] [--every 10] [--warmup S]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench_registration import LAB, NODES, lab, run_step  # bench/ is sys.path[0] when run
from bench_soak import rss_kib
from sipp_steps import have_sipp

from ims_lab.plan import DOMAIN, SIP_PORT

GROWTH = 0.10  # RSS may grow at most 10 % after the warm-up
SUCCESS = 0.99
HOSTILE_HOST = "127.0.0.38"  # next to the registration benchmark's lab (127.0.0.31-37)


@dataclass
class Hostile:
    """What the hostile senders did, by kind."""

    sent: dict[str, int] = field(default_factory=dict)
    answered: int = 0  # SIP responses seen for malformed UDP requests (400 and such)

    def count(self, kind: str) -> None:
        self.sent[kind] = self.sent.get(kind, 0) + 1

    def total(self) -> int:
        return sum(self.sent.values())


def register(rng: random.Random) -> bytes:
    """A well-formed initial REGISTER, the seed the malformed ones are made of."""
    user = f"00101{rng.randrange(10**10):010d}"
    tag = rng.getrandbits(48)
    return (f"REGISTER sip:{DOMAIN} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOSTILE_HOST}:5099;rport;branch=z9hG4bK{tag:x}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{user}@{DOMAIN}>;tag={tag:x}\r\n"
            f"To: <sip:{user}@{DOMAIN}>\r\nCall-ID: {tag:x}@hostile\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:{user}@{HOSTILE_HOST}:5099>\r\nExpires: 600\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def bad_header(rng: random.Random) -> bytes:
    lines = register(rng).split(b"\r\n")
    broken = rng.choice([
        b"Via: SIP/2.0/UDP", b"CSeq: abc REGISTER", b"CSeq: 1 INVITE", b"Content-Length: -5",
        b"Content-Length: 99999", b"Max-Forwards: -1", b"From: <sip:@>;tag=", b"To: \xff\xfe",
        b"Call-ID:", b"NoColonHere", b"Contact: <sip:" + b"a" * 3000 + b">",
        b" continuation without a header",
    ])
    lines[rng.randrange(1, len(lines) - 2)] = broken
    return b"\r\n".join(lines)


SIP_KINDS: dict[str, Callable[[random.Random], bytes]] = {
    "garbage": lambda rng: rng.randbytes(rng.randrange(1, 1400)),
    "truncated": lambda rng: (r := register(rng))[:rng.randrange(1, len(r) - 4)],
    "oversized": lambda rng: register(rng).replace(
        b"Content-Length: 0\r\n\r\n", b"X-Pad: " + b"x" * 60000 + b"\r\nContent-Length: 0\r\n\r\n"),
    "bad-header": bad_header,
    "bad-start-line": lambda rng: register(rng).replace(b" SIP/2.0\r\n", b" SIP/9.9\r\n", 1),
}


def diameter(code: int, avps: bytes, *, version: int = 1, length: int | None = None) -> bytes:
    """A Diameter request header (RFC 6733 §3) over ``avps``, its length as given."""
    size = 20 + len(avps) if length is None else length
    return (struct.pack("!B", version) + size.to_bytes(3, "big") + b"\x80"
            + code.to_bytes(3, "big") + struct.pack("!III", 0, 1, 1) + avps)


def avp(code: int, data: bytes, *, length: int | None = None) -> bytes:
    size = 8 + len(data) if length is None else length
    pad = b"\0" * (-len(data) % 4)
    return struct.pack("!IB", code, 0x40) + size.to_bytes(3, "big") + data + pad


DIAMETER_KINDS: dict[str, Callable[[random.Random], bytes]] = {
    "dia-garbage": lambda rng: rng.randbytes(rng.randrange(1, 400)),
    "dia-version": lambda rng: diameter(257, avp(264, b"x.example"), version=2),
    "dia-short": lambda rng: diameter(257, b"", length=12),
    "dia-huge": lambda rng: diameter(257, avp(264, b"x.example"), length=0xFFFFFF),
    "dia-avp-short": lambda rng: diameter(257, avp(264, b"x.example", length=3)),
    "dia-avp-long": lambda rng: diameter(257, avp(264, b"x.example", length=4000)),
    "dia-truncated": lambda rng: diameter(257, avp(264, b"x.example") * 4)[:30],
}


def hostile_sip(rate: float, stop: threading.Event, out: Hostile, seed: int) -> None:
    """Malformed SIP at ``rate`` per second: UDP mostly, every tenth one over TCP."""
    rng = random.Random(seed)
    target = (LAB.pcscf, SIP_PORT)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((HOSTILE_HOST, 0))
        udp.setblocking(False)
        n = 0
        while not stop.wait(1.0 / rate):
            kind = rng.choice(list(SIP_KINDS))
            data = SIP_KINDS[kind](rng)
            n += 1
            try:
                if n % 10 == 0:
                    with socket.create_connection(target, timeout=1.0,
                                                  source_address=(HOSTILE_HOST, 0)) as tcp:
                        tcp.sendall(data)
                    out.count(f"{kind}/tcp")
                else:
                    udp.sendto(data[:65000], target)
                    out.count(kind)
            except OSError:
                out.count("send-error")
            while True:
                try:
                    if udp.recv(65535).startswith(b"SIP/2.0 "):
                        out.answered += 1
                except OSError:
                    break


def hostile_diameter(rate: float, stop: threading.Event, out: Hostile, seed: int) -> None:
    """Malformed Diameter at ``rate`` connections per second, each read briefly, closed."""
    rng = random.Random(seed)
    while not stop.wait(1.0 / rate):
        kind = rng.choice(list(DIAMETER_KINDS))
        try:
            with socket.create_connection((LAB.hss, LAB.diameter_port), timeout=1.0,
                                          source_address=(HOSTILE_HOST, 0)) as conn:
                conn.sendall(DIAMETER_KINDS[kind](rng))
                conn.settimeout(0.3)
                with contextlib.suppress(OSError):
                    conn.recv(4096)
            out.count(kind)
        except OSError:
            out.count("dia-connect-error")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return Path(f"/proc/{pid}/status").exists() and "State:\tZ" not in Path(
        f"/proc/{pid}/status").read_text()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--rate", type=int, default=50, help="valid registrations per second")
    ap.add_argument("--every", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=None)
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    warmup = (min(args.subscribers / args.rate + args.every, args.seconds / 2)
              if args.warmup is None else args.warmup)
    if not have_sipp("soak_hostile"):
        return 1
    # Two REGISTERs per registration: a tenth of that is malformed SIP; Diameter 1/s.
    sip_rate, dia_rate = max(1.0, 0.2 * args.rate), 1.0
    print(f"valid: SIPp IMS-AKA registrations at {args.rate}/s for {args.seconds:g} s; "
          f"hostile: {sip_rate:g} malformed SIP/s to the P-CSCF, {dia_rate:g} malformed "
          f"Diameter connections/s to the HSS; RSS every {args.every:g} s")
    hostile = Hostile()
    rows: list[tuple[float, dict[str, int], int, list[str]]] = []
    stop = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while True:
            dead = [n for n, pid in NODES.items() if not alive(pid)]
            rows.append((time.monotonic() - start, {n: rss_kib(p) for n, p in NODES.items()},
                         hostile.total(), dead))
            t = rows[-1]
            print(f"  {t[0]:6.0f} s  " + "  ".join(f"{n} {v / 1024:6.1f} MiB"
                                                    for n, v in t[1].items())
                  + f"  hostile {t[2]:6d}" + (f"  DEAD: {','.join(dead)}" if dead else ""),
                  flush=True)
            if stop.wait(args.every):
                return

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with lab(tmp, args.subscribers) as users:
            threads = [threading.Thread(target=f, daemon=True) for f in (
                sample,
                lambda: hostile_sip(sip_rate, stop, hostile, args.seed),
                lambda: hostile_diameter(dia_rate, stop, hostile, args.seed + 1))]
            for t in threads:
                t.start()
            try:
                step = run_step(tmp, (LAB.pcscf, SIP_PORT), users, args.rate, args.seconds,
                                "u1", "soak_hostile", max_p99_ms=1e9)
            finally:
                stop.set()
                for t in threads:
                    t.join(10)
            rows.append((rows[-1][0] if rows else 0.0,
                         {n: rss_kib(p) for n, p in NODES.items()}, hostile.total(),
                         [n for n, pid in NODES.items() if not alive(pid)]))
    return verdict(rows, step.ok, step.calls, step.failed, hostile, warmup)


def verdict(rows: list[tuple[float, dict[str, int], int, list[str]]], ok: int, calls: int,
            failed: int, hostile: Hostile, warmup: float) -> int:
    good = True
    dead = sorted({n for r in rows for n in r[3]})
    if dead:
        print(f"  DIED: {', '.join(dead)}")
        good = False
    warm = [r for r in rows if r[0] >= warmup] or rows[-1:]
    print(f"  {'node':6} {'RSS at warm-up':>15} {'at end':>10} {'growth':>8}")
    for node, base in warm[0][1].items():
        end = rows[-1][1].get(node, 0)
        growth = (end - base) / base if base else float("inf")
        flag = "" if growth <= GROWTH else "  GREW"
        good &= growth <= GROWTH
        print(f"  {node:6} {base / 1024:11.1f} MiB {end / 1024:6.1f} MiB {100 * growth:+7.1f} %"
              f"{flag}")
    rate = ok / calls if calls else 0.0
    good &= rate >= SUCCESS
    print(f"  valid registrations: {ok}/{calls} ok ({100 * rate:.2f} %), {failed} failed")
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(hostile.sent.items()))
    print(f"  hostile sent: {hostile.total()} ({kinds}); "
          f"SIP answers to malformed UDP: {hostile.answered}")
    print(f"  verdict: {'OK' if good else 'FAILED'}")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
