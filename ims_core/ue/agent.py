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
Retry-After) is made again, a bounded number of times. With ``deregister`` the run ends
with a de-registration of its own (TS 24.229 §5.1.1.6) instead of just stopping.

Once registered it places the calls and sends the MESSAGEs planned, and all along it
answers the calls and MESSAGEs that reach it (:class:`~ims_core.ue.sessions.Sessions`);
without ``duration`` or ``subscribe`` the run ends when what it placed is over. A call or
MESSAGE that failed makes the exit status EXIT_FAILED. Of :attr:`outbox`, an ACK goes
raw (RFC 3261 §13.2.2.4), everything else in a client transaction (a CANCEL's INVITE
transaction told, §9.1); :attr:`resend` holds 2xx responses to send raw (§13.3.1.4).

With a :class:`~ims_core.ue.protection.Protection` (IPsec, TS 33.203 §7) each
registration exchange sets up a new SA set, the old one is removed a little after the
new one is confirmed, every other request carries Security-Verify and the sec-agree
option tags, and initial requests name the P-CSCF's protected port as outbound proxy.
The adapter carries out ``protection.effects`` before sending what :attr:`outbox` holds
and reports a refused SA set to :meth:`install_failed`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ims_core.sip import (
    Request,
    Response,
    SipParseError,
    make_response,
    parse_name_addr,
    refresh_delay,
)
from ims_core.transaction import TimedOut, TimerConfig, TransportFailed

