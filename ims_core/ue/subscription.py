"""The UE's subscription to its own reg event (TS 24.229 §5.1.1.3; RFC 6665; RFC 3680)
as a sans-I/O state machine.

Theory of operation: :meth:`Subscription.start` gives the SUBSCRIBE; its final response
goes to :meth:`Subscription.on_response` (or :meth:`Subscription.failed` when none came);
a NOTIFY that :meth:`Subscription.matches` goes to :meth:`Subscription.on_notify`, which
gives the response to send and what the NOTIFY said. :meth:`get_timer` /
:meth:`handle_timer` refresh the subscription before it expires and end it if it does.
Once :attr:`state` is TERMINATED, :attr:`ended` says why.

Transitions (RFC 6665 §4.1.2; a NOTIFY may overtake the 2xx, §4.1.2.4):

===========  ==============  ===========  ==========================================
state        event           action       next
===========  ==============  ===========  ==========================================
SUBSCRIBING  2xx             establish    ACTIVE (dialog from the 2xx, §12.1.2)
SUBSCRIBING  NOTIFY          establish    EARLY (dialog from the NOTIFY, §12.1.1)
EARLY        2xx             confirm      ACTIVE (target refresh, expiry)
REFRESHING   2xx             confirm      ACTIVE
EARLY        NOTIFY          note         EARLY; and so ACTIVE, REFRESHING
ACTIVE       refresh due     refresh      REFRESHING (in-dialog SUBSCRIBE)
REFRESHING   3xx-6xx, none   keep         ACTIVE: valid until it expires (§4.1.2.2)
REFRESHING   481             end          TERMINATED
SUBSCRIBING  3xx-6xx, none   end          TERMINATED; and so EARLY
any live     NOTIFY          end          TERMINATED (Subscription-State terminated)
             terminated
EARLY        expired         end          TERMINATED; and so ACTIVE, REFRESHING
===========  ==============  ===========  ==========================================
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from ims_core.reginfo import CONTENT_TYPE, Reginfo, ReginfoError, parse
from ims_core.sip import (
    Dialog,
    Request,
    Response,
    SipParseError,
    SubscriptionState,
    make_response,
    parse_subscription_state,
    refresh_delay,
    response_expires,
    response_retry_after,
)

from . import messages
from .messages import Local, Rng
from .regevent import is_reg_event

DEFAULT_EXPIRES = 600000  # TS 24.229 §5.1.1.3
REFRESH_RETRY = 30.0  # seconds before a failed refresh is tried again (if still valid)


class State(Enum):
    IDLE = "idle"
    SUBSCRIBING = "subscribing"
    EARLY = "early"  # a NOTIFY came before the 2xx
    ACTIVE = "active"
    REFRESHING = "refreshing"
    TERMINATED = "terminated"


class Event(Enum):
    ACCEPTED = "2xx"
    REJECTED = "failure"  # 3xx-6xx other than 481, or no response
    GONE = "481"
    NOTIFIED = "notify"
    ENDED = "notify-terminated"
    REFRESH_DUE = "refresh-due"
    EXPIRED = "expired"


class Action(Enum):
    ESTABLISH = "establish"
    CONFIRM = "confirm"
    NOTE = "note"
    REFRESH = "refresh"
    KEEP = "keep"
    END = "end"


S, E, A = State, Event, Action
_LIVE = (S.SUBSCRIBING, S.EARLY, S.ACTIVE, S.REFRESHING)
TRANSITIONS: dict[tuple[State, Event], tuple[Action, State]] = {
    (S.SUBSCRIBING, E.ACCEPTED): (A.ESTABLISH, S.ACTIVE),
    (S.SUBSCRIBING, E.NOTIFIED): (A.ESTABLISH, S.EARLY),
    (S.EARLY, E.ACCEPTED): (A.CONFIRM, S.ACTIVE),
    (S.REFRESHING, E.ACCEPTED): (A.CONFIRM, S.ACTIVE),
    (S.EARLY, E.NOTIFIED): (A.NOTE, S.EARLY),
    (S.ACTIVE, E.NOTIFIED): (A.NOTE, S.ACTIVE),
    (S.REFRESHING, E.NOTIFIED): (A.NOTE, S.REFRESHING),
    (S.ACTIVE, E.REFRESH_DUE): (A.REFRESH, S.REFRESHING),
    (S.REFRESHING, E.REJECTED): (A.KEEP, S.ACTIVE),
    (S.REFRESHING, E.GONE): (A.END, S.TERMINATED),
    **{(s, e): (A.END, S.TERMINATED)
       for s in (S.SUBSCRIBING, S.EARLY) for e in (E.REJECTED, E.GONE)},
    **{(s, E.ENDED): (A.END, S.TERMINATED) for s in _LIVE},
    **{(s, E.EXPIRED): (A.END, S.TERMINATED) for s in (S.EARLY, S.ACTIVE, S.REFRESHING)},
}


@dataclass(frozen=True, slots=True)
class Notified:
    """What one accepted NOTIFY said: ``info`` is None without a body; ``stale`` when
    its version is not newer than one already seen (RFC 3680 §5.2: ignored)."""

    state: SubscriptionState
    info: Reginfo | None
    stale: bool = False


@dataclass(frozen=True, slots=True)
class Ended:
    """Why the subscription ended: ``status`` of the response that ended it (0 for a
    NOTIFY or expiry), ``reason`` the Subscription-State reason (``expired`` for
    expiry) or the response's reason phrase."""

    status: int
    reason: str
    retry_after: int | None = None


