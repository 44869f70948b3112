"""A bounded memo of text -> parse, for the parsers a node calls with the same few texts
over and over (URIs, name-addrs). What it keeps is never handed out to be edited: the
parsers return copies of it, or hand it out as a read-only view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ParseCache(Generic[T]):
    """`get(text)` parses `text` once and keeps the answer; emptied when it holds `size`
    parses (cheaper than keeping an order, and a miss costs only a parse). A text that
    does not parse raises each time and is not kept."""

    __slots__ = ("_parse", "entries", "size")

    def __init__(self, parse: Callable[[str], T], size: int = 2048) -> None:
        self._parse = parse
        self.size = size
        self.entries: dict[str, T] = {}

    def get(self, text: str) -> T:
        hit = self.entries.get(text)
        if hit is None:
            hit = self._parse(text)
            if len(self.entries) >= self.size:
                self.entries.clear()
            self.entries[text] = hit
        return hit
