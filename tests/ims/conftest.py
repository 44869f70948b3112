"""The four-process IMS lab for the end-to-end tests (session scope).

P-CSCF 127.0.0.11, I-CSCF 127.0.0.12, S-CSCF 127.0.0.13 (SIP on 5060, UDP+TCP), HSS
127.0.0.14:3868 — addresses no other test uses. Our UE uses 127.0.0.15, SIPp 127.0.0.16.
The HSS is seeded with demo subscribers and runs with ``avoid_res_zero_octet`` (SIPp).
Each child is started with its PID recorded and stopped by that PID; logs stay in the
session's tmp directory and are quoted in failure messages.

Subscriber ranges (demo IMSIs 001010000000001 + i): 1-200 SIPp over UDP, 201-400 SIPp
over TCP, 401-450 our UE; plus one MD5-only subscriber and one with a third-party
REGISTER iFC towards an AS at 127.0.0.19.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hss.provision import DEMO_OP, demo_k, new_subscriber
from ims_core.userdata import Ifc, Spt
from ims_lab.plan import DIAMETER_PORT, DOMAIN, SIP_PORT, Addresses, imsi, split_sipp_csv
from ims_lab.running import RunningLab, start_lab
from tests.integration.conftest import IMS_CORE, require_tools

__all__ = ["DIAMETER_PORT", "DOMAIN", "SIP_PORT", "imsi"]

P_HOST, I_HOST, S_HOST, HSS_HOST = "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"
UE_HOST, SIPP_HOST = "127.0.0.15", "127.0.0.16"
ADDRESSES = Addresses(P_HOST, I_HOST, S_HOST, HSS_HOST)
SEED = 450
SIPP_UDP = range(1, 201)  # subscriber numbers (see ims_lab.plan.imsi)
SIPP_TCP = range(201, 401)
MD5_IMSI, MD5_PASSWORD = "001010000009001", "softphone-secret"
# A subscriber whose REGISTER-method iFC sends third-party REGISTERs to a SIPp AS.
AS_IMSI, AS_HOST, AS_PORT = "001010000009002", "127.0.0.19", 5060
SCENARIOS = Path(__file__).resolve().parents[2] / "config" / "sipp"


@dataclass
class UeResult:
    code: int
    data: dict[str, object]
    output: str

    @property
    def status(self) -> int:
        status = self.data.get("status", 0)
        return status if isinstance(status, int) else 0

    @classmethod
    def of(cls, proc: subprocess.CompletedProcess[str]) -> UeResult:
        """``ims-core ue … --json``: its outcome is the last line that is a JSON object."""
        objects = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        data: dict[str, object] = json.loads(objects[-1]) if objects else {}
        return cls(proc.returncode, data, proc.stdout + proc.stderr)


@dataclass
class Lab(RunningLab):
    """The running four nodes (workdir, configs, procs, children, logs()) and our UE."""

    ue_host: str = UE_HOST
    _ue_port: int = 15060

    @property
    def addresses(self) -> Addresses:  # another lab (tests/calls) has its own
        return self.plan

    def ims_core(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*IMS_CORE, *args], capture_output=True, text=True,
                              timeout=timeout, cwd=self.workdir, check=False)

    def next_ue_port(self) -> int:
        self._ue_port += 1
        return self._ue_port

    def ue(self, action: str, *args: str, transport: str = "udp",
           local_port: int | None = None, timeout: float = 30.0) -> UeResult:
        """``ims-core ue <action>`` from UE_HOST; parses its --json outcome."""
        port = local_port or self.next_ue_port()
        proc = self.ims_core("ue", action, "--pcscf", f"{self.addresses.pcscf}:{SIP_PORT}",
                             "--transport", transport, "--local", f"{self.ue_host}:{port}",
                             "--json",
                             "--timeout", "8", *args, timeout=timeout)
        return UeResult.of(proc)

    def subscriber(self, imsi_: str) -> str:
        return self.ims_core("subscriber", "-c", str(self.configs["hss"]), "show",
                             imsi_).stdout


def _start_lab(workdir: Path, addresses: Addresses = ADDRESSES, ue_host: str = UE_HOST,
               *, t1: float = 0.5) -> Lab:
    md5 = new_subscriber(imsi=MD5_IMSI, k="00112233445566778899aabbccddeeff",
                         op="00112233445566778899aabbccddeeff", password=MD5_PASSWORD,
                         schemes="md5", domain=addresses.domain)
    with_as = new_subscriber(
        imsi=AS_IMSI, k=demo_k(AS_IMSI), op=DEMO_OP, domain=addresses.domain,
        ifcs=[Ifc(priority=1, server_name=f"sip:{AS_HOST}:{AS_PORT}",
                  spts=(Spt(method="REGISTER"),), service_info="ims-core-test")])
    try:
        running = start_lab(workdir, addresses, subscribers=SEED, extra=[md5, with_as],
                            min_expires=1, t1=t1)
    except RuntimeError as exc:
        pytest.fail(f"the lab did not start: {exc}")
    files = split_sipp_csv(running.sipp_csv, {"sipp_udp.csv": SIPP_UDP,
                                              "sipp_tcp.csv": SIPP_TCP})
    for name, text in files.items():
        (workdir / name).write_text(text)
    lab = Lab(running.workdir, running.plan, running.configs, running.procs,
              running.sipp_csv, running.children, ue_host=ue_host)
    try:
        _wait_until_registering(lab)
    except BaseException:
        lab.procs.stop_all()
        raise
    return lab


def _wait_until_registering(lab: Lab, timeout: float = 20.0) -> None:
    """The Diameter connections come up on their own: retry one registration until the
    chain answers 200 (bounded)."""
    deadline = time.monotonic() + timeout
    last: UeResult | None = None
    while time.monotonic() < deadline:
        last = lab.ue("register", "--imsi", imsi(450), "--expires", "60", timeout=20)
        if last.code == 0:
            return
        time.sleep(0.5)
    pytest.fail(f"the lab never registered a UE: {last.output if last else ''}\n{lab.logs()}")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if os.environ.get("IMS_CORE_SKIP_TOOLS") != "1":
        require_tools("sipp", "tshark", "dumpcap")
    the_lab = _start_lab(tmp_path_factory.mktemp("ims_lab"))
    try:
        yield the_lab
    finally:
        the_lab.procs.stop_all()
