"""The nodes' collector settings (`ims_core.runtime.tune_gc`), checked in a fresh
interpreter so this test process keeps its own."""

from __future__ import annotations

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
