"""A call lab of its own: the four nodes of tests/ims (same configs, same fixtures, by
import) on addresses no other test uses, and SIPp UEs registered with IMS-AKA.

P-CSCF 127.0.0.41, I-CSCF 127.0.0.42, S-CSCF 127.0.0.43, HSS 127.0.0.44:3868. SIPp
callees 127.0.0.45 (UDP) and 127.0.0.47 (TCP), callers 127.0.0.46 (UDP) and 127.0.0.48
(TCP); our UE (``ims-core ue``) 127.0.0.49.

A callee is ONE SIPp process (config/sipp/uas_aka.xml): it registers, then serves the
calls it receives with the out-of-call scenario uas_calls.xml, so terminating requests
reach it over the flow it registered from (TS 24.229 §5.2.6.4 — for TCP, the same
connection). A caller is one SIPp run of uac_aka.xml: call 1 registers, the others call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ims_lab.plan import DOMAIN, SIP_PORT, Addresses, imsi, split_sipp_csv
from tests.ims.conftest import SCENARIOS, Lab, _start_lab
from tests.integration.conftest import (
    Child,
    Processes,
    SippResult,
    require_tools,
    run_sipp,
)

__all__ = ["DOMAIN", "SIP_PORT", "imsi"]

P_HOST, I_HOST, S_HOST, HSS_HOST = "127.0.0.41", "127.0.0.42", "127.0.0.43", "127.0.0.44"
UAS_UDP_HOST, UAC_UDP_HOST, UAS_TCP_HOST, UAC_TCP_HOST = (
    "127.0.0.45", "127.0.0.46", "127.0.0.47", "127.0.0.48")
UE_HOST = "127.0.0.49"
ADDRESSES = Addresses(P_HOST, I_HOST, S_HOST, HSS_HOST)
UAS_PORT = 5070
# Subscriber numbers (ims_lab.plan.imsi): callees, callers, one that registers and
# de-registers (480), one that never registers (403).
CALLEE_UDP, CALLER_UDP, CALLEE_TCP, CALLER_TCP, DEREGISTERED, NEVER = 1, 2, 3, 4, 5, 6
UNKNOWN_IMPU = f"sip:001019999999999@{DOMAIN}"
# The UE's preloaded Route: its P-CSCF and the Service-Route (TS 24.229 §5.1.2A.1.1).
ROUTE = f"<sip:{P_HOST}:{SIP_PORT};lr>,<sip:orig@{S_HOST}:{SIP_PORT};lr>"
HOLD_MS = 170_000  # a callee stays up this long at most (it is stopped at teardown)


def impu(n: int) -> str:
    return f"sip:{imsi(n)}@{DOMAIN}"


@dataclass
class CallLab:
    lab: Lab
    csv: dict[int, Path]  # subscriber number → one-row SIPp injection file
    procs: Processes
    callees: dict[str, Child]
    _runs: int = 0

    @property
    def workdir(self) -> Path:
        return self.lab.workdir

    def logs(self) -> str:
        callees = "\n".join(f"--- {name} ---\n{c.output()[-2000:]}"
                            for name, c in self.callees.items())
        return f"{self.lab.logs(tail=1500)}\n{callees}"

    def call(self, flow: str, callee: str, *, caller: int = CALLER_UDP, transport: str = "u1",
             calls: int = 1, rate: int = 20, mode: str = "reg", timeout: float = 60.0,
             extra: tuple[str, ...] = ()) -> Sipp:
        """One run of uac_aka.xml: registers (call 1, unless mode=noreg), then ``calls``
        calls of ``flow`` to ``callee``; SIPp's statistics and -trace_logs lines."""
        self._runs += 1
        name = f"uac{self._runs}_{flow}"
        host = UAC_TCP_HOST if transport.startswith("t") else UAC_UDP_HOST
        total = calls + (0 if mode == "noreg" else 1)
        argv = [
            "sipp", f"{P_HOST}:{SIP_PORT}", "-sf", str(SCENARIOS / "uac_aka.xml"),
            "-inf", str(self.csv[caller]), "-i", host, "-p", str(5100 + self._runs),
            "-t", transport, "-m", str(total), "-r", str(rate), "-l", "400", "-nostdin",
            "-key", "callee", callee, "-key", "route", ROUTE, "-key", "flow", flow,
            "-key", "mode", mode, "-timeout", f"{int(timeout) - 5}s", "-timeout_error",
            "-recv_timeout", "10000", "-trace_err", "-error_file",
            str(self.workdir / f"{name}_errors.log"), "-trace_logs", "-log_file",
            str(self.workdir / f"{name}_logs.log"), *extra,
        ]
        result = run_sipp(self.workdir, name, argv, timeout=timeout + 10)
        return Sipp(result, total, self.workdir / name, self)


