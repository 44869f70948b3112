"""The SIP events framework's header fields and timing (RFC 6665), sans-I/O: one reading
of Event (§8.2.1) and Subscription-State (§8.2.3) for notifiers and subscribers alike,
delta-seconds (RFC 3261 §25.1) for Expires and Retry-After, and when a subscriber
refreshes what it was granted (TS 24.229 §5.1.1.3, §5.2.3).

Grammar (RFC 6665 §8.4):

    Event              = event-type *( SEMI event-param )
    event-param        = generic-param / ( "id" EQUAL token )
    Subscription-State = substate-value *( SEMI subexp-params )
    substate-value     = "active" / "pending" / "terminated" / extension-substate
    subexp-params      = ("reason" EQUAL event-reason-value)
                       / ("expires" EQUAL delta-seconds)
                       / ("retry-after" EQUAL delta-seconds) / generic-param

Tokens are compared case-insensitively (RFC 3261 §7.3.1), so packages, states and
reasons come out in lower case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import SipParseError
from .grammar import LWS, TOKEN
from .message import Message
from .params import Param, format_params, parse_generic_params

SUBSCRIPTION_STATES = frozenset({"active", "pending", "terminated"})
MAX_DELTA = 2**32 - 1  # RFC 3261 §20.19: a larger delta-seconds reads as this
# TS 24.229 §5.1.1.3, §5.1.1.4.1 and §5.2.3: a grant over LONG_GRANT seconds is refreshed
# EARLY_BY seconds before it ends, a shorter one half-way through.
LONG_GRANT = 1200
EARLY_BY = 600

_HEAD_RE = re.compile(rf"{LWS}({TOKEN})")


def _head(value: str, what: str) -> tuple[str, list[Param]]:
    """`token *(SEMI generic-param)` → the token in lower case and the parameters."""
    m = _HEAD_RE.match(value)
    if m is None:
        raise SipParseError(f"Bad {what} {value[:20]!r}")
    return m.group(1).lower(), parse_generic_params(value, m.end())


# -- Event (RFC 6665 §8.2.1) ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventHeader:
    """``Event: reg;id=7``: ``package`` is the event-type in lower case (templates
    included: ``presence.winfo``), ``id`` the id parameter, ``params`` every parameter as
    received (``id`` among them)."""

    package: str
    id: str | None = None
    params: tuple[Param, ...] = ()

    def __str__(self) -> str:
        return self.package + format_params(list(self.params))


def parse_event(value: str) -> EventHeader:
    """An Event header value; SipParseError (400) when malformed."""
    package, params = _head(value, "Event")
    ident = next((v for n, v in params if n.lower() == "id"), None)
    return EventHeader(package, ident, tuple(params))


def event_package(value: str | None) -> str | None:
    """The package an Event header value names (lower case); None when absent or
    malformed (a request naming no usable package gets 489, RFC 6665 §4.2.1.1)."""
    if value is None:
        return None
    try:
        return parse_event(value).package
    except SipParseError:
        return None


def is_event(value: str | None, package: str, ident: str | None = None) -> bool:
    """Whether an Event header value names `package` with id `ident` (RFC 6665 §4.1.2.4:
    a NOTIFY belongs to a subscription when both match its SUBSCRIBE's); False when absent
    or malformed."""
    if value is None:
        return False
    try:
        event = parse_event(value)
    except SipParseError:
        return False
    return event.package == package.lower() and event.id == ident


# -- Subscription-State (RFC 6665 §8.2.3) ---------------------------------------------------
@dataclass(frozen=True, slots=True, init=False)
class SubscriptionState:
    """``active;expires=600`` or ``terminated;reason=probation;retry-after=30``: ``value``
    is active, pending or terminated; ``str()`` writes the header value."""

    value: str
    expires: int | None = None
    reason: str | None = None
    retry_after: int | None = None

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, value: str, expires: int | None = None, reason: str | None = None,
                 retry_after: int | None = None) -> None:
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "expires", expires)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "retry_after", retry_after)

    @property
    def terminated(self) -> bool:
        return self.value == "terminated"

    def __str__(self) -> str:
        out = self.value
        for name, v in (("reason", self.reason), ("expires", self.expires),
                        ("retry-after", self.retry_after)):
            if v is not None:
                out += f";{name}={v}"
        return out


def parse_subscription_state(value: str) -> SubscriptionState:
    """A Subscription-State header value; SipParseError (400) when malformed, expires and
    retry-after included. An unknown state (an extension-substate, RFC 6665 §8.4) reads
    as ``pending``; unknown parameters are ignored."""
    state, params = _head(value, "Subscription-State")
    named = {n.lower(): v for n, v in params}
    reason = named.get("reason")
    try:
        return SubscriptionState(
            value=state if state in SUBSCRIPTION_STATES else "pending",
            expires=delta_seconds(named.get("expires")),
            reason=reason.lower() if reason is not None else None,
            retry_after=delta_seconds(named.get("retry-after")))
    except SipParseError as exc:
        raise SipParseError(f"Bad Subscription-State: {exc.reason}") from None


# -- delta-seconds (RFC 3261 §25.1) ---------------------------------------------------------
def delta_seconds(text: str | None) -> int | None:
    """An Expires value or an ``expires``/``retry-after`` parameter: ``1*DIGIT``, white
    space around it allowed, at most `MAX_DELTA`. None when absent; SipParseError (400)
    when malformed."""
    if text is None:
        return None
    digits = text.strip(" \t")
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise SipParseError(f"Bad delta-seconds {text[:20]!r}")
    digits = digits.lstrip("0") or "0"
    return MAX_DELTA if len(digits) > 10 else min(int(digits), MAX_DELTA)


def retry_after(text: str | None) -> int | None:
    """A Retry-After value (RFC 3261 §20.33: ``delta-seconds [comment] *(SEMI
    retry-param)``): its delta-seconds. None when absent; SipParseError when malformed."""
    if text is None:
        return None
    return delta_seconds(text.split(";", 1)[0].split("(", 1)[0])


def response_expires(response: Message) -> int | None:
    """The Expires of a response (a 2xx to SUBSCRIBE grants that long, RFC 6665
    §4.1.2.1); None when absent or malformed: a response is never refused, the caller
    keeps what it asked for."""
    try:
        return delta_seconds(response.headers.get("expires"))
    except SipParseError:
        return None


def response_retry_after(response: Message) -> int | None:
    """The Retry-After of a response (RFC 3261 §20.33); None when absent or malformed."""
    try:
        return retry_after(response.headers.get("retry-after"))
    except SipParseError:
        return None


# -- refreshing a subscription ------------------------------------------------------------
def refresh_delay(granted_seconds: float) -> float:
    """Seconds from a grant of `granted_seconds` to its refresh: `EARLY_BY` before it
    ends when it was for more than `LONG_GRANT`, else half-way through. TS 24.229 gives
    the UE this rule for its registration (§5.1.1.4.1) and its reg-event subscription
    (§5.1.1.3), and the P-CSCF the same for its reg-event subscription (§5.2.3)."""
    if granted_seconds > LONG_GRANT:
        return granted_seconds - EARLY_BY
    return granted_seconds / 2
