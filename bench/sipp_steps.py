"""Rate ramps of bounded SIPp runs, shared by the end-to-end benchmarks: one step is one SIPp
run of rate x seconds calls with its statistics (-trace_stat) and every response time
(-trace_rtt); a ramp climbs the rates until the first step that fails."""

from __future__ import annotations

import argparse
import contextlib
import csv
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from procs import cpu_seconds

from ims_lab.procs import stop_process

SCENARIOS = Path(__file__).resolve().parent.parent / "config" / "sipp"
SUSTAINED = 0.95  # achieved / target rate for a step to count as sustained
MAX_P99_MS = 500.0  # and every p99 response time below this (no growing queue)
GOOD_P99_MS = 50.0  # what "sustained" means for registrations: p99 REGISTER->200 under it


@dataclass
class Step:
    """One SIPp run at ``rate``. ``timed`` names the SIPp response-time counters (-rtd /
    rtd= names) whose p99 bounds the step, each with the label the summary gives it."""

    rate: int
    calls: int  # SIPp "calls" in the run
    unit: str  # what one call is, for the CPU figure: "call", "registration"
    timed: tuple[tuple[str, str], ...]
    ok: int = 0
    failed: int = 0
    code: int = -1
    achieved: float = 0.0
    rtt: dict[str, list[float]] = field(default_factory=dict)  # counter → ms, every call
    cpu: dict[str, float] = field(default_factory=dict)  # node → CPU seconds in the step
    max_p99_ms: float = MAX_P99_MS  # the p99 bound of `passed`

    @property
    def passed(self) -> bool:
        return (self.code == 0 and self.failed == 0 and self.ok == self.calls
                and self.achieved >= SUSTAINED * self.rate
                and all(self.pct(name, .99) < self.max_p99_ms for name, _ in self.timed))

    def pct(self, name: str, q: float) -> float:
        values = sorted(self.rtt.get(name, []))
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q * len(values)))]

    def cpu_ms(self) -> float:
        """CPU of every node summed, per completed call (ms); NaN when none completed."""
        return 1e3 * sum(self.cpu.values()) / self.ok if self.cpu and self.ok else float("nan")

    def summary(self) -> str:
        text = (f"{self.ok}/{self.calls} ok, {self.failed} failed, "
                f"achieved {self.achieved:.0f}/s")
        for name, label in self.timed:
            if self.rtt.get(name):
                text += (f"; {label} p50 {self.pct(name, .5):.1f} p90 {self.pct(name, .9):.1f}"
                         f" p99 {self.pct(name, .99):.1f} max {max(self.rtt[name]):.1f} ms")
        if self.cpu and self.ok:
            per = ", ".join(f"{n} {1e6 * c / self.ok:.0f}" for n, c in self.cpu.items())
            text += f"; CPU µs/{self.unit}: {per}"
        return text


def run_sipp(step: Step, argv: list[str], work: Path, duration: float,
             nodes: Mapping[str, int]) -> float:
    """Run SIPp (``argv``: what the step's scenario needs) in ``work`` for a run meant to
    last ``duration`` seconds, bounded by SIPp's -timeout and a wall-clock cap; fills in
    ``step`` (exit code, counters, response times, the CPU seconds each of ``nodes`` — name →
    PID — spent) and returns the run's wall-clock seconds."""
    stat = work / "stat.csv"
    argv = [*argv, "-nostdin", "-timeout", f"{int(duration) + 30}s", "-timeout_error",
            "-recv_timeout", "10000", "-max_recv_loops", "10000", "-trace_stat",
            "-stf", str(stat), "-trace_rtt", "-rtt_freq", "1"]
    before = {n: cpu_seconds(pid) for n, pid in nodes.items()}
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, cwd=work, timeout=duration + 60,
                              check=False)
        step.code = proc.returncode
    except subprocess.TimeoutExpired:
        step.code = -9
    wall = time.monotonic() - started
    step.cpu = {n: cpu_seconds(pid) - before[n] for n, pid in nodes.items()}
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
    return wall


@contextlib.contextmanager
def sipp_server(argv: list[str], cwd: Path, *, settle: float = 0.3
                ) -> Iterator[subprocess.Popen[bytes]]:
    """SIPp (``argv``, output discarded) running in ``cwd`` for the ``with`` block, which
    starts ``settle`` seconds later (time to bind); stopped by its PID after it."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    try:
        time.sleep(settle)
        yield proc
    finally:
        stop_process(proc)


class Outcome(Protocol):
    @property
    def passed(self) -> bool: ...

    def summary(self) -> str: ...


S = TypeVar("S", bound=Outcome)


def ramp(name: str, rates: Iterable[int], unit: str, run: Callable[[int], S]) -> S | None:
    """``run`` each rate in turn, printing each step, up to the first that fails; the last
    step that passed (None if none did)."""
    best: S | None = None
    for rate in rates:
        step = run(rate)
        print(f"  {name:10} {rate:5} {unit}  {'pass' if step.passed else 'FAIL'}  "
              f"({step.summary()})", flush=True)
        if not step.passed:
            break
        best = step
    return best


def ramp_arguments(description: str, *, transport: str, step_seconds: float,
                   rates: Iterable[int], baseline_rates: Iterable[int] | None = None,
                   ) -> argparse.ArgumentParser:
    """The options every ramp benchmark takes; ``--rates`` and ``--baseline-rates`` (the
    ramp of the baseline, if there is one) are comma-separated lists, lowest first."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--transport", default=transport, choices=["u1", "t1"])
    ap.add_argument("--step-seconds", type=float, default=step_seconds)
    ap.add_argument("--rates", type=rate_list, default=tuple(rates))
    if baseline_rates is not None:
        ap.add_argument("--baseline-rates", type=rate_list, default=tuple(baseline_rates))
    return ap


def rate_list(text: str) -> tuple[int, ...]:
    return tuple(int(r) for r in text.split(","))


def have_sipp(figures: str) -> bool:
    """Whether SIPp is installed; says which figures there will be none of if not."""
    if shutil.which("sipp") is None:
        print(f"sipp not installed (apt-get install sip-tester): no {figures} figures")
        return False
    return True


def print_ratio(unit: str, best: Step, base: Step, top: int, baseline: str) -> None:
    """The baseline ramp's result and the lab's ratio to it (``top``: the baseline's highest
    rate, which caps what it can show)."""
    print(f"  baseline ({baseline}): >= {base.rate} {unit} ({base.summary()})")
    print(f"  ratio lab / baseline: {best.rate / base.rate:.2f}"
          + (" (baseline capped by its top step)" if base.rate == top else ""))
