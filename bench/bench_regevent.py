"""Registrations with a reg-event subscription: the highest SIPp rate at which every UE
registers with IMS-AKA AND subscribes to its own reg event (config/sipp/subscribe_reg.xml:
REGISTER/401/REGISTER/200, SUBSCRIBE/200, the full-state NOTIFY answered) with no failure,
against the same ramp of plain registrations (config/sipp/register_aka.xml) in the same
run, as a ratio; and plain registrations with the P-CSCF's own subscription (TS 24.229
§5.2.3, on by default) against the same with it switched off, i.e. what the P-CSCF's
SUBSCRIBE and NOTIFY add to every initial registration. Each ramp gets a fresh
four-node lab (every first registration is an initial one). A step passes as in
bench_registration.py (all 200s, >= 95 % of the rate, p99 < 500 ms); CPU µs per
registration per node come from /proc, compared at the highest rate all ramps passed.

    python bench/bench_regevent.py [--transport u1|t1] [--step-seconds 5]
                                   [--rates 100,150,...] [--subscribers 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench_registration import LAB, SCENARIO, TIMED, lab, run_step
from sipp_steps import SCENARIOS, Step, have_sipp, ramp, ramp_arguments

from ims_lab.plan import SIP_PORT

SUBSCRIBING = SCENARIOS / "subscribe_reg.xml"
SUB_TIMED = (*TIMED, ("rsub", "SUBSCRIBE->200"))
DEFAULT_RATES = (100, 150, 200, 250, 300, 350, 400, 500)


def cpu_ms(step: Step) -> float:
    return 1e3 * sum(step.cpu.values()) / step.ok if step.ok else float("nan")


RUNS = (  # name, scenario, response-time counters, whether the P-CSCF subscribes
    ("no-pcscf-sub", SCENARIO, TIMED, False),
    ("plain", SCENARIO, TIMED, True),
    ("subscribe", SUBSCRIBING, SUB_TIMED, True),
)


def every_step(name: str, tmp: Path, users: Path, scenario: Path,
               timed: tuple[tuple[str, str], ...], args: argparse.Namespace) -> list[Step]:
    """The ramp of one run, keeping every step (CPU is compared at a common rate)."""
    steps: list[Step] = []

    def step(rate: int) -> Step:
        steps.append(run_step(tmp, (LAB.pcscf, SIP_PORT), users, rate, args.step_seconds,
                              args.transport, name, scenario, timed))
        return steps[-1]

    ramp(name, args.rates, "reg/s", step)
    return steps


def main() -> int:
    ap = ramp_arguments(__doc__.splitlines()[0], transport="u1", step_seconds=5.0,
                        rates=DEFAULT_RATES)
    ap.add_argument("--subscribers", type=int, default=10000)
    args = ap.parse_args()
    if not have_sipp("reg-event"):
        return 1
    results: dict[str, list[Step]] = {}
    for name, scenario, timed, pcscf_subscribe in RUNS:
        with tempfile.TemporaryDirectory() as d, lab(
                Path(d), args.subscribers, pcscf_subscribe=pcscf_subscribe) as users:
            print(f"{name}: {scenario.name} over {args.transport}, "
                  f"{args.step_seconds:g} s per step, P-CSCF subscribes: {pcscf_subscribe}")
            results[name] = every_step(name, Path(d), users, scenario, timed, args)
    print()
    best = {n: max((s.rate for s in steps if s.passed), default=0)
            for n, steps in results.items()}
    for name, rate in best.items():
        print(f"  {name:13} highest rate with zero failures: {rate} reg/s")
    common = min(best.values())
    if not common:
        print("  a ramp had no passing step: no ratio")
        return 1
    cpu = {n: next(cpu_ms(s) for s in steps if s.rate == common)
           for n, steps in results.items()}
    print(f"  CPU per registration (all four nodes) at {common} reg/s: "
          + ", ".join(f"{n} {ms:.2f} ms" for n, ms in cpu.items()))
    print(f"  ratio UE subscribing / plain: rate {best['subscribe'] / best['plain']:.2f}, "
          f"CPU {cpu['subscribe'] / cpu['plain']:.2f}")
    print(f"  ratio P-CSCF subscribing / not: rate {best['plain'] / best['no-pcscf-sub']:.2f}, "
          f"CPU {cpu['plain'] / cpu['no-pcscf-sub']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
