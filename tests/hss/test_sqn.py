"""SQN = SEQ ‖ IND arithmetic (TS 33.102 Annex C)."""

from __future__ import annotations

import pytest

from hss import sqn


def test_split_join_round_trip() -> None:
    assert sqn.split(0b101_00011) == (0b101, 0b00011)
    assert sqn.join(5, 3) == 0b101_00011
    assert sqn.split(sqn.join(12345, 31)) == (12345, 31)


def test_advance_steps_seq_and_ind() -> None:
    s = sqn.join(10, 30)
    assert sqn.split(sqn.advance(s, 1)) == (11, 31)
    assert sqn.split(sqn.advance(s, 2)) == (12, 0)  # IND wraps mod 32


def test_batch_is_consecutive_and_ends_at_last() -> None:
    last = sqn.advance(sqn.join(7, 30), 4)
    b = sqn.batch(last, 4)
    assert [sqn.split(x) for x in b] == [(8, 31), (9, 0), (10, 1), (11, 2)]
    assert b[-1] == last
    assert len(set(b)) == 4


def test_resync_moves_forward_only() -> None:
    stored = sqn.join(100, 4)
    assert sqn.split(sqn.after_resync(stored, sqn.join(500, 9))) == (500, 4)
    assert sqn.after_resync(stored, sqn.join(50, 9)) == stored


def test_exhausted_and_bytes() -> None:
    with pytest.raises(sqn.SqnExhausted):
        sqn.join(1 << 43, 0)
    with pytest.raises(ValueError):
        sqn.join(1, 32)
    assert sqn.from_bytes(sqn.to_bytes(0xFF9BB4D0B607)) == 0xFF9BB4D0B607
    with pytest.raises(ValueError):
        sqn.from_bytes(b"\0")
