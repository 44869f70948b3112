"""Timer values (RFC 3261 §17, Table 4)."""

from __future__ import annotations

from dataclasses import replace

from ims_core.transaction import TimerConfig


def test_timeout_is_64_t1_and_follows_t1() -> None:
    assert TimerConfig().timeout == 32.0  # 64 * 500 ms
    assert TimerConfig(t1=0.1).timeout == 64 * 0.1
    assert replace(TimerConfig(), t1=0.25).timeout == 16.0


def test_timeout_is_derived_not_a_setting() -> None:
    # Worked out from T1: no part of equality, repr or the constructor.
    assert TimerConfig(t1=0.5) == TimerConfig()
    assert "timeout" not in repr(TimerConfig())
    assert hash(TimerConfig(t1=0.2)) == hash(TimerConfig(t1=0.2))
