"""The P-CSCF as subscriber to the reg event package (TS 24.229 §5.2.3, §5.2.5;
RFC 3680; RFC 6665), sans-I/O.

After the 200 (OK) to a UE's initial REGISTER the P-CSCF subscribes to the reg event of
the UE's public identity (its first P-Associated-URI), along the Service-Route of that
200, and keeps the subscription alive while any UE with that identity is registered
here: one subscription per identity, never a second one for a refresh or another UE.
Initial is per identity and flow (the store keeps a record per flow and registered
identity): an identity registering over a flow that already carries others is initial.

Each subscription is a state machine (`TRANSITIONS`); an event without an entry is
stale (the answer to a SUBSCRIBE the subscription has moved past) and changes nothing:

    state        event                                   action     next
    -----------  --------------------------------------  ---------  -----------
    WAITING      timer                                   SUBSCRIBE  SUBSCRIBING
    SUBSCRIBING  2xx with To tag and Contact             CONFIRM    ACTIVE
    SUBSCRIBING  failure (3xx-6xx, 408, 503), bad 2xx    RESTART    WAITING
    ACTIVE       timer                                   REFRESH    REFRESHING
    ACTIVE       timer, the notifier's side has lapsed   SUBSCRIBE  SUBSCRIBING
    REFRESHING   2xx                                     CONFIRM    ACTIVE
    REFRESHING   failure but 481 (RFC 6665 §4.1.2.2)     BACK_OFF   ACTIVE
    REFRESHING   481                                     RESTART    WAITING
    in flight    timer                                   WAIT       (the same)
    any          NOTIFY terminated, reason deactivated,  RESTART    WAITING
                 timeout or probation, still registered

SUBSCRIBE starts a new dialog along the Service-Route; REFRESH stays in the dialog;
CONFIRM keeps the grant and sets the refresh timer (`refresh_delay`, the UE's rule too:
600 s before the end of a grant over 1200 s, else half-way through, TS 24.229 §5.2.3);
BACK_OFF and RESTART (which ends the dialog) set the retry timer (`retry_delay`:
`retry_min` doubling per failure in a row, at most `retry_max`). A subscription is
forgotten — no state, no timer — when a NOTIFY ends it otherwise, or when no UE with its
identity is registered here any more (the S-CSCF ends its side, RFC 3680 §3.3).

A NOTIFY in one of our dialogs is answered here (`on_notify`). What it says about
bindings is applied to the registration store at once: a registration element in state
`terminated` ends that identity for the registrations holding it (the whole registration
when it is its registered or default identity, or its last; other identities registered
over the same flow stay), and a contact in state
`terminated` (whatever its event) and active under no other identity removes that binding
(§5.2.5), so the UE's next request is refused and requests towards it find no contact.
For `DEPARTED_GRACE` seconds the lost bindings stay in `departed`, where only the
requests of existing dialogs look (the S-CSCF's NOTIFY to the UE itself among them).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace

from ims_core import log
from ims_core.deadlines import DeadlineHeap
from ims_core.identity import impu_key, uri_key
from ims_core.proxy.uac import Originate
from ims_core.reginfo import CONTENT_TYPE, EVENT_PACKAGE, Reginfo, ReginfoError
from ims_core.reginfo import parse as parse_reginfo
from ims_core.sip import (
    Dialog,
    Request,
    Response,
    SipParseError,
    SubscriptionState,
    parse_subscription_state,
    refresh_delay,
    response_expires,
    response_retry_after,
)

from .config import RegEventConfig
from .registrations import (
    MemoryRegistrationStore,
    Registration,
    RegistrationStore,
    drop_bindings,
    drop_identities,
    flow_text,
)

_log = log.get("pcscf")

# A UE a NOTIFY removed still gets the requests of its dialogs over its flow this long
# (64*T1): above all the S-CSCF's NOTIFY that tells the UE itself, which may come just
# after ours (TS 24.229 §5.2.5.1: the UE's security associations go only after it).
DEPARTED_GRACE = 32.0
# RFC 6665 §4.1.3: after these reasons a new subscription is worth a try.
RESUBSCRIBE_REASONS = frozenset({"deactivated", "timeout", "probation"})



def retry_delay(settings: RegEventConfig, failures: int, retry_after: int | None = None) -> float:
    """The back-off after `failures` failures in a row (1 = the first): `retry_min`
    doubling each time, a Retry-After as a floor, at most `retry_max`."""
    delay = settings.retry_min * 2.0 ** min(max(failures - 1, 0), 32)
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return min(delay, settings.retry_max)


class State(enum.Enum):
    WAITING = "waiting"  # no dialog; a new one is tried at the timer
    SUBSCRIBING = "subscribing"  # an initial SUBSCRIBE in flight
    ACTIVE = "active"  # a dialog; its refresh (or the retry of one) at the timer
    REFRESHING = "refreshing"  # a SUBSCRIBE within the dialog in flight


class Event(enum.Enum):
    DUE = "timer"
    LAPSED = "timer, lapsed"  # the notifier's side has expired meanwhile
    OK = "2xx"
    FAILED = "failure"  # 3xx-6xx but 481, a generated 408/503, nowhere to send
    GONE = "gone"  # 481, or a 2xx that sets up no dialog
    RETRY = "terminated, retry"  # RFC 6665 §4.1.3: a new subscription is worth a try


class Action(enum.Enum):
    SUBSCRIBE = "subscribe"
    REFRESH = "refresh"
    CONFIRM = "confirm"
    BACK_OFF = "back off"
    RESTART = "restart"
    WAIT = "wait"


TRANSITIONS: dict[tuple[State, Event], tuple[Action, State]] = {
    (State.WAITING, Event.DUE): (Action.SUBSCRIBE, State.SUBSCRIBING),
    (State.SUBSCRIBING, Event.OK): (Action.CONFIRM, State.ACTIVE),
    (State.SUBSCRIBING, Event.FAILED): (Action.RESTART, State.WAITING),
    (State.SUBSCRIBING, Event.GONE): (Action.RESTART, State.WAITING),
    (State.SUBSCRIBING, Event.DUE): (Action.WAIT, State.SUBSCRIBING),
    (State.SUBSCRIBING, Event.RETRY): (Action.RESTART, State.WAITING),
    (State.ACTIVE, Event.DUE): (Action.REFRESH, State.REFRESHING),
    (State.ACTIVE, Event.LAPSED): (Action.SUBSCRIBE, State.SUBSCRIBING),
    (State.ACTIVE, Event.RETRY): (Action.RESTART, State.WAITING),
    (State.REFRESHING, Event.OK): (Action.CONFIRM, State.ACTIVE),
    (State.REFRESHING, Event.FAILED): (Action.BACK_OFF, State.ACTIVE),
    (State.REFRESHING, Event.GONE): (Action.RESTART, State.WAITING),
    (State.REFRESHING, Event.DUE): (Action.WAIT, State.REFRESHING),
    (State.REFRESHING, Event.RETRY): (Action.RESTART, State.WAITING),
}
IN_FLIGHT = frozenset({State.SUBSCRIBING, State.REFRESHING})


@dataclass(slots=True, eq=False)
class Subscription:
    """One reg event subscription of ours (RFC 6665 §4.1.2), in `state`. `aor` is the
    subscribed identity (Request-URI and To of the initial SUBSCRIBE), `service_route` its
    Route. `dialog`: the dialog of the latest initial SUBSCRIBE (RFC 3261 §12; None while
    WAITING). `expires_at`: when the notifier's side lapses. `version`: the last reginfo
    version applied (RFC 3680 §5.2.1)."""

    aor: str
    key: str
    service_route: tuple[str, ...]
    dialog: Dialog | None = None
    expires_at: float | None = None
    version: int = -1
    failures: int = 0
    state: State = State.WAITING

    @property
    def established(self) -> bool:
        return self.dialog is not None and self.dialog.established


@dataclass(frozen=True, slots=True)
class NotifyAnswer:
    """How to answer a NOTIFY: status, reason phrase (None: the standard one) and any
    further headers."""

    status: int
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


class RegEventSubscriber:
    """Our reg event subscriptions, by identity key; see the module docstring.
    `originate` sends a request of ours, `local_uri()` is our `sip:host:port` (From,
    P-Asserted-Identity, Contact: the host:port of our Path), `rng` draws tags and
    Call-IDs. NOTIFYs change `store`."""

    def __init__(self, settings: RegEventConfig, store: RegistrationStore,
                 originate: Originate, local_uri: Callable[[], str],
                 rng: Callable[[int], bytes]) -> None:
        self.settings = settings
        self.store = store
        self._originate = originate
        self._local_uri = local_uri
        self._rng = rng
        self._subs: dict[str, Subscription] = {}
        self._by_dialog: dict[tuple[str, str], Subscription] = {}
        self._timers: DeadlineHeap[Subscription] = DeadlineHeap()
        # What NOTIFYs removed, each binding kept DEPARTED_GRACE seconds (`departed`).
        self.departed: RegistrationStore = MemoryRegistrationStore()

    def __len__(self) -> int:
        return len(self._subs)

    def get(self, identity: str) -> Subscription | None:
        return self._subs.get(impu_key(identity))

    # -- starting and forgetting ---------------------------------------------------------
    def subscribe(self, reg: Registration, now: float,
                  at: float | None = None) -> Subscription | None:
        """TS 24.229 §5.2.3: subscribe to the reg event of `reg`'s default public
        identity along its Service-Route, unless configured off or already subscribed.
        `at`: send the SUBSCRIBE at that time (a timer) rather than now, e.g. for a
        registration restored before the transport is up (persist.py)."""
        if not self.settings.subscribe:
            return None
        aor = reg.default_impu
        key = impu_key(aor)
        if key in self._subs:
            return None  # one subscription per identity, whatever registers it again
        if not reg.service_route:
            _log.warning("pcscf.regevent_no_service_route", impu=aor)
            return None
        sub = Subscription(aor, key, reg.service_route)
        self._subs[key] = sub
        if at is None:
            self._step(sub, Event.DUE, now)
        else:
            self._timers.set(sub, at)  # WAITING: the timer sends it
        return sub

    def release_unused(self, reg: Registration) -> None:
        """`reg` is gone from the store: forget the subscriptions of its identities that
        no registered UE has any more (locally only: the S-CSCF ends its side when the
        registration ends, RFC 3680 §3.3)."""
        for identity in (*reg.impus, reg.registered_impu):
            sub = self._subs.get(impu_key(identity))
            if sub is not None and not self.store.by_impu(sub.aor):
                _log.debug("pcscf.regevent_forgotten", impu=sub.aor)
                self._forget(sub)

    def _forget(self, sub: Subscription) -> None:
        if self._subs.get(sub.key) is sub:
            del self._subs[sub.key]
        self._timers.discard(sub)
        self._end_dialog(sub)

    def _end_dialog(self, sub: Subscription) -> None:
        dialog = sub.dialog
        if dialog is not None and self._by_dialog.get((dialog.call_id, dialog.local_tag)) is sub:
            del self._by_dialog[(dialog.call_id, dialog.local_tag)]
        sub.dialog = sub.expires_at = None
        sub.version = -1

    # -- timers --------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        mine, departed = self._timers.peek(), self.departed.next_expiry()
        if mine is None or departed is None:
            return departed if mine is None else mine
        return departed if departed < mine else mine

    def handle_timer(self, now: float) -> None:
        self.departed.expire(now)
        for sub in self._timers.pop_due(now):
            lapsed = sub.state is State.ACTIVE and sub.expires_at is not None \
                and now >= sub.expires_at
            self._step(sub, Event.LAPSED if lapsed else Event.DUE, now)

    # -- the state machine ---------------------------------------------------------------
    def _step(self, sub: Subscription, event: Event, now: float, *,
              granted: int = 0, retry_after: int | None = None,
              status: int | None = None) -> None:
        entry = TRANSITIONS.get((sub.state, event))
        if entry is None:
            return  # stale: the subscription has moved past what this event answers
        action, sub.state = entry
        if action is Action.SUBSCRIBE:
            self._end_dialog(sub)
            # Before its 2xx the dialog describes the initial SUBSCRIBE: to the identity,
            # along the Service-Route (RFC 3261 §8.1.2).
            sub.dialog = dialog = Dialog(
                call_id=f"{self._rng(10).hex()}@regevent", local_uri=f"<{self._local_uri()}>",
                local_tag=self._rng(6).hex(), remote_uri=f"<{sub.aor}>", remote_target=sub.aor,
                route_set=sub.service_route)
            self._by_dialog[(dialog.call_id, dialog.local_tag)] = sub
            self._send(sub, dialog, now)
        elif action is Action.REFRESH and sub.dialog is not None:
            self._send(sub, sub.dialog, now)
        elif action is Action.CONFIRM:
            sub.failures = 0
            self._granted(sub, granted, now)
            _log.debug("pcscf.regevent_subscribed", impu=sub.aor, expires=granted)
        elif action is Action.WAIT:  # the answer comes within 64*T1 and sets the timer
            self._timers.set(sub, now + self.settings.retry_min)
        else:  # BACK_OFF, RESTART
            if action is Action.RESTART:
                self._end_dialog(sub)
            sub.failures += 1
            delay = retry_delay(self.settings, sub.failures, retry_after)
            self._timers.set(sub, now + delay)
            _log.warning("pcscf.regevent_retry", impu=sub.aor, cause=event.value,
                         status=status, failures=sub.failures, retry_in=round(delay))

    def _granted(self, sub: Subscription, granted: int, now: float) -> None:
        """The notifier keeps the subscription for `granted` seconds (RFC 6665
        §4.1.2.1, §4.1.2.3): refresh in time, unless a SUBSCRIBE is in flight."""
        sub.expires_at = now + granted
        if sub.state is State.ACTIVE:
            self._timers.set(sub, now + refresh_delay(granted))

    # -- SUBSCRIBE -----------------------------------------------------------------------
    def _send(self, sub: Subscription, dialog: Dialog, now: float) -> None:
        """The SUBSCRIBE (RFC 6665 §4.1.2; TS 24.229 §5.2.3): initial along the
        Service-Route, or a refresh within the dialog (RFC 3261 §12.2.1.1)."""
        me = f"<{self._local_uri()}>"
        request = dialog.request("SUBSCRIBE", (
            ("P-Asserted-Identity", me), ("Contact", me), ("Event", EVENT_PACKAGE),
            ("Accept", CONTENT_TYPE), ("Expires", str(self.settings.expires))))
        cseq = dialog.local_cseq

        def on_response(response: Response, now: float) -> None:
            if self._subs.get(sub.key) is not sub or sub.dialog is not dialog \
                    or dialog.local_cseq != cseq or sub.state not in IN_FLIGHT:
                return  # forgotten, or moved past this SUBSCRIBE
            self._answered(sub, dialog, response, now)

        if not self._originate(request, on_response, now, strict=dialog.strict_first):
            _log.warning("pcscf.regevent_no_route", impu=sub.aor)
            self._step(sub, Event.FAILED, now)

    def _answered(self, sub: Subscription, dialog: Dialog, response: Response,
                  now: float) -> None:
        """The final response to our SUBSCRIBE in flight. A 2xx sets up the dialog
        (RFC 3261 §12.1.2; unless a NOTIFY came first, RFC 6665 §4.1.2.4), else refreshes
        its target (§12.2.1.2), and says how long it lasts (Expires; 0 ends it at once,
        not what we asked for)."""
        status = response.status
        if not 200 <= status < 300:
            event = Event.GONE if status == 481 else Event.FAILED
            self._step(sub, event, now, status=status,
                       retry_after=response_retry_after(response))
            return
        try:
            if dialog.established:
                dialog.refresh_target(response)
            else:
                dialog.establish_by_response(response)
            usable = True
        except SipParseError:  # no To tag, no or a bad Contact
            usable = False
        granted = response_expires(response)
        if granted is None:
            granted = self.settings.expires
        if not usable or granted <= 0:
            _log.warning("pcscf.regevent_bad_2xx", impu=sub.aor, call_id=dialog.call_id)
            self._step(sub, Event.GONE, now, status=status)
            return
        self._step(sub, Event.OK, now, granted=granted)

    # -- NOTIFY --------------------------------------------------------------------------
    def on_notify(self, request: Request, now: float) -> NotifyAnswer:
        """A NOTIFY for us (Event: reg), RFC 6665 §4.1.3: 481 outside our dialogs, 400
        for a bad Subscription-State or body (nothing changes), 415 for another body
        type, 500 for a CSeq lower than the last (RFC 3261 §12.2.2); else the document is
        applied and the answer is 200. Raises SipParseError for a malformed
        From/To/Call-ID/CSeq/Contact (the proxy core answers 400)."""
        sub = self._by_dialog.get((request.call_id, request.to_tag or ""))
        dialog = sub.dialog if sub is not None else None
        if sub is None or dialog is None or not dialog.matches(request):
            return NotifyAnswer(481)
        try:
            state = parse_subscription_state(request.headers.get("subscription-state") or "")
        except SipParseError:
            return NotifyAnswer(400, "Bad Subscription-State")
        info: Reginfo | None = None
        if request.body:
            ctype = (request.headers.get("content-type") or "").split(";", 1)[0]
            if ctype.strip(" \t").lower() != CONTENT_TYPE:
                return NotifyAnswer(415, None, (("Accept", CONTENT_TYPE),))
            try:
                info = parse_reginfo(request.body)
            except ReginfoError as exc:
                _log.info("pcscf.regevent_bad_body", impu=sub.aor, reason=str(exc))
                return NotifyAnswer(400, "Bad reginfo")
        # RFC 3261 §12.2.2 (and §12.1.1 for a NOTIFY before the 2xx, RFC 6665 §4.1.2.4)
        if not dialog.accept(request):
            return NotifyAnswer(500, "CSeq Out of Order")
        if info is not None and info.version > sub.version:  # RFC 3680 §5.2.1
            sub.version = info.version
            self._apply(sub, info, now)
        if self._subs.get(sub.key) is not sub:
            return NotifyAnswer(200)  # no UE of the identity left: forgotten
        if state.terminated:
            self._terminated(sub, state, now)
        elif state.expires:  # RFC 6665 §4.1.2.3: the notifier's word counts
            self._granted(sub, state.expires, now)
        return NotifyAnswer(200)

    def _terminated(self, sub: Subscription, state: SubscriptionState, now: float) -> None:
        """RFC 6665 §4.1.3 / RFC 3680 §3.3: the notifier ended the subscription. After
        `deactivated`, `timeout` or `probation` a new one is tried (with the back-off)
        while a UE with the identity is still registered; otherwise it is forgotten."""
        _log.info("pcscf.regevent_terminated", impu=sub.aor, reason=state.reason)
        if state.reason in RESUBSCRIBE_REASONS and self.store.by_impu(sub.aor):
            self._step(sub, Event.RETRY, now, retry_after=state.retry_after)
        else:
            self._forget(sub)

    def _apply(self, sub: Subscription, info: Reginfo, now: float) -> None:
        """TS 24.229 §5.2.5: drop what the notifier says is over (`ended`), within the
        UEs registered with the subscribed identity (never anyone else's)."""
        identities, contacts = ended(info)
        if not identities and not contacts:
            return  # the usual NOTIFY (a refresh, a new contact): nothing to drop
        removed: list[Registration] = []
        for reg in self.store.by_impu(sub.aor):
            after = drop_identities(self.store, reg, identities)
            if after is not None:
                after = drop_bindings(self.store, after, contacts)
            self._depart(reg, after, now)
            if after is None:
                removed.append(reg)
                _log.info("pcscf.network_deregistered", impu=reg.registered_impu,
                          flow=flow_text(reg.flow))
            elif after is not reg:
                _log.info("pcscf.network_update", impu=reg.registered_impu,
                          impus=len(after.impus), bindings=len(after.bindings))
        for reg in removed:
            self.release_unused(reg)


    def _depart(self, reg: Registration, after: Registration | None, now: float) -> None:
        """Keep the bindings `reg` lost for `DEPARTED_GRACE` seconds in `departed`: where
        the requests of the UE's dialogs still go (never new ones: the store decides)."""
        kept = {b.uri for b in after.bindings} if after is not None else set()
        gone = [replace(b, expires=now + DEPARTED_GRACE) for b in reg.bindings
                if b.uri not in kept]
        if not gone:
            return
        earlier = self.departed.get(reg.key)
        known = {b.uri for b in gone}
        gone += [b for b in (earlier.bindings if earlier else ()) if b.uri not in known]
        self.departed.save(replace(reg, bindings=tuple(gone)))


def ended(info: Reginfo) -> tuple[set[str], set[str]]:
    """What a reginfo document says is over (TS 24.229 §5.2.5): the public identities
    (`impu_key`) of its registration elements in state `terminated`, and the contacts
    (`uri_key`) it shows `terminated`, whatever the event, and active nowhere (the
    identities of an implicit set share their contacts, so a contact that only left one
    of them stays). What does not parse is passed over."""
    identities: set[str] = set()
    over: set[str] = set()
    alive: set[str] = set()
    keys: dict[str, str] = {}  # each identity of a set lists the same contacts
    for element in info.registrations:
        terminated = element.state == "terminated"
        try:
            if terminated:
                identities.add(impu_key(element.aor))
        except SipParseError:
            pass
        for contact in element.contacts:
            key = keys.get(contact.uri)
            if key is None:
                try:
                    key = keys[contact.uri] = uri_key(contact.uri)
                except SipParseError:
                    continue
            (alive if contact.state == "active" and not terminated else over).add(key)
    return identities, over - alive