@dataclass
class Sipp:
    result: SippResult
    total: int
    base: Path
    calllab: CallLab

    def log_lines(self) -> list[str]:
        path = Path(f"{self.base}_logs.log")
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def detail(self) -> str:
        errors = Path(f"{self.base}_errors.log")
        err = errors.read_text(errors="replace")[-4000:] if errors.exists() else ""
        return (f"exit {self.result.returncode}, stats successful={self.result.successful} "
                f"failed={self.result.failed} of {self.total}\nSIPp log: "
                f"{self.log_lines()[-20:]}\nSIPp errors:\n{err}\n"
                f"screen:\n{self.result.screen[-2000:]}\n{self.calllab.logs()}")

    def assert_all_succeeded(self) -> None:
        assert self.result.returncode == 0, self.detail()
        assert self.result.successful == self.total, self.detail()
        assert self.result.failed == 0, self.detail()


def start_callee(procs: Processes, workdir: Path, csv: Path, host: str, transport: str,
                 name: str) -> Child:
    """uas_aka.xml (+ uas_calls.xml out of call) on host:UAS_PORT, returned once it has
    registered (its log says so)."""
    log = workdir / f"{name}_logs.log"
    child = procs.start(name, [
        "sipp", f"{P_HOST}:{SIP_PORT}", "-sf", str(SCENARIOS / "uas_aka.xml"),
        "-oocsf", str(SCENARIOS / "uas_calls.xml"), "-inf", str(csv), "-i", host,
        "-p", str(UAS_PORT), "-t", transport, "-m", "1", "-d", str(HOLD_MS), "-nostdin",
        "-timeout", f"{HOLD_MS // 1000 + 10}s", "-trace_logs", "-log_file", str(log),
        "-trace_err", "-error_file", str(workdir / f"{name}_errors.log"),
        "-trace_msg", "-message_file", str(workdir / f"{name}_messages.log"),
    ])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if log.exists() and "registered" in log.read_text(errors="replace"):
            return child
        if child.proc.poll() is not None:
            break
        time.sleep(0.05)
    errors = workdir / f"{name}_errors.log"
    pytest.fail(f"callee {name} did not register: {child.output()[-2000:]}\n"
                f"{errors.read_text(errors='replace')[-2000:] if errors.exists() else ''}")


@pytest.fixture(scope="session")
def call_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CallLab]:
    if os.environ.get("IMS_CORE_SKIP_TOOLS") != "1":
        require_tools("sipp", "tshark", "dumpcap")
    else:
        require_tools("sipp")
    lab = _start_lab(tmp_path_factory.mktemp("calls_lab"), ADDRESSES, UE_HOST)
    procs = Processes(lab.workdir)
    try:
        out = lab.ims_core("subscriber", "-c", str(lab.configs["hss"]), "sipp-csv",
                           "--count", "10")
        assert out.returncode == 0, out.stderr
        numbers = (CALLEE_UDP, CALLER_UDP, CALLEE_TCP, CALLER_TCP, DEREGISTERED, NEVER)
        texts = split_sipp_csv(out.stdout, {str(n): range(n, n + 1) for n in numbers})
        csv = {}
        for n in numbers:
            csv[n] = lab.workdir / f"sub{n}.csv"
            csv[n].write_text(texts[str(n)])
        callees = {
            "udp": start_callee(procs, lab.workdir, csv[CALLEE_UDP], UAS_UDP_HOST, "u1",
                                "callee_udp"),
            "tcp": start_callee(procs, lab.workdir, csv[CALLEE_TCP], UAS_TCP_HOST, "t1",
                                "callee_tcp"),
        }
        yield CallLab(lab, csv, procs, callees)
    finally:
        procs.stop_all()
        lab.procs.stop_all()
