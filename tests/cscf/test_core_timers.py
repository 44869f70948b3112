"""A CSCF core's `get_timer`: the earliest deadline of every heap it keeps (transactions,
Timer C, Cx queries, next-hop failover), each added by the class that owns it."""

from __future__ import annotations

from typing import Any

from ims_core.cscf.failover import FailoverCore
from ims_core.deadlines import DeadlineHeap
from ims_core.proxy import ProxyConfig


def test_get_timer_is_the_earliest_of_every_heap() -> None:
    core: FailoverCore[Any] = FailoverCore(ProxyConfig())
    heaps: list[DeadlineHeap[Any]] = [
        core.table.timers, core._proxy_timers, core._cx_deadlines, core._hop_deadlines]
    assert core._timer_heaps == heaps and core.get_timer() is None
    items = [object() for _ in heaps]
    for i, (heap, item) in enumerate(zip(heaps, items, strict=True)):
        heap.set(item, 10.0 - i)  # each heap in turn holds the earliest
        assert core.get_timer() == 10.0 - i
    for heap, item in zip(reversed(heaps), reversed(items), strict=True):
        heap.discard(item)
        assert core.get_timer() == (None if heap is heaps[0] else 10.0 - heaps.index(heap) + 1)
