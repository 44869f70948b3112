"""Registrations with a reg-event subscription: the highest SIPp rate at which every UE
registers with IMS-AKA AND subscribes to its own reg event (config/sipp/subscribe_reg.xml:
REGISTER/401/REGISTER/200, SUBSCRIBE/200, the full-state NOTIFY answered) with no failure,
against the same ramp of plain registrations (config/sipp/register_aka.xml) in the same
run, as a ratio. Each ramp gets a fresh four-node lab (so every first registration is
an initial one, and the P-CSCF subscribes to each as TS 24.229 §5.2.3 asks). A step
passes as in bench_registration.py (all 200s, >= 95 % of the rate, p99 < 500 ms); CPU
µs per registration per node come from /proc.

    python bench/bench_regevent.py [--transport u1|t1] [--step-seconds 5]
                                   [--rates 100,150,...] [--subscribers 10000]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench_registration import LAB, SCENARIO, TIMED, lab, registration_ramp
from sipp_steps import SCENARIOS, Step, have_sipp, ramp_arguments

from ims_lab.plan import SIP_PORT

SUBSCRIBING = SCENARIOS / "subscribe_reg.xml"
SUB_TIMED = (*TIMED, ("rsub", "SUBSCRIBE->200"))
DEFAULT_RATES = (100, 150, 200, 250, 300, 350, 400, 500)


def cpu_ms(step: Step) -> float:
    return 1e3 * sum(step.cpu.values()) / step.ok if step.ok else float("nan")


def main() -> int:
    ap = ramp_arguments(__doc__.splitlines()[0], transport="u1", step_seconds=5.0,
                        rates=DEFAULT_RATES)
    ap.add_argument("--subscribers", type=int, default=10000)
    args = ap.parse_args()
    if not have_sipp("reg-event"):
        return 1
    results: dict[str, Step | None] = {}
    for name, scenario, timed in (("plain", SCENARIO, TIMED),
                                  ("subscribe", SUBSCRIBING, SUB_TIMED)):
        with tempfile.TemporaryDirectory() as d, lab(Path(d), args.subscribers) as users:
            print(f"{name}: {scenario.name} over {args.transport}, "
                  f"{args.step_seconds:g} s per step, fresh lab")
            results[name] = registration_ramp(name, Path(d), (LAB.pcscf, SIP_PORT), users,
                                              args.rates, args.step_seconds, args.transport,
                                              scenario, timed)
    plain, sub = results["plain"], results["subscribe"]
    print()
    if plain is None or sub is None:
        print("  a ramp had no passing step: no ratio")
        return 1
    print(f"  plain registrations: {plain.rate} reg/s ({plain.summary()})")
    print(f"  registrations + reg subscription: {sub.rate} reg/s ({sub.summary()})")
    print(f"  ratio subscribing / plain: {sub.rate / plain.rate:.2f} (rate), "
          f"CPU per registration {cpu_ms(sub):.2f} / {cpu_ms(plain):.2f} ms = "
          f"{cpu_ms(sub) / cpu_ms(plain):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
