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
    assert len(cache.entries) <= 3 and len(cache) <= 6


def test_a_text_used_again_survives_the_flush_of_one_offs() -> None:
    calls: list[str] = []

    def parse(text: str) -> str:
        calls.append(text)
        return text.upper()

    cache = ParseCache(parse, size=4)
    cache.get("kept")
    for i in range(20):  # one-off texts, with "kept" used again every third one
        cache.get(f"once{i}")
        if i % 3 == 0:
            assert cache.get("kept") == "KEPT"
    assert calls.count("kept") == 1
    assert all(calls.count(f"once{i}") == 1 for i in range(20))
    assert len(cache) <= 8
    cache.get("once0")  # long gone: parsed again
    assert calls.count("once0") == 2
