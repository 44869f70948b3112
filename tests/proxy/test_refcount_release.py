"""The retention scenarios again, with the cyclic collector off: a finished request's
context, branches and messages must be freed by reference counting alone (the
context <-> branch cycle is broken once nothing can reach them; `proxy.context.release`).
Left to the collector, that garbage cost a quarter of each CSCF's CPU under load."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ims_core.proxy import RequestContext

from . import test_retention

SCENARIOS: list[Callable[[], None]] = [
    test_retention.test_a_non_invite_context_goes_with_its_final_response,
    test_retention.test_a_timed_out_non_invite_context_goes_with_its_408,
    test_retention.test_an_invite_context_lives_until_its_transaction_ends_and_no_longer,
    test_retention.test_a_2xx_answered_invite_leaves_the_proxy_timers_at_once,
    test_retention.test_a_cancelled_invite_lets_go_of_everything,
    test_retention.test_pcscf_registrations_leave_no_transaction_state_behind,
]


def freed_without_collector(ref: weakref.ref[RequestContext[Any]]) -> bool:
    return ref() is None


@pytest.fixture
def no_collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(test_retention, "collected", freed_without_collector)
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@pytest.mark.usefixtures("no_collector")
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__[5:])
def test_freed_by_reference_counting(scenario: Callable[[], None]) -> None:
    scenario()


def test_the_check_can_fail() -> None:
    """A context kept in a cycle is not freed without the collector (so the check above
    means something)."""
    gc.disable()
    try:
        box: list[object] = []
        ctx = RequestContext.__new__(RequestContext)
        box.append(ctx)
        ref = weakref.ref(ctx)
        object.__setattr__(ctx, "branches", box)  # ctx -> box -> ctx
        del ctx, box
        assert ref() is not None
    finally:
        gc.enable()
        gc.collect()
