"""A bounded memo of text -> parse, for the parsers a node calls with the same few texts
over and over (URIs, name-addrs). What it keeps is never handed out to be edited: the
parsers return copies of it, or hand it out as a read-only view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ParseCache(Generic[T]):
    """`get(text)` parses `text` once and keeps the answer, in two generations: when
    the young one (`entries`) holds `size` parses it becomes the old one and the
    previous old one is dropped; a text found in the old generation moves back to the
    young one. So texts used again within about `size` new texts stay kept, while
    one-off texts (From/To with a dialog's tag, Call-IDs in Via) pass through; at most
    2 x `size` parses are held, with no per-hit bookkeeping. A text that does not parse
    raises each time and is not kept."""

    __slots__ = ("_old", "_parse", "entries", "size")

    def __init__(self, parse: Callable[[str], T], size: int = 4096) -> None:
        self._parse = parse
        self.size = size
        self.entries: dict[str, T] = {}
        self._old: dict[str, T] = {}

    def __len__(self) -> int:
        return len(self.entries) + len(self._old)

    def get(self, text: str) -> T:
        hit = self.entries.get(text)
        if hit is None:
            hit = self._old.get(text)
            if hit is None:
                hit = self._parse(text)
            if len(self.entries) >= self.size:
                self._old = self.entries
                self.entries = {}
            self.entries[text] = hit
        return hit
