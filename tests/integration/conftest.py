"""Process-launching fixtures shared by the integration tests (proxy, CSCFs, SIPp).

- `require_tools(...)`: fail with a clear message when sipp/tshark/... are missing,
  or skip when IMS_CORE_SKIP_TOOLS=1.
- `free_port(host)`: a port free for both UDP and TCP on `host` (from `ims_lab.procs`).
- `processes`: starts child processes with their output in files and stops each one it
  started, by PID, at teardown (`ims_lab.procs.Processes`).
- `capture`: dumpcap/tshark on `lo` with a BPF filter, stopped and flushed on request.
- `run_sipp(...)`: one bounded SIPp run; returns exit code and final statistics.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from ims_lab.procs import IMS_CORE, Child, Processes, free_port, wait_listening

__all__ = ["IMS_CORE", "Child", "Processes", "free_port"]

REPO = Path(__file__).resolve().parents[2]


def require_tools(*names: str) -> None:
    """Fail (or skip with IMS_CORE_SKIP_TOOLS=1) when a tool is not on PATH."""
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    message = (f"required tool(s) not installed: {', '.join(missing)} "
               "(run .ci/install-tools, or set IMS_CORE_SKIP_TOOLS=1 to skip)")
    if os.environ.get("IMS_CORE_SKIP_TOOLS") == "1":
        pytest.skip(message)
    pytest.fail(message)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    group = Processes(tmp_path)
    yield group
    group.stop_all()


def wait_for_log(child: Child, text: str, timeout: float = 15.0) -> None:
    """Wait until `text` appears in the child's output (its readiness line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in child.output():
            return
        if child.proc.poll() is not None:
            pytest.fail(f"{child.name} exited with {child.proc.returncode}:\n{child.output()}")
        time.sleep(0.05)
    pytest.fail(f"{child.name} not ready after {timeout}s:\n{child.output()}")


def wait_for_tcp(host: str, port: int, timeout: float = 15.0) -> None:
    """Probe until a TCP listener accepts on host:port."""
    try:
        wait_listening(host, port, timeout=timeout)
    except TimeoutError as exc:
        pytest.fail(str(exc))


def start_proxy(processes: Processes, listen: tuple[str, int], next_hop: tuple[str, int],
                *extra: str, name: str = "proxy") -> Child:
    """`ims-core proxy` as a child process, returned once it is listening."""
    child = processes.start(name, [
        *IMS_CORE, "proxy", "--listen", f"{listen[0]}:{listen[1]}",
        "--next-hop", f"{next_hop[0]}:{next_hop[1]}", *extra,
    ])
    wait_for_log(child, "proxy.listening")
    wait_for_tcp(*listen)
    return child


class Capture:
    """A running packet capture on the loopback interface."""

    def __init__(self, processes: Processes, path: Path, bpf: str) -> None:
        require_tools("dumpcap")
        self.path = path
        self._processes = processes
        self.child = processes.start(
            f"dumpcap-{path.stem}", ["dumpcap", "-i", "lo", "-f", bpf, "-w", str(path)]
        )
        wait_for_log(self.child, "Capturing on", timeout=15.0)

    def stop(self) -> Path:
        time.sleep(0.3)  # let the last packets reach the ring buffer
        self._processes.stop(self.child, signal.SIGINT)
        return self.path


@dataclass
class SippResult:
    returncode: int
    stats: dict[str, str]
    screen: str

    @property
    def successful(self) -> int:
        return int(self.stats.get("SuccessfulCall(C)", "0"))

    @property
    def failed(self) -> int:
        return int(self.stats.get("FailedCall(C)", "-1"))

    @property
    def call_rate(self) -> float:
        return float(self.stats.get("CallRate(C)", "0").replace(",", "."))


def sipp_argv(scenario: str, local: tuple[str, int], transport: str, calls: int,
              *extra: str, remote: tuple[str, int] | None = None) -> list[str]:
    """A bounded SIPp command line: -m calls, -timeout, no stdin, local address."""
    argv = ["sipp", "-sn", scenario, "-i", local[0], "-p", str(local[1]), "-t", transport,
            "-m", str(calls), "-nostdin", *extra]
    if remote is not None:
        argv.insert(3, f"{remote[0]}:{remote[1]}")
    return argv


def read_sipp_stats(path: Path) -> dict[str, str]:
    """The last row of a SIPp -trace_stat CSV file (';'-separated)."""
    if not path.exists():
        return {}
    rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def run_sipp(workdir: Path, name: str, argv: Sequence[str], timeout: float) -> SippResult:
    """Run SIPp in the foreground with a hard subprocess timeout; statistics from
    -trace_stat (the final row) and the final screen from stdout."""
    require_tools("sipp")
    stat = workdir / f"{name}_stat.csv"
    out = workdir / f"{name}.out"
    full = [*argv, "-trace_stat", "-stf", str(stat), "-fd", "1"]
    with out.open("wb") as fh:
        proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=fh,
                                stderr=subprocess.STDOUT, cwd=workdir)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            pytest.fail(f"{name}: SIPp did not finish within {timeout}s:\n"
                        f"{out.read_text(errors='replace')[-3000:]}")
    return SippResult(code, read_sipp_stats(stat), out.read_text(errors="replace"))


def tshark(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run tshark with a timeout; its stderr banner about root is ignored by callers."""
    require_tools("tshark")
    return subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
