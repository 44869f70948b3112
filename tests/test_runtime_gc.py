"""The nodes' collector settings (`ims_core.runtime.tune_gc`), checked in a fresh
interpreter so this test process keeps its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ims_core.runtime import GC_THRESHOLD

PROBE = ("import gc; from ims_core.runtime import tune_gc; before = gc.get_freeze_count(); "
         "tune_gc(); print(*gc.get_threshold(), gc.get_freeze_count() > before)")


def probe(override: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "IMS_CORE_GC_THRESHOLD"}
    if override is not None:
        env["IMS_CORE_GC_THRESHOLD"] = override
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    return out.stdout.split()


def test_nodes_collect_rarely_and_freeze_their_start_up_objects() -> None:
    *threshold, frozen = probe(None)
    assert tuple(map(int, threshold)) == GC_THRESHOLD != (700, 10, 10)
    assert frozen == "True"


@pytest.mark.parametrize(("override", "expected"), [
    ("1000,5,5", (1000, 5, 5)),
    ("not,a,number", GC_THRESHOLD),  # a bad override falls back, the node still starts
])
def test_the_threshold_can_be_overridden(override: str, expected: tuple[int, ...]) -> None:
    *threshold, _ = probe(override)
    assert tuple(map(int, threshold)) == expected


# Objects made after start-up: once they survive a collection they are frozen, and a
# later cycle among them waits for the sweep (SWEEP_SECONDS on the callback's clock) and
# is collected then.
SURVIVORS = """
import gc, json
from ims_core import runtime
clock = [0.0]
runtime.tune_gc()
cb = next(c for c in gc.callbacks if isinstance(c, runtime.FreezeSurvivors))
cb.clock = lambda: clock[0]
cb.swept = 0.0
out = {}
kept = [[i] for i in range(5000)]  # a store filling up
before = gc.get_freeze_count()
gc.collect(0)
out["young_collection_froze"] = gc.get_freeze_count() >= before + 5000
out["nothing_left_to_scan"] = gc.get_count()[0] == 0 and len(gc.get_objects(1)) == 0
class Node:
    pass
a, b = Node(), Node()
a.peer, b.peer = b, a  # a cycle
gc.collect(0)  # survives: frozen
del a, b
out["cycle_left_while_frozen"] = gc.collect(2) == 0
clock[0] = runtime.SWEEP_SECONDS
gc.collect(1)  # the sweep is due: everything thawed
out["thawed"] = gc.get_freeze_count() == 0
out["sweep_freed_cycle"] = gc.collect(1) == 0 and gc.collect(2) >= 2
out["frozen_again"] = gc.get_freeze_count() > 5000
print(json.dumps(out))
"""


def test_survivors_are_frozen_and_swept_on_a_clock() -> None:
    out = subprocess.run([sys.executable, "-c", SURVIVORS], capture_output=True, text=True,
                         check=True, timeout=60)
    result = json.loads(out.stdout)
    assert result == {"young_collection_froze": True, "nothing_left_to_scan": True,
                      "cycle_left_while_frozen": True, "thawed": True,
                      "sweep_freed_cycle": True, "frozen_again": True}
