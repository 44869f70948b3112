"""A min-heap of deadlines with at most one per item, for the `get_timer()` /
`handle_timer(now)` pair of a sans-I/O core (transactions, Timer C, Cx queries,
registration expiry).

The heap holds bare deadlines (floats: the cheapest thing for `heapq` to compare, and a
core asks for its earliest deadline after every message); each deadline's items sit in
a dict beside it, in the order they were set. Setting an item's deadline again or
removing it takes it out of its deadline's bucket at once, so no removed item is kept
alive; a deadline left without items stays in the heap until it reaches the top, and
the heap is rebuilt from the live deadlines when it holds more than about twice as many
entries as there are items.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from heapq import heapify, heappop, heappush
from typing import Any, Generic, TypeVar, cast

K = TypeVar("K", bound=Hashable)

# Stale entries tolerated before a rebuild even when few items are live: rebuilding a
# tiny heap on every removal would cost more than the entries it frees.
_SLACK = 64
_NONE: Any = object()  # "no bucket" (an item may be any hashable, None included)


class DeadlineHeap(Generic[K]):
    """Items (hashable; identity-hashed objects are fine) each with one deadline."""

    __slots__ = ("_at", "_heap", "_when")

    def __init__(self) -> None:
        self._heap: list[float] = []  # deadlines; some stale (no bucket) or repeated
        # A deadline's bucket: its one item (most deadlines have one: times differ) or,
        # when several share it, a dict of them in the order set. A dict is never an
        # item (items are hashable), so the type tells the two apart.
        self._at: dict[float, Any] = {}
        self._when: dict[K, float] = {}

    def __len__(self) -> int:
        """The number of items with a deadline."""
        return len(self._when)

    def __contains__(self, item: object) -> bool:
        return item in self._when

    def __iter__(self) -> Iterator[K]:
        """The items, in no particular order."""
        return iter(list(self._when))

    @property
    def size(self) -> int:
        """Entries in the heap, stale ones included (what memory use follows)."""
        return len(self._heap)

    def deadline(self, item: K) -> float | None:
        when = self._when.get(item)
        return None if when is None else float(when)

    def set(self, item: K, deadline: float) -> None:
        """Give `item` this deadline, replacing any it had."""
        when = self._when
        at = self._at
        old = when.get(item)
        if old is not None:
            if old == deadline:
                return
            bucket = at.pop(old)  # _unlink, inline: deadlines move on every message
            if type(bucket) is dict:
                del bucket[item]
                if bucket:
                    at[old] = bucket
        when[item] = deadline
        # One lookup for the usual new deadline: `item` is in no other bucket now (its
        # old one is gone), so finding it there means it started this bucket.
        bucket = at.setdefault(deadline, item)
        if bucket is item:
            heap = self._heap
            heappush(heap, deadline)
            # Only a deadline replaced can leave a stale entry behind.
            if old is not None and len(heap) > 2 * len(when) + _SLACK:
                self._compact()
        elif type(bucket) is dict:
            bucket[item] = None
        else:
            at[deadline] = {bucket: None, item: None}

    def discard(self, item: K) -> None:
        """Remove `item`'s deadline, if it has one."""
        old = self._when.pop(item, None)
        if old is not None:
            self._unlink(item, old)
            if len(self._heap) > 2 * len(self._when) + _SLACK:
                self._compact()

    def peek(self) -> float | None:
        """The earliest deadline, or None when there is no item."""
        heap = self._heap
        at = self._at
        while heap:
            first = heap[0]
            if first in at:
                return first
            heappop(heap)
        return None

    def pop_due(self, now: float) -> list[K]:
        """Remove and return the items whose deadline is at or before `now`, earliest
        first. Deadlines set while the caller handles them wait for the next call."""
        heap = self._heap
        at = self._at
        when = self._when
        due: list[K] = []
        while heap and heap[0] <= now:
            bucket = at.pop(heappop(heap), _NONE)
            if bucket is _NONE:
                continue  # stale, or a repeat of a deadline already handled
            if type(bucket) is dict:
                for item in bucket:
                    del when[item]
                due.extend(bucket)
            else:
                del when[bucket]
                due.append(bucket)
        if len(heap) > 2 * len(when) + _SLACK:
            self._compact()
        return due

    def clear(self) -> None:
        self._heap.clear()
        self._at.clear()
        self._when.clear()

    def _unlink(self, item: K, deadline: float) -> None:
        """Take `item` out of `deadline`'s bucket (the heap entry goes stale if empty)."""
        at = self._at
        bucket = at.pop(deadline)
        if type(bucket) is dict:
            del bucket[item]
            if bucket:
                at[deadline] = bucket

    def _compact(self) -> None:
        """Rebuild from the live deadlines: O(n), once per more than n/2 removals."""
        self._heap = cast(list[float], list(self._at))
        heapify(self._heap)
