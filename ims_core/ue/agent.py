"""A UE that stays registered and, if asked, watches its own registration through the
reg event (TS 24.229 §5.1.1.3, §5.1.1.4.1, §5.1.1.7), as a sans-I/O state machine.

Theory of operation: :meth:`Agent.start` registers. Requests to send pile up in
:attr:`Agent.outbox`; the adapter runs each in a client transaction and hands back its
final response, or how it ended without one, to :meth:`Agent.on_result`. Requests that
arrive go to :meth:`Agent.on_request`, which gives the response. :meth:`get_timer` /
:meth:`handle_timer` re-register and re-subscribe on time and end a ``duration``. What
to tell the user collects in :attr:`Agent.reports`; once :attr:`Agent.ending` is set the
run is over, with the exit status of the ``ims-core ue`` command.

After the 200 of the first registration the agent subscribes (:class:`Subscription`),
and every NOTIFY is checked for the network ending the registration: the UE's contact
terminated, or the registration itself. A subscription the notifier ends for a reason
that invites it (RFC 6665 §4.1.3: deactivated, timeout; probation, giveup after
Retry-After) is made again, a bounded number of times.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from ims_core.sip import (
    Request,
    Response,
    SipParseError,
    make_response,
    parse_name_addr,
    refresh_delay,
)
from ims_core.transaction import TimedOut, TransportFailed

from . import messages
from .challenge import FirstRegister
from .messages import Local
from .profile import UeProfile
from .regevent import Deregistered, deregistration, describe
from .registration import Outcome, Registration
from .subscription import DEFAULT_EXPIRES, Ended, Notified, Subscription

# Exit statuses of `ims-core ue register` (2 is argparse's, for bad arguments).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DEREGISTERED = 3  # the network ended the registration; registering again is allowed
EXIT_REJECTED = 4  # ... with "rejected": the UE must not register again by itself

RESUBSCRIBE_AT_ONCE = frozenset({"deactivated", "timeout", "expired"})  # RFC 6665 §4.1.3
RESUBSCRIBE_LATER = frozenset({"probation", "giveup"})
RESUBSCRIBE_DELAY = 30.0  # seconds, when "later" comes without a Retry-After
MAX_RESUBSCRIBES = 3  # in a row, without a refresh in between


@dataclass(frozen=True, slots=True)
class Ending:
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Registered:
    """A registration exchange finished (``initial``: the first one of the run)."""

    outcome: Outcome
    initial: bool


Report = Registered | str
Result = Response | TimedOut | TransportFailed


class Agent:
    """Register ``profile`` from ``local`` through ``outbound_proxy`` (the P-CSCF's
    Route value), keep the registration up, and with ``subscribe`` watch it; stop after
    ``duration`` seconds when given."""

    def __init__(self, profile: UeProfile, local: Local, outbound_proxy: str, *,
                 expires: int = 600, subscribe: bool = True,
                 subscribe_expires: int = DEFAULT_EXPIRES, duration: float | None = None,
                 first: FirstRegister = FirstRegister.IMS,
                 rng: messages.Rng = os.urandom) -> None:
        self.profile = profile
        self.local = local
        self.outbound_proxy = outbound_proxy
        self.expires = expires
        self.subscribe = subscribe
        self.subscribe_expires = subscribe_expires
        self.duration = duration
        self.first = first
        self.rng = rng
        self.contact = messages.contact(profile, local)
        self.outbox: list[Request] = []
        self.reports: list[Report] = []
        self.ending: Ending | None = None
        self.registration: Registration | None = None  # the exchange under way, if any
        self.subscription: Subscription | None = None
        self.impu = profile.impu
        self.service_route: list[str] = []
        self._registered = False
        self._ids: messages.Dialogless | None = None
        self._reregister_at: float | None = None
        self._resubscribe_at: float | None = None
        self._resubscribes = 0
        self._until: float | None = None

    # -- inputs ----------------------------------------------------------------------------
    def start(self, now: float) -> None:
        if self.duration is not None:
            self._until = now + self.duration
        self._register(None)

    def on_result(self, request: Request, result: Result, now: float) -> None:
        """How a request from :attr:`outbox` ended: its final response, Timer F, or a
        transport failure."""
        if self.ending is not None:
            return
        reg = self.registration
        if reg is not None and reg.sent and reg.sent[-1] is request:
            if isinstance(result, Response):
                nxt = reg.receive(result)
                if nxt is not None:
                    self.outbox.append(nxt)
                    return
            elif isinstance(result, TimedOut):
                reg.timed_out("no final response to REGISTER")
            else:
                reg.transport_failed("the connection to the P-CSCF failed")
            self._registration_done(reg, now)
            return
        sub = self.subscription
        if sub is not None and sub.owns(request):
            if isinstance(result, Response):
                sub.on_response(result, now)
            elif isinstance(result, TimedOut):
                sub.failed(408, "Request Timeout", now)
            else:
                sub.failed(503, "Service Unavailable", now)
            self._subscription_moved(sub, now)

    def on_request(self, request: Request, now: float) -> Response | None:
        """The response to a request from the network (None for an ACK)."""
        if request.method == "ACK":
            return None
        sub = self.subscription
        try:
            if sub is not None and sub.matches(request):
                response, notified = sub.on_notify(request, now)
                if notified is not None and self.ending is None:
                    self._notified(notified)
                    self._subscription_moved(sub, now)
                return response
            if request.method == "NOTIFY" or request.to_tag is not None:
                return self._answer(request, 481)  # RFC 6665 §4.1.3; RFC 3261 §12.2.2
        except SipParseError as exc:
            return self._answer(request, exc.status, exc.reason)
        response = self._answer(request, 405)
        response.headers.add("Allow", "NOTIFY")
        return response

    def flow_lost(self, now: float) -> None:
        """The connection to the P-CSCF is gone: no NOTIFY can reach the UE any more."""
        if self.ending is None:
            self._end(EXIT_FAILED, "the connection to the P-CSCF closed")

    def get_timer(self) -> float | None:
        if self.ending is not None:
            return None
        sub = self.subscription
        times = [self._until, self._resubscribe_at,
                 self._reregister_at if self.registration is None else None,
                 sub.get_timer() if sub is not None else None]
        return min((t for t in times if t is not None), default=None)

    def handle_timer(self, now: float) -> None:
        if self.ending is not None:
            return
        if self._until is not None and now >= self._until:
            self._end(EXIT_OK, f"stayed {self.duration:g} s; still registered")
            return
        if self.registration is None and self._reregister_at is not None \
                and now >= self._reregister_at:
            self._reregister_at = None
            self._register(self._ids)
        sub = self.subscription
        if sub is not None:
            refresh = sub.handle_timer(now)
            if refresh is not None:
                self.outbox.append(refresh)
            self._subscription_moved(sub, now)
        if self._resubscribe_at is not None and now >= self._resubscribe_at:
            self._resubscribe_at = None
            self._subscribe()

    # -- registration ----------------------------------------------------------------------
    def _register(self, ids: messages.Dialogless | None) -> None:
        reg = Registration(self.profile, self.local, expires=self.expires, ids=ids,
                           first=self.first, rng=self.rng)
        self.registration = reg
        self.outbox.append(reg.start())

    def _registration_done(self, reg: Registration, now: float) -> None:
        """TS 24.229 §5.1.1.4.1: refresh before the granted time runs out."""
        self.registration = None
        self._ids = reg.ids  # RFC 3261 §10.2.4: one Call-ID for every REGISTER
        o = reg.outcome
        initial = not self._registered
        self.reports.append(Registered(o, initial))
        if not o.ok:
            what = "registration" if initial else "re-registration"
            self._end(EXIT_FAILED, f"{what} failed: {o.status} {o.reason}"
                      + (f" ({o.error})" if o.error else ""))
            return
        granted = o.contact_expires if o.contact_expires is not None else self.expires
        if granted <= 0:
            self._end(EXIT_FAILED, "the registrar granted no time")
            return
        self._registered = True
        self._reregister_at = now + refresh_delay(granted)
        if self.profile.sqn_ms is not None and o.sqn is not None:
            self.profile = replace(self.profile, sqn_ms=o.sqn)  # the USIM's new SQN_MS
        if initial:
            if o.associated_uris:  # the default public identity (TS 24.229 §5.1.1.2.1)
                self.impu = str(parse_name_addr(o.associated_uris[0]).uri)
            self.service_route = o.service_routes
            if self.subscribe:
                self._subscribe()

    # -- subscription ----------------------------------------------------------------------
    def _subscribe(self) -> None:
        """TS 24.229 §5.1.1.3: the P-CSCF as outbound proxy, then the Service-Route."""
        sub = Subscription(self.local, self.impu, self.contact,
                           [self.outbound_proxy, *self.service_route],
                           expires=self.subscribe_expires, rng=self.rng)
        self.subscription = sub
        self.outbox.append(sub.start())

    def _notified(self, notified: Notified) -> None:
        self.reports.append(describe(notified.info, notified.state, stale=notified.stale))
        if notified.info is None or notified.stale:
            return
        gone = deregistration(notified.info, self.impu, self.contact)
        if gone is not None:
            self._deregistered(gone)

    def _deregistered(self, gone: Deregistered) -> None:
        self._end(EXIT_DEREGISTERED if gone.may_register_again else EXIT_REJECTED,
                  gone.message)

    def _subscription_moved(self, sub: Subscription, now: float) -> None:
        """Act on a subscription that has ended."""
        if self.ending is not None or sub is not self.subscription or sub.ended is None:
            return
        self.subscription = None
        if sub.refreshes:
            self._resubscribes = 0  # it lived long enough to be refreshed
        self._after_end(sub.ended, sub.confirmed, now)

    def _after_end(self, ended: Ended, confirmed: bool, now: float) -> None:
        """RFC 6665 §4.1.3 (and §4.1.2.2 for a 481 to a refresh): whether, and when, to
        subscribe again."""
        what = f"{ended.status} {ended.reason}" if ended.status else ended.reason
        if ended.status and not confirmed:
            self._end(EXIT_FAILED, f"SUBSCRIBE failed: {what}")
            return
        reason = ended.reason if not ended.status else \
            "timeout" if ended.status == 481 else "giveup"
        if reason in RESUBSCRIBE_AT_ONCE:
            delay = 0.0
        elif reason in RESUBSCRIBE_LATER:
            delay = float(ended.retry_after) if ended.retry_after is not None \
                else RESUBSCRIBE_DELAY
        else:
            self._end(EXIT_FAILED, f"subscription terminated: {what}")
            return
        if self._resubscribes >= MAX_RESUBSCRIBES:
            self._end(EXIT_FAILED, f"subscription terminated: {what} (given up after "
                                   f"{MAX_RESUBSCRIBES} new subscriptions)")
            return
        self._resubscribes += 1
        self.reports.append(f"subscription terminated: {what}; subscribing again"
                            + (f" in {delay:g} s" if delay else ""))
        if delay:
            self._resubscribe_at = now + delay
        else:
            self._subscribe()

    # -- helpers ---------------------------------------------------------------------------
    def _answer(self, request: Request, status: int, reason: str | None = None) -> Response:
        tag = None if request.to_tag is not None else messages.new_tag(self.rng)
        return make_response(request, status, reason, to_tag=tag)

    def _end(self, code: int, message: str) -> None:
        self.ending = Ending(code, message)
        self.outbox.clear()
