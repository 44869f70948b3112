"""IMS registration: the highest SIPp IMS-AKA registration rate the four-process lab
(P-CSCF, I-CSCF, S-CSCF, HSS on loopback) sustains with no failed registration, the
REGISTER→401 and REGISTER→200 response-time percentiles, the same at a fixed 500 reg/s,
and a baseline from the same run: SIPp against a trivial 401/200 responder (SIPp uas),
i.e. what the load generator and loopback alone sustain, as a ratio.

Each step runs SIPp (config/sipp/register_aka.xml, IMS-AKA with per-subscriber keys
from `ims-core subscriber sipp-csv`) for a bounded number of registrations (-m = rate x
seconds) under a wall-clock cap; a step passes when every registration got its 200 OK,
none failed, SIPp achieved at least 95 % of the target rate and both p99 response times
stayed under 500 ms (no growing queue). The ramp stops at the
first failing step. The HSS runs with avoid_res_zero_octet, so the known SIPp RES-0x00
defect cannot cause failures. Percentiles come from SIPp -trace_rtt (every call; SIPp's
clock ticks in whole milliseconds, so small values read 0 or 4 ms). CPU µs/registration
per node comes from /proc/<pid>/stat around each step. The fixed-rate run (default
500 reg/s, 10 s) always runs and says whether it was sustained.

    python bench/bench_registration.py [--transport u1|t1] [--step-seconds 5]
                                       [--rates 100,200,...] [--fixed 500]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from labrun import running_lab  # bench/ is sys.path[0] when run
from procs import cpu_seconds

from ims_lab.plan import (
    DOMAIN,
    SIP_PORT,
    Addresses,
    split_sipp_csv,
)
from ims_lab.procs import stop_process as stop

REPO = Path(__file__).resolve().parent.parent

LAB = Addresses("127.0.0.31", "127.0.0.32", "127.0.0.33", "127.0.0.34")
SIPP = ("127.0.0.36", 5070)
BASELINE_UAS = ("127.0.0.37", 5060)
SCENARIO = REPO / "config" / "sipp" / "register_aka.xml"
DEFAULT_RATES = (100, 150, 200, 250, 300, 350, 400, 500, 600, 800, 1000, 1500, 2000)
BASELINE_RATES = (1000, 2000, 4000, 6000, 8000, 10000)
SUSTAINED = 0.95  # achieved / target rate for a step to count as sustained
MAX_P99_MS = 500.0  # and both p99 response times below this (no growing queue)

# A trivial registrar for the baseline: 401 with a digest challenge, then 200.
UAS_SCENARIO = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="trivial-registrar">
  <recv request="REGISTER"/>
  <send><![CDATA[
SIP/2.0 401 Unauthorized
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
WWW-Authenticate: Digest realm="{DOMAIN}", nonce="{"MTIz" * 11}", algorithm=MD5, qop="auth"
Content-Length: 0

]]></send>
  <recv request="REGISTER"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:ue@{SIPP[0]}:{SIPP[1]}>;expires=600
Content-Length: 0

]]></send>
</scenario>
"""


@dataclass
class Step:
    rate: int
    calls: int
    ok: int = 0
    failed: int = 0
    code: int = -1
    achieved: float = 0.0
    rtt: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # node → CPU seconds in the step

    @property
    def passed(self) -> bool:
        return (self.code == 0 and self.failed == 0 and self.ok == self.calls
                and self.achieved >= SUSTAINED * self.rate
                and all(self.pct(n, .99) < MAX_P99_MS for n in ("r401", "r200")))

    def pct(self, name: str, q: float) -> float:
        values = sorted(self.rtt.get(name, []))
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q * len(values)))]

    def summary(self) -> str:
        text = (f"{self.ok}/{self.calls} ok, {self.failed} failed, "
                f"achieved {self.achieved:.0f}/s")
        for name, label in (("r401", "REG->401"), ("r200", "REG->200")):
            if self.rtt.get(name):
                text += (f"; {label} p50 {self.pct(name, .5):.1f} p90 {self.pct(name, .9):.1f}"
                         f" p99 {self.pct(name, .99):.1f} ms")
        if self.cpu and self.ok:
            per = ", ".join(f"{n} {1e6 * c / self.ok:.0f}" for n, c in self.cpu.items())
            text += f"; CPU µs/registration: {per}"
        return text


NODES: dict[str, int] = {}  # node name → PID of the running lab's processes








@contextlib.contextmanager
def lab(tmp: Path, subscribers: int) -> Iterator[Path]:
    """The four nodes, seeded; yields the SIPp injection CSV."""
    with running_lab(tmp, LAB, subscribers, NODES) as out:
        users = tmp / "users.csv"
        users.write_text(split_sipp_csv(out, {"all": range(1, subscribers + 1)})["all"])
        yield users


