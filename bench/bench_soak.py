"""Memory over time: the four-node lab registering at a steady rate (default 300 reg/s,
about 80 % of what it sustains on a 2-core machine) for ten minutes, the RSS of each
node sampled every ``--every`` seconds. Each subscriber re-registers again and again
(SIPp walks the CSV in a loop), so the stores stay full and every message is a new
transaction: memory must stay flat once the first pass has filled the stores.

Prints each node's RSS after the warm-up (the first ``--warmup`` seconds), at the end,
its largest deviation from the warm-up figure in between (target: within ±10 %), and
the registrations' outcome (all 200, p99 REGISTER->200).

    python bench/bench_soak.py [--rate 300] [--seconds 600] [--every 10] [--warmup 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_registration import LAB, NODES, lab, run_step  # bench/ is sys.path[0] when run
from sipp_steps import have_sipp

from ims_lab.plan import SIP_PORT

FLAT = 0.10  # ±10 %


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample(nodes: dict[str, int], every: float, stop: threading.Event,
           out: list[tuple[float, dict[str, int]]]) -> None:
    start = time.monotonic()
    while not stop.is_set():
        out.append((time.monotonic() - start, {n: rss_kib(p) for n, p in nodes.items()}))
        stop.wait(every)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--every", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=60.0)
    ap.add_argument("--subscribers", type=int, default=5000)
    args = ap.parse_args()
    if not have_sipp("soak"):
        return 1
    print(f"SIPp IMS-AKA registrations at {args.rate}/s for {args.seconds:g} s over UDP, "
          f"{args.subscribers} subscribers re-registering in turn; RSS every {args.every:g} s")
    samples: list[tuple[float, dict[str, int]]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with lab(tmp, args.subscribers) as users:
            stop = threading.Event()
            sampler = threading.Thread(target=sample, args=(dict(NODES), args.every, stop,
                                                            samples), daemon=True)
            sampler.start()
            try:
                step = run_step(tmp, (LAB.pcscf, SIP_PORT), users, args.rate, args.seconds,
                                "u1", "soak")
            finally:
                stop.set()
                sampler.join()
    print(f"  registrations: {step.summary()}")
    warm = [s for s in samples if s[0] >= args.warmup]
    if len(warm) < 2:
        print("  too short a run for a memory figure")
        return 1
    flat = True
    for node in warm[0][1]:
        base, end = warm[0][1][node], warm[-1][1][node]
        worst = max((abs(s[1][node] - base) for s in warm), default=0)
        ok = worst <= FLAT * base
        flat &= ok
        print(f"  {node:6} RSS after {warm[0][0]:.0f} s {base / 1024:7.1f} MiB, at "
              f"{warm[-1][0]:.0f} s {end / 1024:7.1f} MiB (x{end / base:.3f}), largest "
              f"deviation {100 * worst / base:4.1f} % -> {'flat' if ok else 'NOT flat'}")
    print(f"  memory {'flat' if flat else 'NOT flat'} (±{100 * FLAT:.0f} %) after the warm-up; "
          f"registrations {'all OK' if step.failed == 0 and step.ok == step.calls else 'FAILED'}")
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
