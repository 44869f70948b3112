"""The four-node lab for the end-to-end benchmarks (:func:`ims_lab.running.start_lab`):
warnings only in the nodes' logs, their PIDs published while they run (CPU accounting)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from ims_lab.plan import Addresses
from ims_lab.running import start_lab


@contextlib.contextmanager
def running_lab(tmp: Path, plan: Addresses, subscribers: int,
                pids: dict[str, int], *, pcscf_subscribe: bool = True) -> Iterator[str]:
    """Seed `subscribers` demo subscribers, start the four nodes (their PIDs go into
    `pids` while they run) and yield `ims-core subscriber sipp-csv` for them."""
    lab = start_lab(tmp, plan, subscribers=subscribers, log_level="warning", min_expires=60,
                    timeout=20, pcscf_subscribe=pcscf_subscribe)
    try:
        pids.update(lab.pids)
        time.sleep(1.0)  # the CSCFs' Diameter connections to the HSS
        yield lab.sipp_csv
    finally:
        pids.clear()
        lab.stop()
