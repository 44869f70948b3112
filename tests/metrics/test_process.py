"""The collector's pauses as a metric: timed from gc.callbacks, exposed per generation."""

from __future__ import annotations

import gc

from prometheus_client.parser import text_string_to_metric_families

from ims_core.metrics import Registry
from ims_core.metrics.exporter import render
from ims_core.metrics.families import Histogram
from ims_core.metrics.process import GC_PAUSE_BUCKETS, GC_PAUSES, GcPauses, watch_gc


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_collection_is_timed_from_its_start_to_its_stop() -> None:
    h = Histogram("pauses", "", ("generation",), GC_PAUSE_BUCKETS)
    clock = Clock()
    entry = GcPauses(h, clock)
    entry("start", {"generation": 0})
    clock.now += 0.03
    entry("stop", {"generation": 0, "collected": 0, "uncollectable": 0})
    assert h.count("0") == 1 and h.count("2") == 0
    value = h.values[("0",)]
    assert abs(value.sum - 0.03) < 1e-9
    assert value.buckets[GC_PAUSE_BUCKETS.index(0.05)] == 1  # 25 ms < 30 ms <= 50 ms
    entry("stop", {"generation": 2})  # a stop without its start: nothing to time
    assert h.count("2") == 0


def test_watch_gc_installs_one_entry_and_times_real_collections() -> None:
    entry = watch_gc()  # left installed: the process's one entry, as a node has it
    assert watch_gc() is entry
    assert sum(isinstance(cb, GcPauses) for cb in gc.callbacks) == 1
    before = GC_PAUSES.count("2")
    gc.collect()
    assert GC_PAUSES.count("2") == before + 1
    families = {f.name: f for f in text_string_to_metric_families(
        render(Registry(), "pcscf").decode())}
    counts = {s.labels["generation"]: s.value for s in families["ims_gc_pause_seconds"].samples
              if s.name == "ims_gc_pause_seconds_count"}
    assert counts["2"] >= before + 1 and set(counts) == {"0", "1", "2"}