class Subscription:
    """SUBSCRIBE to the reg event of ``impu`` from ``contact`` along ``route`` (the
    P-CSCF as outbound proxy, then the Service-Route)."""

    def __init__(self, local: Local, impu: str, contact: str, route: Sequence[str], *,
                 expires: int = DEFAULT_EXPIRES, preferred_identity: bool = True,
                 rng: Rng = os.urandom) -> None:
        self.local = local
        self.impu = impu
        self.contact = contact
        self.expires = expires
        self.rng = rng
        self.preferred_identity = preferred_identity
        self.dialog = Dialog(call_id=messages.new_call_id(local, rng), local_uri=f"<{impu}>",
                             local_tag=messages.new_tag(rng), remote_uri=f"<{impu}>",
                             remote_target=impu, route_set=tuple(route))
        self.state = State.IDLE
        self.ended: Ended | None = None
        self.expires_at: float | None = None
        self.refresh_at: float | None = None
        self.version: int | None = None
        self.confirmed = False  # a 2xx came: the notifier accepted it
        self.refreshes = 0  # refreshes that got their 2xx
        self.sent: list[Request] = []

    # -- inputs --------------------------------------------------------------------------
    def start(self) -> Request:
        if self.state is not State.IDLE:
            raise RuntimeError("subscription already started")
        self.state = State.SUBSCRIBING
        return self._subscribe()

    def owns(self, request: Request) -> bool:
        """``request`` is the latest SUBSCRIBE of this subscription."""
        return bool(self.sent) and self.sent[-1] is request

    def on_response(self, response: Response, now: float) -> None:
        """The final response to the latest SUBSCRIBE."""
        if response.status < 200:
            return
        if response.status >= 300:
            self.failed(response.status, response.reason, now,
                        retry_after=response_retry_after(response))
            return
        entry = TRANSITIONS.get((self.state, Event.ACCEPTED))
        if entry is None:
            return  # a late 2xx after the NOTIFY that ended it
        action, nxt = entry
        try:
            if action is Action.ESTABLISH:
                self.dialog.establish_by_response(response)
            else:
                self.dialog.refresh_target(response)
        except SipParseError as exc:
            self._end(Ended(500, f"unusable 2xx: {exc.reason}"))
            return
        if self.state is State.REFRESHING:
            self.refreshes += 1
        self.state = nxt
        self.confirmed = True
        granted = response_expires(response)  # RFC 6665 §4.1.2.1, else what we asked
        self._granted(self.expires if granted is None else granted, now)

    def failed(self, status: int, reason: str, now: float, *,
               retry_after: int | None = None) -> None:
        """A 3xx-6xx to the latest SUBSCRIBE, or the UE's own 408/503 when none came
        (RFC 3261 §8.1.3.1)."""
        event = Event.GONE if status == 481 else Event.REJECTED
        entry = TRANSITIONS.get((self.state, event))
        if entry is None:
            return
        action, nxt = entry
        if action is Action.KEEP:  # RFC 6665 §4.1.2.2: valid until it expires
            self.state = nxt
            self.refresh_at = now + REFRESH_RETRY
            return
        self._end(Ended(status, reason, retry_after))

    def matches(self, request: Request) -> bool:
        """A NOTIFY for this subscription (RFC 6665 §4.1.2.4: dialog identifiers, and the
        Event of the SUBSCRIBE); a NOTIFY matching nothing gets 481."""
        if self.state not in _LIVE or request.method != "NOTIFY":
            return False
        try:
            return self.dialog.matches(request) and is_reg_event(request.headers.get("event"))
        except SipParseError:
            return False

    def on_notify(self, request: Request, now: float) -> tuple[Response, Notified | None]:
        """The response to a NOTIFY that :meth:`matches`, and what it said when accepted
        (400: no or a bad Subscription-State, Contact or reginfo body; 415: another body
        type; 500: out of order, RFC 3261 §12.2.2)."""
        try:
            raw = request.headers.get("subscription-state")
            if raw is None:
                raise SipParseError("Missing Subscription-State")
            state = parse_subscription_state(raw)
            info = _body(request)
            event = Event.ENDED if state.terminated else Event.NOTIFIED
            entry = TRANSITIONS.get((self.state, event))
            if entry is None:
                return self._answer(request, 481), None  # not ours (see matches)
            action, nxt = entry
            if not self.dialog.accept(request):  # before the 2xx it establishes the dialog
                return self._answer(request, 500, "Out of Order"), None
        except _Unsupported:
            response = self._answer(request, 415)
            response.headers.add("Accept", CONTENT_TYPE)
            return response, None
        except SipParseError as exc:
            return self._answer(request, 400, exc.reason), None
        except ReginfoError as exc:
            return self._answer(request, 400, f"Bad reginfo: {exc}"[:120]), None
        stale = info is not None and self.version is not None and info.version <= self.version
        if info is not None and not stale:
            self.version = info.version
        if action is Action.END:
            self._end(Ended(0, state.reason or "terminated", state.retry_after))
        else:
            self.state = nxt
            if state.expires is not None:
                self._granted(state.expires, now)  # RFC 6665 §4.1.2.3: the notifier's word
        return self._answer(request, 200), Notified(state, info, stale)

    def get_timer(self) -> float | None:
        if self.state not in _LIVE:
            return None
        deadlines = [t for t in (self.expires_at, self.refresh_at if self.state is
                                 State.ACTIVE else None) if t is not None]
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> Request | None:
        """Ends an expired subscription; gives the refresh SUBSCRIBE when it is due."""
        if self.expires_at is not None and now >= self.expires_at:
            if (self.state, Event.EXPIRED) in TRANSITIONS:
                self._end(Ended(0, "expired"))
            return None
        if self.refresh_at is not None and now >= self.refresh_at:
            entry = TRANSITIONS.get((self.state, Event.REFRESH_DUE))
            if entry is not None:
                self.state = entry[1]
                self.refresh_at = None
                return self._subscribe()
        return None

    @property
    def finished(self) -> bool:
        return self.state is State.TERMINATED

    # -- internals -------------------------------------------------------------------------
    def _subscribe(self) -> Request:
        headers = messages.subscribe_headers(
            self.contact, self.expires, self.impu if self.preferred_identity else None)
        req = self.dialog.request("SUBSCRIBE", headers)
        req.push_via(messages.via(self.local, messages.new_branch(self.rng)))
        self.sent.append(req)
        return req

    def _granted(self, seconds: int, now: float) -> None:
        self.expires_at = now + seconds
        self.refresh_at = now + refresh_delay(seconds)

    def _end(self, ended: Ended) -> None:
        self.state = State.TERMINATED
        self.ended = ended
        self.refresh_at = self.expires_at = None

    def _answer(self, request: Request, status: int, reason: str | None = None) -> Response:
        response = make_response(request, status, reason)
        if 200 <= status < 300:  # NOTIFY refreshes the target: ours goes back (§12.2.2)
            response.headers.add("Contact", f"<{self.contact}>")
        return response


class _Unsupported(Exception):
    """A NOTIFY body of a type the UE did not Accept."""


def _body(request: Request) -> Reginfo | None:
    if not request.body:
        return None  # RFC 6665 §4.1.2.4 allows it; the Subscription-State still counts
    ctype = (request.headers.get("content-type") or "").partition(";")[0].strip().lower()
    if ctype != CONTENT_TYPE:
        raise _Unsupported(ctype)
    return parse(request.body)
