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


# -- young collections on a clock (runtime.YoungCollections) -----------------------------
class FakeLoop:
    """call_later recorded, run by hand."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, object]] = []
        self.cancelled = 0

    def call_later(self, delay: float, callback: object) -> FakeLoop.Handle:
        handle = FakeLoop.Handle(self, callback)
        self.pending.append((delay, handle))
        return handle

    def fire(self) -> None:
        _, handle = self.pending.pop(0)
        handle.callback()

    class Handle:
        def __init__(self, loop: FakeLoop, callback: object) -> None:
            self.loop, self.callback = loop, callback

        def cancel(self) -> None:
            self.loop.cancelled += 1


def test_young_collections_come_on_the_clock_while_the_collector_is_on() -> None:
    from ims_core.runtime import YoungCollections

    loop, collected, enabled = FakeLoop(), [], [True]

    def collect(generation: int) -> int:
        collected.append(generation)
        return 0

    young = YoungCollections(loop, 0.1, collect=collect,  # type: ignore[arg-type]
                             enabled=lambda: enabled[0])
    assert [d for d, _ in loop.pending] == [0.1] and collected == []
    loop.fire()
    loop.fire()
    assert collected == [0, 0]  # generation 0 only: the older ones stay frozen
    enabled[0] = False  # gc.disable(): the clock runs on, collecting nothing
    loop.fire()
    assert collected == [0, 0] and len(loop.pending) == 1
    young.stop()
    young.stop()  # twice is harmless
    assert loop.cancelled == 1


RUN = """
import asyncio, gc, json
from ims_core import runtime
young = []
gc.callbacks.append(lambda phase, info: phase == "stop" and info["generation"] == 0
                    and young.append(1))
async def main():
    await asyncio.sleep(0.55)
    return "done"
print(json.dumps([runtime.run(main()), len(young)]))
"""


@pytest.mark.parametrize(("setting", "least", "most"), [
    (None, 3, 12),  # YOUNG_SECONDS = 0.1 over 0.55 s (the threshold alone: none)
    ("0", 0, 0),  # the clock off
    ("-1", 3, 12),  # not a valid interval: the default
    ("inf", 3, 12),
])
def test_a_node_collects_young_objects_on_the_clock(setting: str | None, least: int,
                                                     most: int) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("IMS_CORE_GC_YOUNG_SECONDS", "IMS_CORE_GC_THRESHOLD")}
    if setting is not None:
        env["IMS_CORE_GC_YOUNG_SECONDS"] = setting
    out = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    result, collections = json.loads(out.stdout)
    assert result == "done"
    assert least <= collections <= most
