"""A min-heap of deadlines with at most one per item, for the `get_timer()` /
`handle_timer(now)` pair of a sans-I/O core (transactions, Timer C, Cx queries,
registration expiry).

Setting an item's deadline again or removing it is O(log n) amortised and lets go of
the item at once: its old heap entry is emptied in place (lazy deletion), and the heap
is rebuilt without the empty entries when they outnumber the live ones. So the heap
holds at most about twice as many entries as there are items, and no removed item is
kept alive by it.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterator
from heapq import heapify, heappop, heappush
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)

# Empty entries tolerated before a rebuild even when few items are live: rebuilding a
# tiny heap on every removal would cost more than the entries it frees.
_SLACK = 64


class DeadlineHeap(Generic[K]):
    """Items (hashable; identity-hashed objects are fine) each with one deadline."""

    __slots__ = ("_dead", "_entries", "_heap", "_seq")

    def __init__(self) -> None:
        # Entries are [deadline, seq, item]; lists compare by deadline, then by the
        # unique seq (earliest set first among equal deadlines), never by item. A
        # removed entry keeps its place with item None.
        self._heap: list[list[Any]] = []
        self._entries: dict[K, list[Any]] = {}
        self._seq = itertools.count()
        self._dead = 0

    def __len__(self) -> int:
        """The number of items with a deadline (not counting empty entries)."""
        return len(self._entries)

    def __contains__(self, item: object) -> bool:
        return item in self._entries

    def __iter__(self) -> Iterator[K]:
        """The items, in no particular order."""
        return iter(list(self._entries))

    @property
    def size(self) -> int:
        """Entries in the heap, empty ones included (what memory use follows)."""
        return len(self._heap)

    def deadline(self, item: K) -> float | None:
        entry = self._entries.get(item)
        return None if entry is None else float(entry[0])

    def set(self, item: K, deadline: float) -> None:
        """Give `item` this deadline, replacing any it had."""
        entries = self._entries
        entry = entries.get(item)
        if entry is not None:
            if entry[0] == deadline:
                return
            entry[2] = None
            self._dead += 1
            if self._dead > _SLACK and self._dead > len(entries):
                self._compact()
        entry = [deadline, next(self._seq), item]
        entries[item] = entry
        heappush(self._heap, entry)

    def discard(self, item: K) -> None:
        """Remove `item`'s deadline, if it has one."""
        entry = self._entries.pop(item, None)
        if entry is not None:
            entry[2] = None
            self._dead += 1
            if self._dead > _SLACK and self._dead > len(self._entries):
                self._compact()

    def peek(self) -> float | None:
        """The earliest deadline, or None when there is no item."""
        heap = self._heap
        while heap and heap[0][2] is None:
            heappop(heap)
            self._dead -= 1
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[K]:
        """Remove and return the items whose deadline is at or before `now`, earliest
        first. Deadlines set while the caller handles them wait for the next call."""
        heap = self._heap
        due: list[K] = []
        while heap and heap[0][0] <= now:
            entry = heappop(heap)
            item = entry[2]
            if item is None:
                self._dead -= 1
                continue
            del self._entries[item]
            due.append(item)
        return due

    def clear(self) -> None:
        self._heap.clear()
        self._entries.clear()
        self._dead = 0

    def _compact(self) -> None:
        """Rebuild without the empty entries: O(n), once per more than n/2 removals."""
        self._heap = [e for e in self._heap if e[2] is not None]
        heapify(self._heap)
        self._dead = 0
