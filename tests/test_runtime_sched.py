"""The nodes' scheduling policy (`ims_core.runtime.tune_scheduler`), checked in a fresh
interpreter so this test process keeps its own; and that a started node runs under it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ims_core.runtime import SCHED_ENV

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux only")

PROBE = ("import os; from ims_core.runtime import tune_scheduler; said = tune_scheduler(); "
         "print(said, os.sched_getscheduler(0))")


def probe(value: str | None) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != SCHED_ENV}
    if value is not None:
        env[SCHED_ENV] = value
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    said, policy = out.stdout.split()
    return said, int(policy)


def test_nodes_run_under_sched_batch_by_default() -> None:
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # what the probe starts from
    assert probe(None) == ("batch", os.SCHED_BATCH)
    assert probe("batch") == ("batch", os.SCHED_BATCH)


@pytest.mark.parametrize("value", ["normal", " Normal "])
def test_normal_keeps_the_default_policy(value: str) -> None:
    assert probe(value) == ("normal", os.SCHED_OTHER)


def test_a_running_node_is_under_sched_batch() -> None:
    """runtime.run, which every node command (the CSCFs, the HSS, its API, `ims-core
    proxy`) serves under: the policy holds while the loop runs."""
    env = {k: v for k, v in os.environ.items() if k != SCHED_ENV}
    code = ("import asyncio, os\nfrom ims_core import runtime\n"
            "async def main() -> int:\n    await asyncio.sleep(0)\n"
            "    return os.sched_getscheduler(0)\n"
            "print(runtime.run(main()))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    assert int(out.stdout) == os.SCHED_BATCH
