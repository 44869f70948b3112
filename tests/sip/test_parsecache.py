"""ParseCache: each text parsed once, errors never kept, bounded."""

from __future__ import annotations

import pytest

from ims_core.sip.parsecache import ParseCache


def test_parses_each_text_once_and_keeps_no_error() -> None:
    calls: list[str] = []

    def parse(text: str) -> tuple[str, ...]:
        calls.append(text)
        if text == "bad":
            raise ValueError(text)
        return tuple(text)

    cache = ParseCache(parse, size=3)
    assert cache.get("ab") == ("a", "b") and cache.get("ab") is cache.get("ab")
    assert calls == ["ab"]
    for _ in range(2):
        with pytest.raises(ValueError):
            cache.get("bad")
    assert calls == ["ab", "bad", "bad"] and "bad" not in cache.entries
    for text in ("c", "d", "e", "f"):
        cache.get(text)
    assert len(cache.entries) <= 3
