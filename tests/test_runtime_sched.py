"""The nodes' scheduling policy (`ims_core.runtime.tune_scheduler`), checked in fresh
interpreters so this test process keeps its own; and the policy each node command asks
for."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ims_core.runtime import SCHED_ENV

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux only")


def probe(code: str, value: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != SCHED_ENV}
    if value is not None:
        env[SCHED_ENV] = value
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    return out.stdout.split()


def tune(batch: bool, value: str | None) -> tuple[str, int]:
    said, policy = probe("import os; from ims_core.runtime import tune_scheduler; "
                         f"print(tune_scheduler({batch}), os.sched_getscheduler(0))", value)
    return said, int(policy)


BATCH = ("batch", getattr(os, "SCHED_BATCH", -1))
NORMAL = ("normal", getattr(os, "SCHED_OTHER", -1))


def test_interior_nodes_run_under_sched_batch_the_edge_does_not() -> None:
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # what the probes start from
    assert tune(True, None) == BATCH
    assert tune(False, None) == NORMAL


@pytest.mark.parametrize(("value", "batch", "expected"), [
    ("normal", True, NORMAL), (" Normal ", True, NORMAL),
    ("batch", False, BATCH), ("BATCH", True, BATCH),
    ("", True, BATCH), ("nonsense", False, NORMAL),  # anything else: the node's choice
])
def test_the_environment_sets_every_node(value: str, batch: bool,
                                         expected: tuple[str, int]) -> None:
    assert tune(batch, value) == expected


@pytest.mark.parametrize(("batch", "expected"), [(True, BATCH), (False, NORMAL)])
def test_the_policy_holds_while_runtime_run_serves(batch: bool,
                                                   expected: tuple[str, int]) -> None:
    code = ("import asyncio, os\nfrom ims_core import runtime\n"
            "async def main() -> int:\n    await asyncio.sleep(0)\n"
            "    return os.sched_getscheduler(0)\n"
            f"print(runtime.run(main(), batch={batch}))\n")
    assert int(probe(code, None)[0]) == expected[1]


def test_each_node_command_asks_for_its_policy() -> None:
    """The CSCF runner asks for SCHED_BATCH for all but the P-CSCF, the HSS for it."""
    code = ("import sys\nfrom unittest import mock\nfrom ims_core import runtime\n"
            "from ims_core.cscf import runner\nfrom hss import server\n"
            "calls = []\n"
            "def fake(main, *, batch=False):\n    main.close(); calls.append(batch); return 0\n"
            "with mock.patch.object(runtime, 'run', fake), "
            "mock.patch.object(runner, 'serve', lambda *a: fake_coro()), "
            "mock.patch.object(server, 'serve', lambda *a: fake_coro()), "
            "mock.patch('ims_core.log.setup'):\n"
            "    for name in ('pcscf', 'icscf', 'scscf'):\n"
            "        runner.run_node(name, None, mock.Mock())\n"
            "    server.run(mock.Mock())\n"
            "print(*calls)\n")
    code = "async def fake_coro():\n    return 0\n" + code
    assert probe(code, None) == ["False", "True", "True", "True"]
