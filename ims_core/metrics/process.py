"""Process-wide metrics a node exposes next to its own families: how long the cyclic
garbage collector stopped it (``ims_gc_pause_seconds{generation}``).

A collection stops the whole node while it scans: every message that arrives then
waits, so a long pause shows up as a latency spike at every hop behind it. Under load
the young generation holds what the node keeps for a while (transactions waiting out
Timer J or K, registrations), and a pause grows with it. Counted from the collector's
own start and stop callbacks (``gc.callbacks``): two clock reads per collection.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from .families import Histogram, HistogramValue

GC_PAUSE_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip

GC_PAUSES = Histogram("ims_gc_pause_seconds",
                      "How long each cyclic garbage collection stopped this process",
                      ("generation",), GC_PAUSE_BUCKETS)
_GENERATIONS = ("0", "1", "2")


class GcPauses:
    """The ``gc.callbacks`` entry that times each collection into *histogram*;
    ``clock`` in seconds."""

    def __init__(self, histogram: Histogram = GC_PAUSES,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.histogram = histogram
        self.clock = clock
        self._started: float | None = None
        # Each generation's counts made up front: run after the collection, the first
        # observation would otherwise leave a new object behind for the next one.
        for gen in _GENERATIONS:
            histogram.values.setdefault((gen,), HistogramValue(len(histogram.bounds) + 1))

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = self.clock()
            return
        started, self._started = self._started, None
        if started is not None:
            self.histogram.observe(self.clock() - started, _GENERATIONS[info["generation"]])


def watch_gc() -> GcPauses:
    """Time every collection of this process into :data:`GC_PAUSES` (once per process:
    a second call returns the entry already installed)."""
    for cb in gc.callbacks:
        if isinstance(cb, GcPauses):
            return cb
    entry = GcPauses()
    gc.callbacks.append(entry)
    return entry
