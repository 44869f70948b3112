"""Overload control: the four-node lab offered twice the registration rate it sustains,
with the CSCFs' [overload] control enabled and then disabled, and what happens after.

1. Capacity: the highest rate of a quick SIPp IMS-AKA registration ramp (bench_registration's
   criteria: every registration OK, p99 < 50 ms), or ``--capacity``.
2. Overload: ``2 x capacity`` reg/s for ``--seconds``: offered registrations, accepted (200),
   shed (503), p99 of the accepted REGISTER->200, timeouts (SIPp retransmission or receive
   timeouts, and registrations still open when SIPp gave up), other failures.
3. Recovery: at once after, ``--recovery-load`` (0.8) x capacity reg/s for
   ``--recovery-seconds``: all 200 but 503s in the first ``RECOVERY_S`` (while the
   overload's backlog drains), none after? The capacity a 3 s ramp step finds is the
   edge (p99 near 50 ms): held there for seconds the lab's latency spikes now and then
   and overload control rightly sheds a few; ``--recovery-load 1`` shows it.

Each of enabled/disabled runs in a fresh lab, and every SIPp run registers subscribers
no run before it in that lab registered: a second REGISTER of a registered identity is
a refresh, which overload control never sheds. A 503 is an unexpected message to
config/sipp/register_aka.xml: SIPp counts a failed call (not a timeout) and, told
``-default_behaviors all,-bye``, sends nothing for it; the 503s are counted in SIPp's
-trace_err log.

    python bench/bench_overload.py [--capacity N] [--seconds 30] [--recovery-seconds 10]
                                   [--rates 100,200,...] [--step-seconds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import re
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import labrun  # bench/ is sys.path[0] when run
from sipp_steps import GOOD_P99_MS, SCENARIOS, Step, have_sipp, ramp, rate_list, run_sipp

import ims_lab.running
from ims_lab.plan import SIP_PORT, Addresses, split_sipp_csv, write_node_configs

LAB = Addresses("127.0.0.61", "127.0.0.62", "127.0.0.63", "127.0.0.64")
SIPP = ("127.0.0.66", 5070)
SCENARIO = SCENARIOS / "register_aka.xml"
TIMED = (("r401", "REG->401"), ("r200", "REG->200"))  # register_aka.xml's rtd counters
QUICK_RATES = (100, 150, 200, 300, 400, 500, 600, 800, 1000)
CSCFS = ("pcscf", "icscf", "scscf")
NODES: dict[str, int] = {}  # node name → PID of the running lab's processes
RECOVERY_S = 1.0  # seconds after the load drops by which the 503s must have stopped
TIMEOUTS = ("FailedMaxUDPRetrans(C)", "FailedTimeoutOnRecv(C)", "FailedTimeoutOnSend(C)")


@dataclass
class Run:
    """One SIPp run and the counters beyond :class:`Step`'s."""

    step: Step
    shed: int = 0  # 503s received
    timeouts: int = 0
    unexpected: int = 0  # failed on an unexpected message (the 503s among them)
    unfinished: int = 0  # still open when SIPp stopped
    failures: dict[str, int] = field(default_factory=dict)  # SIPp's Failed* counters
    unexpected_status: dict[str, int] = field(default_factory=dict)  # status → count
    last_shed: float | None = None  # seconds from SIPp's start to its last 503

    def line(self) -> str:
        s = self.step
        return (f"offered {s.calls} at {s.rate}/s (achieved {s.achieved:.0f}/s), "
                f"accepted {s.ok}, 503 {self.shed}, "
                f"p99 REG->200 {s.pct('r200', .99):.0f} ms, timeouts {self.timeouts}, "
                f"unfinished {self.unfinished}, failed {s.failed} "
                f"({', '.join(f'{k} {v}' for k, v in self.failures.items()) or 'none'}; "
                f"unexpected responses {self.unexpected_status or 'none'})")