@contextlib.contextmanager
def trivial_registrar(tmp: Path, seconds: float) -> Iterator[None]:
    (tmp / "uas.xml").write_text(UAS_SCENARIO)
    proc = subprocess.Popen(["sipp", "-sf", "uas.xml", "-i", BASELINE_UAS[0], "-p",
                             str(BASELINE_UAS[1]), "-t", "u1", "-nostdin", "-timeout",
                             f"{int(seconds)}s"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
    try:
        time.sleep(0.3)
        yield
    finally:
        stop(proc)


def run_step(tmp: Path, target: tuple[str, int], users: Path, rate: int, seconds: float,
             transport: str, tag: str) -> Step:
    """One bounded SIPp run at ``rate``; statistics and every response time."""
    step = Step(rate, max(1, int(rate * seconds)))
    work = Path(tempfile.mkdtemp(prefix=f"{tag}_{rate}_", dir=tmp))
    shutil.copy(SCENARIO, work / "reg.xml")
    stat = work / "stat.csv"
    argv = ["sipp", f"{target[0]}:{target[1]}", "-sf", "reg.xml", "-inf", str(users),
            "-i", SIPP[0], "-p", str(SIPP[1]), "-t", transport, "-m", str(step.calls),
            "-r", str(rate), "-l", str(max(500, rate * 4)), "-nostdin",
            "-timeout", f"{int(seconds) + 30}s", "-timeout_error", "-recv_timeout", "10000",
            "-max_recv_loops", "10000", "-trace_stat", "-stf", str(stat),
            "-trace_rtt", "-rtt_freq", "1"]
    before = {n: cpu_seconds(pid) for n, pid in NODES.items()}
    try:
        proc = subprocess.run(argv, capture_output=True, cwd=work, timeout=seconds + 60,
                              check=False)
        step.code = proc.returncode
    except subprocess.TimeoutExpired:
        step.code = -9
    step.cpu = {n: cpu_seconds(pid) - before[n] for n, pid in NODES.items()}
    rows = list(csv.reader(stat.read_text().splitlines(), delimiter=";")) if stat.exists() else []
    if len(rows) >= 2:
        last = dict(zip(rows[0], rows[-1], strict=False))
        step.ok = int(last.get("SuccessfulCall(C)", "0"))
        step.failed = int(last.get("FailedCall(C)", "0"))
        step.achieved = float(last.get("CallRate(C)", "0").replace(",", ".") or 0)
    for rtt in work.glob("*_rtt.csv"):
        for row in csv.reader(rtt.read_text().splitlines()[1:], delimiter=";"):
            if len(row) >= 3 and row[1]:
                step.rtt.setdefault(row[2].strip(), []).append(float(row[1]))
    return step


def ramp(name: str, tmp: Path, target: tuple[str, int], users: Path, rates: tuple[int, ...],
         seconds: float, transport: str) -> Step | None:
    best: Step | None = None
    for rate in rates:
        step = run_step(tmp, target, users, rate, seconds, transport, name)
        print(f"  {name:9} {rate:5} reg/s  {'pass' if step.passed else 'FAIL'}  "
              f"({step.summary()})", flush=True)
        if not step.passed:
            break
        best = step
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transport", default="u1", choices=["u1", "t1"])
    ap.add_argument("--step-seconds", type=float, default=5.0)
    ap.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)))
    ap.add_argument("--baseline-rates", default=",".join(map(str, BASELINE_RATES)))
    ap.add_argument("--fixed", type=int, default=500, help="fixed-rate run (reg/s)")
    ap.add_argument("--fixed-seconds", type=float, default=10.0)
    ap.add_argument("--subscribers", type=int, default=10000)
    args = ap.parse_args()
    if shutil.which("sipp") is None:
        print("sipp not installed (apt-get install sip-tester): no registration figures")
        return 1
    rates = tuple(int(r) for r in args.rates.split(","))
    base_rates = tuple(int(r) for r in args.baseline_rates.split(","))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"SIPp IMS-AKA REGISTER->401->REGISTER->200 over {args.transport}, "
              f"{args.step_seconds:g} s per step, {args.subscribers} subscribers")
        with lab(tmp, args.subscribers) as users:
            best = ramp("ims-lab", tmp, (LAB.pcscf, SIP_PORT), users, rates,
                        args.step_seconds, args.transport)
            # The fixed rate runs even above the sustained rate: it shows how it fails.
            fixed = run_step(tmp, (LAB.pcscf, SIP_PORT), users, args.fixed,
                             args.fixed_seconds, args.transport, "fixed")
        horizon = args.step_seconds * len(base_rates) + 60 * len(base_rates)
        with trivial_registrar(tmp, horizon):
            base = ramp("baseline", tmp, BASELINE_UAS, users, base_rates, args.step_seconds,
                        "u1")
    print()
    if best is None:
        print("  four-process lab: no step passed")
        return 1
    print(f"  four-process lab: highest rate with zero failures: {best.rate} reg/s "
          f"({best.summary()})")
    print(f"  at a fixed {args.fixed} reg/s for {args.fixed_seconds:g} s: "
          f"{'sustained' if fixed.passed else 'NOT sustained'} ({fixed.summary()})")
    if base is not None:
        print(f"  baseline (SIPp vs a trivial 401/200 SIPp responder): >= {base.rate} reg/s "
              f"({base.summary()})")
        print(f"  ratio lab / baseline: {best.rate / base.rate:.2f}"
              + (" (baseline capped by its top step)" if base.rate == base_rates[-1] else ""))
        r200 = best.rtt.get("r200")
        if r200:
            print(f"  mean REGISTER->200 at the top lab rate: {statistics.mean(r200):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
