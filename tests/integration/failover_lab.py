"""A four-node lab on loopback whose configs a test adjusts before the nodes start
(failover and graceful-stop tests): node configs from an address plan, changed by the
caller, written, the HSS seeded, the nodes started in order and stopped by PID."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hss.config import HssConfig
from ims_core.icscf import IcscfConfig
from ims_core.pcscf.config import PcscfConfig
from ims_core.scscf.config import ScscfConfig
from ims_lab.addresses import NODES, SIP_PORT, Addresses
from ims_lab.plan import hss_config, icscf_config, imsi, pcscf_config, scscf_config
from ims_lab.procs import IMS_CORE, Child, Processes, wait_listening
from ims_lab.seed import seed_demo
from ims_lab.tomlwrite import write_toml

Configs = dict[str, HssConfig | ScscfConfig | IcscfConfig | PcscfConfig]


def lab_configs(plan: Addresses, workdir: Path) -> Configs:
    """The plan's four configs (logs at info: the tests read them)."""
    return {
        "hss": hss_config(plan, workdir, log_level="info"),
        "scscf": scscf_config(plan),
        "icscf": icscf_config(plan),
        "pcscf": pcscf_config(plan, subscribe=False),
    }


def start_nodes(procs: Processes, plan: Addresses, workdir: Path, configs: Configs,
                subscribers: int, skip: Callable[[str], bool] = lambda _: False
                ) -> dict[str, Child]:
    """Write *configs*, seed the HSS and start the nodes (each once listening)."""
    hss = configs["hss"]
    assert isinstance(hss, HssConfig)
    seed_demo(hss, subscribers)
    children: dict[str, Child] = {}
    for node in NODES:
        if skip(node):
            continue
        path = write_toml(workdir / f"{node}.toml", configs[node])
        child = procs.start(node, [*IMS_CORE, node, "-c", str(path)])
        children[node] = child
        try:
            wait_listening(*plan.probe(node), timeout=20, proc=child.proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{node}: {exc}\n{child.output()[-3000:]}") from None
    return children


def ue_argv(plan: Addresses, n: int, local: str, *args: str) -> list[str]:
    """Our UE registering demo subscriber *n* through the plan's P-CSCF (JSON outcome)."""
    return [*IMS_CORE, "ue", "register", "--pcscf", f"{plan.pcscf}:{SIP_PORT}", "--local",
            local, "--imsi", imsi(n), "--expires", "600", "--json", *args]


def outcome(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return dict(json.loads(lines[-1])) if lines else {}


def run_ue(plan: Addresses, n: int, local: str, cwd: Path, *args: str,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ue_argv(plan, n, local, *args), capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, check=False)
