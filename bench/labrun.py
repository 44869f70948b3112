"""The four-node lab for the end-to-end benchmarks: seeded demo subscribers, HSS, S-CSCF,
I-CSCF and P-CSCF as child processes (warnings only in their logs), stopped by PID.
Callers put the repository root on sys.path first (tests.ims.labconfig lives there)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from procs import stop, wait_listening

from tests.ims.labconfig import DIAMETER_PORT, SIP_PORT, Addresses, node_configs

IMS_CORE = [sys.executable, "-m", "ims_core.cli"]


@contextlib.contextmanager
def running_lab(tmp: Path, lab: Addresses, subscribers: int,
                pids: dict[str, int]) -> Iterator[str]:
    """Seed `subscribers` demo subscribers, start the four nodes (their PIDs go into
    `pids` while they run) and yield `ims-core subscriber sipp-csv` for them."""
    cfg = node_configs(tmp, lab, log_level="warning", min_expires=60)
    hss_cfg = str(cfg["hss"])
    seeded = subprocess.run([*IMS_CORE, "subscriber", "-c", hss_cfg, "seed", "--count",
                             str(subscribers)], capture_output=True, text=True, timeout=300,
                            check=False)
    if seeded.returncode != 0:
        raise RuntimeError(f"seeding failed: {seeded.stdout}{seeded.stderr}")
    csv_text = subprocess.run([*IMS_CORE, "subscriber", "-c", hss_cfg, "sipp-csv", "--count",
                               str(subscribers)], check=True, capture_output=True, text=True,
                              timeout=120).stdout
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for node, host, port in (("hss", lab.hss, DIAMETER_PORT), ("scscf", lab.scscf, SIP_PORT),
                                 ("icscf", lab.icscf, SIP_PORT), ("pcscf", lab.pcscf, SIP_PORT)):
            with (tmp / f"{node}.log").open("wb") as log:
                procs.append(subprocess.Popen([*IMS_CORE, node, "-c", str(cfg[node])],
                                              stdout=log, stderr=subprocess.STDOUT, cwd=tmp))
            pids[node] = procs[-1].pid
            wait_listening(host, port, procs[-1], 20)
        time.sleep(1.0)  # the CSCFs' Diameter connections to the HSS
        yield csv_text
    finally:
        pids.clear()
        for proc in reversed(procs):
            stop(proc)
