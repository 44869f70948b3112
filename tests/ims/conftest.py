"""The four-process IMS lab for the end-to-end tests (session scope).

P-CSCF 127.0.0.11, I-CSCF 127.0.0.12, S-CSCF 127.0.0.13 (SIP on 5060, UDP+TCP), HSS
127.0.0.14:3868 — addresses no other test uses. Our UE uses 127.0.0.15, SIPp 127.0.0.16.
The HSS is seeded with demo subscribers and runs with ``avoid_res_zero_octet`` (SIPp).
Each child is started with its PID recorded and stopped by that PID; logs stay in the
session's tmp directory and are quoted in failure messages.

Subscriber ranges (demo IMSIs 001010000000001 + i): 1-200 SIPp over UDP, 201-400 SIPp
over TCP, 401-450 our UE; plus one MD5-only subscriber.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import (
    IMS_CORE,
    Child,
    Processes,
    require_tools,
    wait_for_log,
    wait_for_tcp,
)

from .labconfig import (
    DIAMETER_PORT,
    DOMAIN,
    SIP_PORT,
    Addresses,
    imsi,
    node_configs,
    split_sipp_csv,
)

__all__ = ["DIAMETER_PORT", "DOMAIN", "SIP_PORT", "imsi"]

P_HOST, I_HOST, S_HOST, HSS_HOST = "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"
UE_HOST, SIPP_HOST = "127.0.0.15", "127.0.0.16"
ADDRESSES = Addresses(P_HOST, I_HOST, S_HOST, HSS_HOST)
SEED = 450
SIPP_UDP = range(1, 201)  # subscriber numbers (see labconfig.imsi)
SIPP_TCP = range(201, 401)
MD5_IMSI, MD5_PASSWORD = "001010000009001", "softphone-secret"
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


@dataclass
class Lab:
    workdir: Path
    configs: dict[str, Path]
    procs: Processes
    children: dict[str, Child] = field(default_factory=dict)
    _ue_port: int = 15060
    addresses: Addresses = ADDRESSES  # another lab (tests/calls) passes its own
    ue_host: str = UE_HOST

    def logs(self, tail: int = 4000) -> str:
        """The nodes' recent output, for failure messages."""
        return "\n".join(f"--- {name} ---\n{c.output()[-tail:]}"
                         for name, c in self.children.items())

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
        data: dict[str, object] = {}
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith("{"):
                data = json.loads(line)
                break
        return UeResult(proc.returncode, data, proc.stdout + proc.stderr)

    def subscriber(self, imsi_: str) -> str:
        return self.ims_core("subscriber", "-c", str(self.configs["hss"]), "show",
                             imsi_).stdout


def _start_lab(workdir: Path, addresses: Addresses = ADDRESSES, ue_host: str = UE_HOST
               ) -> Lab:
    configs = node_configs(workdir, addresses)
    hss_cfg = str(configs["hss"])
    seed = subprocess.run([*IMS_CORE, "subscriber", "-c", hss_cfg, "seed", "--count",
                           str(SEED)], capture_output=True, text=True, timeout=120, check=False)
    assert seed.returncode == 0, seed.stderr
    md5 = subprocess.run([*IMS_CORE, "subscriber", "-c", hss_cfg, "add", "--imsi", MD5_IMSI,
                          "--k", "00112233445566778899aabbccddeeff", "--op",
                          "00112233445566778899aabbccddeeff", "--password", MD5_PASSWORD,
                          "--schemes", "md5"], capture_output=True, text=True, timeout=60,
                         check=False)
    assert md5.returncode == 0, md5.stderr
    csv = subprocess.run([*IMS_CORE, "subscriber", "-c", hss_cfg, "sipp-csv", "--count",
                          str(SEED)], capture_output=True, text=True, timeout=60, check=False)
    assert csv.returncode == 0, csv.stderr
    files = split_sipp_csv(csv.stdout, {"sipp_udp.csv": SIPP_UDP, "sipp_tcp.csv": SIPP_TCP})
    for name, text in files.items():
        (workdir / name).write_text(text)
    lab = Lab(workdir, configs, Processes(workdir), addresses=addresses, ue_host=ue_host)
    try:
        lab.children["hss"] = lab.procs.start("hss", [*IMS_CORE, "hss", "-c", hss_cfg])
        wait_for_tcp(addresses.hss, DIAMETER_PORT, timeout=20)
        for node, host in (("scscf", addresses.scscf), ("icscf", addresses.icscf),
                           ("pcscf", addresses.pcscf)):
            child = lab.procs.start(node, [*IMS_CORE, node, "-c", str(configs[node])])
            lab.children[node] = child
            wait_for_log(child, f"{node}.listening", timeout=20)
            wait_for_tcp(host, SIP_PORT, timeout=20)
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
