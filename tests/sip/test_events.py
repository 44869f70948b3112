"""The events framework's header fields (RFC 6665 §8.2.1 Event, §8.2.3
Subscription-State), delta-seconds (RFC 3261 §25.1) and the refresh rule of TS 24.229
§5.1.1.3/§5.2.3: the one reading the notifier and both subscribers share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims_core.sip import (
    EventHeader,
    Headers,
    Response,
    SipParseError,
    SubscriptionState,
    delta_seconds,
    event_package,
    is_event,
    parse_event,
    parse_subscription_state,
    refresh_delay,
    response_expires,
    response_retry_after,
    retry_after,
)
from ims_core.sip.events import MAX_DELTA

SETTINGS = settings(max_examples=300, deadline=None)


# -- Event --------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("reg", EventHeader("reg")),
    ("Reg ;foo=bar", EventHeader("reg", None, (("foo", "bar"),))),
    ("reg;ID=7", EventHeader("reg", "7", (("ID", "7"),))),
    ("  presence.winfo", EventHeader("presence.winfo")),
])
def test_event(value: str, expected: EventHeader) -> None:
    assert parse_event(value) == expected


@pytest.mark.parametrize("value", ["", "   ", ";id=7", "reg;", "reg;;", "reg x", "reg;=",
                                   "reg,presence", "rég"])
def test_bad_event(value: str) -> None:
    with pytest.raises(SipParseError) as err:
        parse_event(value)
    assert err.value.status == 400
    assert event_package(value) is None and not is_event(value, "reg")


def test_event_prints_back() -> None:
    assert str(parse_event("reg;id=7;x")) == "reg;id=7;x"


@pytest.mark.parametrize(("value", "package"), [
    ("REG", "reg"), ("dialog;call-id=a", "dialog"), (None, None), ("reg;;", None),
])
def test_event_package(value: str | None, package: str | None) -> None:
    assert event_package(value) == package


def test_is_event_compares_package_and_id() -> None:
    assert is_event("Reg", "reg") and is_event("reg;id=7", "REG", "7")
    assert not is_event("reg;id=7", "reg")  # RFC 6665 §4.1.2.4: the id must match too
    assert not is_event("reg", "reg", "7")
    assert not is_event("reg.winfo", "reg")
    assert not is_event(None, "reg")


# -- Subscription-State -------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("active;expires=600000", SubscriptionState("active", 600000)),
    ("Active ; expires=5", SubscriptionState("active", 5)),
    ("terminated;reason=Deactivated", SubscriptionState("terminated", reason="deactivated")),
    ("terminated;reason=probation;retry-after=30",
     SubscriptionState("terminated", reason="probation", retry_after=30)),
    ("pending;x;y=z", SubscriptionState("pending")),
    ("someday", SubscriptionState("pending")),  # an extension-substate reads as pending
    ("active;expires=99999999999999", SubscriptionState("active", MAX_DELTA)),
])
def test_subscription_state(value: str, expected: SubscriptionState) -> None:
    state = parse_subscription_state(value)
    assert state == expected
    assert state.terminated is (expected.value == "terminated")


@pytest.mark.parametrize("value", [
    "", ";expires=4", "act ive", "active;;", "active;expires=-1", "active;expires=",
    "active;expires=1.5", "terminated;retry-after=soon",
    'active;expires="60"', "active,pending",
])
def test_bad_subscription_state(value: str) -> None:
    with pytest.raises(SipParseError) as err:
        parse_subscription_state(value)
    assert err.value.status == 400


@pytest.mark.parametrize("state", [
    SubscriptionState("active", 3600),
    SubscriptionState("pending"),
    SubscriptionState("terminated", reason="noresource"),
    SubscriptionState("terminated", reason="giveup", retry_after=120),
])
def test_subscription_state_round_trips(state: SubscriptionState) -> None:
    assert parse_subscription_state(str(state)) == state


def test_subscription_state_prints_the_header_value() -> None:
    assert str(SubscriptionState("active", 599)) == "active;expires=599"
    assert str(SubscriptionState("terminated", reason="timeout")) == \
        "terminated;reason=timeout"


# -- delta-seconds ------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "seconds"), [
    (None, None), ("0", 0), (" 600 ", 600), ("\t007", 7), ("4294967295", MAX_DELTA),
    ("4294967296", MAX_DELTA), ("9" * 5000, MAX_DELTA), ("0" * 50 + "12", 12),
])
def test_delta_seconds(text: str | None, seconds: int | None) -> None:
    assert delta_seconds(text) == seconds


@pytest.mark.parametrize("text", [
    "", " ", "-1", "+5", "1.5", "1e3", "60 s", "0x10",
    "\uff16\uff10\uff10", "\u00b2",  # digits, but not ASCII ones
])
def test_bad_delta_seconds(text: str) -> None:
    with pytest.raises(SipParseError) as err:
        delta_seconds(text)
    assert err.value.status == 400


@pytest.mark.parametrize(("text", "seconds"), [
    (None, None), ("120", 120), ("300 (busy);duration=60", 300), ("18000;duration=3600", 18000),
    ("5(later)", 5),
])
def test_retry_after(text: str | None, seconds: int | None) -> None:
    assert retry_after(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "30 minutes", ";duration=5", "-5 (no)"])
def test_bad_retry_after(text: str) -> None:
    with pytest.raises(SipParseError):
        retry_after(text)


def _response(*headers: tuple[str, str]) -> Response:
    h = Headers()
    for name, value in headers:
        h.add(name, value)
    return Response(200, headers=h)


def test_a_response_s_seconds_are_none_when_absent_or_malformed() -> None:
    assert response_expires(_response(("Expires", "3600"))) == 3600
    assert response_retry_after(_response(("Retry-After", "30 (busy)"))) == 30
    assert response_expires(_response()) is None
    assert response_retry_after(_response()) is None
    assert response_expires(_response(("Expires", "soon"))) is None
    assert response_retry_after(_response(("Retry-After", "later"))) is None


# -- refreshing ---------------------------------------------------------------------------
@pytest.mark.parametrize(("granted", "delay"), [
    (600000, 599400), (3600, 3000), (1201, 601), (1200, 600), (1000, 500), (3, 1.5),
])
def test_refresh_delay(granted: int, delay: float) -> None:
    assert refresh_delay(granted) == delay


@SETTINGS
@given(st.integers(1, 2**32))
def test_a_refresh_always_falls_within_the_grant(granted: int) -> None:
    delay = refresh_delay(granted)
    assert granted / 2 <= delay < granted
    assert granted - delay >= min(600, granted / 2)


# -- any text -----------------------------------------------------------------------------
_SIPISH = st.text(st.sampled_from("aAzZ09 \t;=.,-_()\"'!%*+`~\u00e9\x00"), max_size=40)
_ANY = st.text(max_size=60) | _SIPISH
T = TypeVar("T")


def _value_or_400(parse: Callable[[str], T], text: str) -> T | None:
    """What `parse` makes of `text`; None when it refused it with a 400, the only way it
    may refuse anything."""
    try:
        return parse(text)
    except SipParseError as exc:
        assert exc.status == 400
        return None


@SETTINGS
@given(_ANY)
def test_any_subscription_state_gives_a_value_or_a_400(text: str) -> None:
    state = _value_or_400(parse_subscription_state, text)
    if state is not None:
        assert state.value in ("active", "pending", "terminated")
        assert parse_subscription_state(str(state)) == state


@SETTINGS
@given(_ANY)
def test_any_event_gives_a_value_or_a_400(text: str) -> None:
    event = _value_or_400(parse_event, text)
    assert event_package(text) == (event.package if event is not None else None)
    if event is not None:
        assert event.package == event.package.lower()
        assert parse_event(str(event)) == event


@SETTINGS
@given(_ANY)
def test_any_delta_seconds_gives_a_value_or_a_400(text: str) -> None:
    for parse in (delta_seconds, retry_after):
        seconds = _value_or_400(parse, text)
        assert seconds is None or 0 <= seconds <= MAX_DELTA