from . import messages
from .call import CallPlan, MessagePlan
from .challenge import FirstRegister
from .messages import Local
from .profile import UeProfile
from .protection import Protection
from .regevent import Deregistered, deregistration, describe
from .registration import Outcome, Registration
from .sessions import Sessions
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
                 rng: messages.Rng = os.urandom,
                 protection: Protection | None = None,
                 deregister: bool = False,
                 calls: Sequence[CallPlan] = (), texts: Sequence[MessagePlan] = (),
                 timers: TimerConfig | None = None) -> None:
        self.profile = profile
        self.protection = protection
        self.deregister = deregister
        self.local = local
        self.outbound_proxy = outbound_proxy
        self.expires = expires
        self.subscribe = subscribe
        self.subscribe_expires = subscribe_expires
        self.duration = duration
        self.first = first
        self.rng = rng
        self.contact = messages.contact(profile, local)
        self.sessions = Sessions(profile, local, self.contact, rng, calls=calls, texts=texts,
                                 timers=timers)
        self._placing = bool(calls or texts)  # the run ends when they are over
        self.outbox: list[Request] = []
        self.resend: list[Response] = []  # responses to send again outside a transaction
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
        self._deregistering = False  # our own de-registration is under way

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
        if self.sessions.owns(request):
            self._send_all(self.sessions.on_result(request, result, now))
            self._sessions_moved()
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

    def on_response(self, request: Request, response: Response, now: float) -> None:
        """A response to a request from :attr:`outbox` other than the final one
        :meth:`on_result` gets: provisional, or a 2xx to an INVITE again."""
        if self.ending is None and self.sessions.owns(request):
            self._send_all(self.sessions.on_response(request, response, now))
            self._sessions_moved()

    def answer(self, request: Request, now: float) -> list[Response]:
        """The responses to a request from the network, in order (none for an ACK)."""
        sub = self.subscription
        try:
            if sub is not None and sub.matches(request):
                response, notified = sub.on_notify(request, now)
                if notified is not None and self.ending is None:
                    self._notified(notified)
                    self._subscription_moved(sub, now)
                return [response]
            responses = self.sessions.answer(request, now)
            if responses is not None:
                self._sessions_moved()
                return responses
            if request.method == "ACK":
                return []  # nothing answers an ACK (RFC 3261 §17.2.3)
            if request.method == "NOTIFY" or request.to_tag is not None:
                return [self._answer(request, 481)]  # RFC 6665 §4.1.3; RFC 3261 §12.2.2
        except SipParseError as exc:
            if request.method == "ACK":
                return []
            return [self._answer(request, exc.status, exc.reason)]
        return [self.sessions.refusal(request)]

    def on_request(self, request: Request, now: float) -> Response | None:
        """The final response to a request from the network (None for an ACK)."""
        responses = self.answer(request, now)
        return responses[-1] if responses else None

    def install_failed(self, error: str, now: float) -> None:
        """The kernel refused the SA set the last 401 set up: the registration fails."""
        reg = self.registration
        if self.ending is not None:
            return
        if reg is None:
            self._end(EXIT_FAILED, f"IPsec: {error}")
            return
        reg.install_failed(error)
        self._registration_done(reg, now)

    def stop(self, now: float) -> None:
        """SIGINT/SIGTERM: the run ends now (status 0, "stopped"); with ``deregister``, a
        registered UE de-registers first, and a second stop ends it at once."""
        if self.ending is not None:
            return
        if self.deregister and self._registered and not self._deregistering:
            self._until = None
            self._leave()
        else:
            self._end(EXIT_OK, "stopped")

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
                 sub.get_timer() if sub is not None else None,
                 self.protection.get_timer() if self.protection is not None else None,
                 self.sessions.get_timer()]
        return min((t for t in times if t is not None), default=None)

    def handle_timer(self, now: float) -> None:
        if self.ending is not None:
            return
        if self.protection is not None:
            self.protection.handle_timer(now)  # old SA sets retire
        for item in self.sessions.handle_timer(now):
            if isinstance(item, Response):
                self.resend.append(item)
            else:
                self._send(item)
        self._sessions_moved()
        if self.ending is not None:
            return
        if self._until is not None and now >= self._until:
            self._until = None
            if self.deregister:
                self._leave()
            else:
                self._done(f"stayed {self.duration:g} s; still registered")
            return
        if self.registration is None and self._reregister_at is not None \
                and now >= self._reregister_at:
            self._reregister_at = None
            self._register(self._ids)
        sub = self.subscription
        if sub is not None:
            refresh = sub.handle_timer(now)
            if refresh is not None:
                self._send(refresh)
            self._subscription_moved(sub, now)
        if self._resubscribe_at is not None and now >= self._resubscribe_at:
            self._resubscribe_at = None
            self._subscribe()

    # -- registration ----------------------------------------------------------------------
    def _register(self, ids: messages.Dialogless | None, expires: int | None = None) -> None:
        reg = Registration(self.profile, self.local,
                           expires=self.expires if expires is None else expires, ids=ids,
                           first=self.first, rng=self.rng, protection=self.protection)
        self.registration = reg
        self.outbox.append(reg.start())

    def _leave(self) -> None:
        """De-register (TS 24.229 §5.1.1.6): REGISTER with expires 0 for our contact,
        once the exchange under way (a re-registration) has finished."""
        self._deregistering = True
        self._reregister_at = self._resubscribe_at = None
        if self.registration is None:
            self._register(self._ids, expires=0)

    def _registration_done(self, reg: Registration, now: float) -> None:
        """TS 24.229 §5.1.1.4.1: refresh before the granted time runs out."""
        self.registration = None
        self._ids = reg.ids  # RFC 3261 §10.2.4: one Call-ID for every REGISTER
        o = reg.outcome
        if self.protection is not None and o.ok:
            self.protection.retire_old(now)
        if reg.expires == 0:
            if o.ok:
                self._done(f"de-registered: {o.status} {o.reason}")
            else:
                self._end(EXIT_FAILED, f"de-registration failed: {o.status} {o.reason}"
                          + (f" ({o.error})" if o.error else ""))
            return
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
        if self._deregistering:  # asked for while this re-registration was under way
            self._register(self._ids, expires=0)
            return
        self._reregister_at = now + refresh_delay(granted)
        if self.profile.sqn_ms is not None and o.sqn is not None:
            self.profile = replace(self.profile, sqn_ms=o.sqn)  # the USIM's new SQN_MS
        if initial:
            if o.associated_uris:  # the default public identity (TS 24.229 §5.1.1.2.1)
                self.impu = str(parse_name_addr(o.associated_uris[0]).uri)
            self.service_route = o.service_routes
            if self.subscribe:
                self._subscribe()
            self._send_all(self.sessions.start([self.first_hop, *self.service_route],
                                               self.impu, now))
            self._sessions_moved()

    # -- subscription ----------------------------------------------------------------------
    def _subscribe(self) -> None:
        """TS 24.229 §5.1.1.3: the P-CSCF as outbound proxy, then the Service-Route."""
        sub = Subscription(self.local, self.impu, self.contact,
                           [self.first_hop, *self.service_route],
                           expires=self.subscribe_expires, rng=self.rng)
        self.subscription = sub
        self._send(sub.start())

    def _notified(self, notified: Notified) -> None:
        self.reports.append(describe(notified.info, notified.state, stale=notified.stale))
        if notified.info is None or notified.stale:
            return
        gone = deregistration(notified.info, self.impu, self.contact)
        if gone is not None and not self._deregistering:  # not news when we asked for it
            self._deregistered(gone)

    def _deregistered(self, gone: Deregistered) -> None:
        self._end(EXIT_DEREGISTERED if gone.may_register_again else EXIT_REJECTED,
                  gone.message)

    def _subscription_moved(self, sub: Subscription, now: float) -> None:
        """Act on a subscription that has ended."""
        if self.ending is not None or sub is not self.subscription or sub.ended is None:
            return
        self.subscription = None
        if self._deregistering:
            return  # the network ends it as we leave (TS 24.229 §5.1.1.6)
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
    @property
    def first_hop(self) -> str:
        """The outbound proxy of initial requests: with IPsec the P-CSCF's protected
        server port (TS 24.229 §5.1.2A.1.1)."""
        p = self.protection
        proxy = p.outbound_proxy(self.local.transport) if p is not None else None
        return proxy or self.outbound_proxy

    def _send(self, request: Request) -> None:
        """Into :attr:`outbox`, with what sec-agree adds to every request (once: an ACK
        may go again)."""
        if self.protection is not None and "security-verify" not in request.headers:
            for name, value in self.protection.request_headers(request.method):
                request.headers.add(name, value)
        self.outbox.append(request)

    def _send_all(self, requests: Sequence[Request]) -> None:
        for request in requests:
            self._send(request)

    def _sessions_moved(self) -> None:
        """Report what the calls and MESSAGEs did; end a run that was only for them
        once they are over (de-registering first with ``deregister``)."""
        self.reports += self.sessions.reports
        self.sessions.reports.clear()
        if (self.ending is None and self._registered and not self._deregistering
                and self.duration is None and not self.subscribe
                and self.sessions.done and (self._placing or self.deregister)):
            if self.deregister:
                self._leave()
            else:
                self._done("done")

    def _done(self, message: str) -> None:
        """The run's own end: EXIT_OK, unless a call or MESSAGE failed."""
        failed = len(self.sessions.failures)
        if failed:
            self._end(EXIT_FAILED, f"{message}; {failed} call(s)/MESSAGE(s) failed")
        else:
            self._end(EXIT_OK, message)

    def _answer(self, request: Request, status: int, reason: str | None = None) -> Response:
        tag = None if request.to_tag is not None else messages.new_tag(self.rng)
        return make_response(request, status, reason, to_tag=tag)

    def _end(self, code: int, message: str) -> None:
        self.ending = Ending(code, message)
        self.outbox.clear()
