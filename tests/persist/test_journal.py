"""The journal: the last write per (kind, key) wins; take drains it; a failed flush's
changes go back behind newer ones."""

from __future__ import annotations

from ims_core.persist import Change, Journal


def test_last_write_per_key_wins_and_take_drains() -> None:
    j = Journal()
    j.put("reg", "a", b"1")
    j.put("reg", "b", b"x")
    j.put("reg", "a", b"2")
    j.delete("reg", "b")
    j.put("sub", "a", b"other kind")
    assert len(j) == 3
    assert j.take() == [Change("reg", "a", b"2"), Change("reg", "b", None),
                        Change("sub", "a", b"other kind")]
    assert len(j) == 0 and j.take() == []


def test_put_after_delete_is_a_put() -> None:
    j = Journal()
    j.delete("reg", "a")
    j.put("reg", "a", b"back")
    assert j.take() == [Change("reg", "a", b"back")]


def test_lazy_value_is_encoded_once_at_take() -> None:
    j = Journal()
    calls: list[int] = []
    state = {"n": 0}

    def encode() -> bytes:
        calls.append(1)
        return str(state["n"]).encode()

    for n in range(5):
        state["n"] = n
        j.put_lazy("reg", "a", encode)
    assert calls == []
    state["n"] = 9
    assert j.take() == [Change("reg", "a", b"9")]  # the record as it is when written
    assert calls == [1]


def test_restore_puts_changes_back_behind_newer_ones() -> None:
    j = Journal()
    j.put("reg", "a", b"old")
    j.put("reg", "b", b"kept")
    failed = j.take()
    j.put("reg", "a", b"new")
    j.restore(failed)
    assert sorted(j.take(), key=lambda c: c.key) == [Change("reg", "a", b"new"),
                                                     Change("reg", "b", b"kept")]
