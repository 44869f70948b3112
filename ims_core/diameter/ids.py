"""Hop-by-Hop and End-to-End identifiers (RFC 6733 §3) and Session-Ids (§8.8).

Hop-by-Hop: unique per connection, any start value; we start at random and count up.
End-to-End: unique for at least 4 minutes across reboots; "the high order 12 bits [may]
contain the low order 12 bits of current time, and the low order 20 bits a random value".
Session-Id: globally and eternally unique; a 64-bit value that counts up from a random
start, written as its high and low 32 bits.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable


def _rand32() -> int:
    return int.from_bytes(os.urandom(4), "big")


class HopByHop:
    """Per-connection Hop-by-Hop identifiers."""

    __slots__ = ("_next",)

    def __init__(self, start: int | None = None) -> None:
        self._next = _rand32() if start is None else start

    def __call__(self) -> int:
        v = self._next
        self._next = (v + 1) & 0xFFFFFFFF
        return v


class EndToEnd:
    """Node-wide End-to-End identifiers, seeded from the wall clock (*wall_time*, seconds)."""

    __slots__ = ("_next",)

    def __init__(self, wall_time: float, low: int | None = None) -> None:
        low = (_rand32() if low is None else low) & 0xFFFFF
        self._next = ((int(wall_time) & 0xFFF) << 20) | low

    def __call__(self) -> int:
        v = self._next
        self._next = (v + 1) & 0xFFFFFFFF
        return v


class SessionIds:
    """Node-wide Session-Id values (RFC 6733 §8.8), seeded from *rng* (``os.urandom``-like):
    ``<DiameterIdentity>;<high 32 bits>;<low 32 bits>[;<optional value>]``, the two halves
    of a 64-bit value that increases by one per id. The random start keeps ids of a node
    unique across its restarts. Hold one per node; safe to share between threads."""

    __slots__ = ("_values",)

    def __init__(self, rng: Callable[[int], bytes] = os.urandom) -> None:
        seed = rng(8)
        # high half random, low half in its lower half: ~2**31 ids before it carries
        start = (int.from_bytes(seed[:4], "big") << 32) | (
            int.from_bytes(seed[4:8], "big") & 0x7FFFFFFF
        )
        self._values = itertools.count(start)  # next() is atomic under the GIL

    def __call__(self, origin_host: str, optional: str | None = None) -> str:
        v = next(self._values) & 0xFFFFFFFFFFFFFFFF
        sid = f"{origin_host};{v >> 32};{v & 0xFFFFFFFF}"
        return f"{sid};{optional}" if optional else sid
