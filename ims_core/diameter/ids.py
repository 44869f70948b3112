"""Hop-by-Hop and End-to-End identifiers (RFC 6733 §3).

Hop-by-Hop: unique per connection, any start value; we start at random and count up.
End-to-End: unique for at least 4 minutes across reboots; "the high order 12 bits [may]
contain the low order 12 bits of current time, and the low order 20 bits a random value".
"""

from __future__ import annotations

import os


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