class Subscribers:
    """Hands out subscribers no earlier run of the lab registered."""

    def __init__(self, csv_text: str, total: int, work: Path) -> None:
        self.csv_text, self.total, self.work = csv_text, total, work
        self.next = 1

    def take(self, n: int, tag: str) -> Path:
        if self.next + n - 1 > self.total:
            raise SystemExit(f"{tag}: {n} more subscribers needed, {self.total} seeded "
                             "(raise --subscribers)")
        numbers = range(self.next, self.next + n)
        self.next += n
        path = self.work / f"{tag}.csv"
        path.write_text(split_sipp_csv(self.csv_text, {"x": numbers})["x"])
        return path


@contextlib.contextmanager
def overload_enabled(enabled: bool) -> Iterator[None]:
    """Labs started meanwhile have the P-CSCF's ``[overload] enabled`` set so (the I-CSCF's
    and S-CSCF's off, as shipped)."""
    def patched(directory: Path, plan: Addresses, **kw: Any) -> dict[str, Path]:
        paths = write_node_configs(directory, plan, **kw)
        for node in CSCFS:  # the P-CSCF sheds at the edge; interior nodes never do here
            value = "true" if enabled and node == "pcscf" else "false"
            text = paths[node].read_text()
            if "[overload]" in text:
                text = re.sub(r"(?m)(^\[overload\]\n(?:[^\[\n].*\n|\n)*?)enabled = \w+",
                              rf"\g<1>enabled = {value}", text)
            else:
                text += f"\n[overload]\nenabled = {value}\n"
            paths[node].write_text(text)
            assert tomllib.loads(text)["overload"]["enabled"] is (value == "true"), node
        return paths

    with mock.patch.object(ims_lab.running, "write_node_configs", patched):
        yield


def run(tmp: Path, users: Subscribers, rate: int, seconds: float, tag: str) -> Run:
    step = Step(rate, max(1, int(rate * seconds)), "registration", TIMED,
                max_p99_ms=GOOD_P99_MS)
    work = Path(tempfile.mkdtemp(prefix=f"{tag}_{rate}_", dir=tmp))
    shutil.copy(SCENARIO, work / "reg.xml")
    csv_path = users.take(step.calls, f"{tag}_{rate}")
    t0 = time.time()
    run_sipp(step, ["sipp", f"{LAB.pcscf}:{SIP_PORT}", "-sf", "reg.xml", "-inf", str(csv_path),
                    "-i", SIPP[0], "-p", str(SIPP[1]), "-t", "u1", "-m", str(step.calls),
                    "-r", str(rate), "-l", str(max(500, rate * 10)),
                    "-default_behaviors", "all,-bye", "-trace_err"],
             work, seconds, NODES)
    out = Run(step)
    rows = list(csv.reader((work / "stat.csv").read_text().splitlines(), delimiter=";")) \
        if (work / "stat.csv").exists() else []
    if len(rows) >= 2:
        last = dict(zip(rows[0], rows[-1], strict=False))
        out.timeouts = sum(int(last.get(k, "0") or 0) for k in TIMEOUTS)
        out.unexpected = int(last.get("FailedUnexpectedMessage(C)", "0") or 0)
        out.failures = {k[6:-3]: int(v) for k, v in last.items()
                        if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)"
                        and v.isdigit() and int(v)}
        started = int(last.get("OutgoingCall(C)", "0") or 0)
        out.unfinished = max(0, started - step.ok - step.failed)
    # one "<date> <time> <epoch>: Aborting ... received 'SIP/2.0 503 ..." per abort
    for err in work.glob("*_errors.log"):
        for epoch, status in re.findall(r"(\d+\.\d+): Aborting[^\n]*received 'SIP/2\.0 (\d{3}) ",
                                        err.read_text(errors="replace")):
            out.unexpected_status[status] = out.unexpected_status.get(status, 0) + 1
            if status == "503":
                out.last_shed = max(out.last_shed or 0.0, float(epoch) - t0)
    out.shed = out.unexpected_status.get("503", 0)
    return out


