"""IMS calls: the highest call rate (calls per second) the four-process lab (P-CSCF,
I-CSCF, S-CSCF, HSS on loopback) sustains with no failed call, the INVITE→180 response-time
percentiles, and a baseline from the same run: the same SIPp caller against the same SIPp
callee directly (no IMS core), i.e. what the load generator and loopback alone sustain,
as a ratio.

Every call is INVITE/100/180/200/ACK/(hold)/BYE/200 between two demo subscribers
registered with IMS-AKA (config/sipp/uac_aka.xml calling config/sipp/uas_aka.xml +
uas_calls.xml), routed P-CSCF → S-CSCF → I-CSCF (LIR) → S-CSCF → P-CSCF. The callee is
one SIPp process registered once for the whole run; each step is one bounded caller run
(its first "call" re-registers the caller, then rate x seconds calls). A step passes when
every call succeeded, none failed, SIPp achieved at least 95 % of the target rate and the
INVITE→180 p99 stayed under 500 ms (no growing queue); the ramp stops at the first
failing step. Percentiles come from SIPp -trace_rtt (every call; SIPp's clock ticks in
whole milliseconds). CPU µs/call per node comes from /proc/<pid>/stat around each step.

TCP is the default transport: a call's INVITE grows past 1300 bytes on its way through
five proxy hops, and RFC 3261 §18.1.1 then moves UDP hops to TCP, which a SIPp UE bound
to UDP alone cannot receive (see tests/calls).

    python bench/bench_calls.py [--transport t1|u1] [--step-seconds 5] [--hold 0]
                                [--rates 10,20,...]
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labrun import running_lab  # bench/ is sys.path[0] when run
from sipp_steps import (
    SCENARIOS,
    Step,
    have_sipp,
    print_ratio,
    ramp,
    ramp_arguments,
    run_sipp,
    sipp_server,
)

from ims_lab.plan import (
    DOMAIN,
    SIP_PORT,
    Addresses,
    imsi,
    split_sipp_csv,
)

LAB = Addresses("127.0.0.51", "127.0.0.52", "127.0.0.53", "127.0.0.54")
CALLEE = ("127.0.0.55", 5070)
CALLER = ("127.0.0.56", 5080)
BASELINE_CALLEE = ("127.0.0.57", 5070)
DEFAULT_RATES = (10, 20, 50, 100, 150, 200, 300, 400, 500, 700, 1000)
BASELINE_RATES = (200, 500, 1000, 2000, 3000)
TIMED = (("setup", "INVITE->180"),)  # uac_aka.xml's rtd counter
CPU_TARGET_MS = 4  # all four nodes, per call (INVITE to BYE)
NODES: dict[str, int] = {}  # node name → PID of the running lab's processes


@contextlib.contextmanager
def lab(tmp: Path) -> Iterator[dict[str, Path]]:
    """The four nodes with two demo subscribers; yields one SIPp injection CSV per role."""
    with running_lab(tmp, LAB, 2, NODES) as out:
        files = split_sipp_csv(out, {"callee": range(1, 2), "caller": range(2, 3)})
        csvs = {}
        for role, text in files.items():
            csvs[role] = tmp / f"{role}.csv"
            csvs[role].write_text(text)
        yield csvs


@contextlib.contextmanager
def callee(tmp: Path, users: Path | None, transport: str, seconds: float) -> Iterator[None]:
    """The IMS callee (registers, then serves calls) or, with ``users`` None, the direct
    baseline callee (uas_calls.xml in server mode)."""
    log = tmp / f"callee_{'ims' if users else 'direct'}.log"
    if users is not None:
        argv = ["sipp", f"{LAB.pcscf}:{SIP_PORT}", "-sf", str(SCENARIOS / "uas_aka.xml"),
                "-oocsf", str(SCENARIOS / "uas_calls.xml"), "-inf", str(users),
                "-i", CALLEE[0], "-p", str(CALLEE[1]), "-m", "1",
                "-d", str(int(seconds * 1000)), "-trace_logs", "-log_file", str(log)]
    else:
        argv = ["sipp", "-sf", str(SCENARIOS / "uas_calls.xml"), "-i", BASELINE_CALLEE[0],
                "-p", str(BASELINE_CALLEE[1])]
    with sipp_server([*argv, "-t", transport, "-nostdin", "-timeout", f"{int(seconds) + 10}s",
                      "-max_recv_loops", "10000"], tmp, settle=0 if users else 0.3) as proc:
        deadline = time.monotonic() + 15
        while users is not None and "registered" not in (
                log.read_text(errors="replace") if log.exists() else ""):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the callee did not register")
            time.sleep(0.05)
        yield


def run_step(tmp: Path, target: tuple[str, int], callee_uri: str, route: str, users: Path,
             rate: int, seconds: float, hold_ms: int, transport: str, register: bool,
             tag: str) -> Step:
    """One bounded caller run at ``rate``; statistics and every INVITE→180 time. Its SIPp
    "calls" are the calls plus the caller's registration, if any."""
    calls = max(1, int(rate * seconds))
    step = Step(rate, calls + (1 if register else 0), "call", TIMED, max_p99_ms=100.0)
    work = Path(tempfile.mkdtemp(prefix=f"{tag}_{rate}_", dir=tmp))
    argv = ["sipp", f"{target[0]}:{target[1]}", "-sf", str(SCENARIOS / "uac_aka.xml"),
            "-inf", str(users), "-i", CALLER[0], "-p", str(CALLER[1]), "-t", transport,
            "-m", str(step.calls), "-r", str(rate),
            "-l", str(max(200, rate * (4 + hold_ms // 1000))), "-d", str(hold_ms),
            "-key", "callee", callee_uri, "-key", "route", route, "-key", "flow", "call",
            "-key", "mode", "reg" if register else "noreg"]
    wall = run_sipp(step, argv, work, seconds + hold_ms / 1000, NODES)
    if hold_ms:  # SIPp's cumulative rate counts the last calls' hold time too
        step.achieved = step.ok / max(1e-3, wall - hold_ms / 1000)
    return step


def call_ramp(name: str, rates: tuple[int, ...], **kw: Any) -> Step | None:
    """``run_step`` (``kw``: all but the rate and tag) at each rate, up to the first failure."""
    return ramp(name, rates, "calls/s", lambda rate: run_step(rate=rate, tag=name, **kw))


def main() -> int:
    ap = ramp_arguments(__doc__.splitlines()[0], transport="t1", step_seconds=5.0,
                        rates=DEFAULT_RATES, baseline_rates=BASELINE_RATES)
    ap.add_argument("--hold", type=float, default=0.0, help="call hold time, seconds")
    args = ap.parse_args()
    if not have_sipp("call"):
        return 1
    rates, base_rates = args.rates, args.baseline_rates
    hold_ms = int(args.hold * 1000)
    horizon = (args.step_seconds + args.hold + 60) * max(len(rates), len(base_rates))
    print(f"SIPp IMS-AKA callers/callees, INVITE/180/200/ACK/BYE over {args.transport}, "
          f"hold {args.hold:g} s, {args.step_seconds:g} s per step")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        common = {"tmp": tmp, "seconds": args.step_seconds, "hold_ms": hold_ms,
                  "transport": args.transport}
        with lab(tmp) as csvs, callee(tmp, csvs["callee"], args.transport, horizon):
            best = call_ramp("ims-lab", rates, target=(LAB.pcscf, SIP_PORT),
                             callee_uri=f"sip:{imsi(1)}@{DOMAIN}",
                             route=f"<sip:{LAB.pcscf}:{SIP_PORT};lr>,"
                                   f"<sip:orig@{LAB.scscf}:{SIP_PORT};lr>",
                             users=csvs["caller"], register=True, **common)
        with callee(tmp, None, args.transport, horizon):  # the lab is stopped by now
            direct = f"{BASELINE_CALLEE[0]}:{BASELINE_CALLEE[1]}"
            base = call_ramp("baseline", base_rates, target=BASELINE_CALLEE,
                             callee_uri=f"sip:callee@{direct}", route=f"<sip:{direct};lr>",
                             users=csvs["caller"], register=False, **common)
    print()
    if best is None:
        print("  four-process lab: no step passed")
        return 1
    print(f"  four-process lab: highest call rate with zero failures: {best.rate} calls/s "
          f"({best.summary()})")
    print(f"  CPU per call, all four nodes (target <= {CPU_TARGET_MS} ms): "
          f"{best.cpu_ms():.2f} ms at the highest rate with zero failures ({best.rate} calls/s)")
    if base is not None:
        print_ratio("calls/s", best, base, base_rates[-1], "SIPp caller -> SIPp callee directly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