def phase(name: str, tmp: Path, subscribers: int, capacity: int | None,
          args: argparse.Namespace) -> tuple[int, Run, Run] | None:
    """A fresh lab: (capacity, overload run, recovery run); None if no ramp step passed."""
    work = tmp / name
    work.mkdir()
    with labrun.running_lab(work, LAB, subscribers, NODES) as csv_text:
        users = Subscribers(csv_text, subscribers, work)
        if capacity is None:
            best = ramp("capacity", args.rates, "reg/s",
                        lambda rate: run(work, users, rate, args.step_seconds, "ramp").step)
            if best is None:
                return None
            capacity = best.rate
        over = run(work, users, 2 * capacity, args.seconds, "overload")
        print(f"  {name:9} overload: {over.line()}", flush=True)
        back = run(work, users, max(1, round(args.recovery_load * capacity)),
                   args.recovery_seconds, "recovery")
        print(f"  {name:9} recovery: {back.line()}", flush=True)
    return capacity, over, back


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capacity", type=int, default=None, help="reg/s; skips the ramp")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--recovery-seconds", type=float, default=10.0)
    ap.add_argument("--recovery-load", type=float, default=0.8,
                    help="the recovery rate, as a fraction of capacity")
    ap.add_argument("--rates", type=rate_list, default=QUICK_RATES)
    ap.add_argument("--step-seconds", type=float, default=3.0)
    ap.add_argument("--subscribers", type=int, default=0,
                    help="seeded per lab (default: enough for the runs at --capacity, "
                         "else at the ramp's top rate)")
    args = ap.parse_args()
    if not have_sipp("overload"):
        return 1
    # Without --capacity, enough for whatever the ramp finds: up to its top rate (a guess
    # below what a fast host sustains left the overload run without subscribers).
    top = args.capacity or max(args.rates)
    need = args.subscribers or int(
        (0 if args.capacity else sum(args.rates) * args.step_seconds)
        + top * (2 * args.seconds + args.recovery_seconds)) + 100
    print(f"SIPp IMS-AKA registrations over UDP, twice the sustained rate for "
          f"{args.seconds:g} s, then {args.recovery_load:g} x the sustained rate for "
          f"{args.recovery_seconds:g} s; "
          f"{need} subscribers per lab")
    results: dict[str, tuple[Run, Run]] = {}
    capacity = args.capacity
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name, enabled in (("enabled", True), ("disabled", False)):
            with overload_enabled(enabled):
                got = phase(name, tmp, need, capacity, args)
            if got is None:
                print("  capacity ramp: no step passed")
                return 1
            capacity, over, back = got
            results[name] = (over, back)
    print()
    print(f"  sustainable rate: {capacity} reg/s; offered {2 * capacity} reg/s")
    for name, (over, back) in results.items():
        # Recovered: nothing but 503s failed, and none came later than RECOVERY_S after
        # the load dropped (the overload's backlog still drains meanwhile).
        only_shed = back.step.failed == back.shed and back.timeouts + back.unfinished == 0
        recovered = only_shed and (back.last_shed or 0.0) <= RECOVERY_S
        goodput = over.step.ok / args.seconds
        print(f"  overload control {name}:")
        print(f"    overload: {over.line()}")
        print(f"    goodput {goodput:.0f} reg/s = {100 * goodput / capacity:.0f} % of capacity "
              f"(target >= 90 %), p99 of accepted REG->200 {over.step.pct('r200', .99):.0f} ms "
              f"(target < 300), timeouts {over.timeouts + over.unfinished} (target 0)")
        late = " (all 200)" if back.last_shed is None else \
            f" (the last 503 {back.last_shed:.1f} s after the load dropped, target <= " \
            f"{RECOVERY_S:g} s)"
        print(f"    recovery: {'recovered' if recovered else 'NOT recovered'}{late}: "
              f"{back.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
