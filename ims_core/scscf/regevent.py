"""The S-CSCF as notifier of the reg event package (RFC 3680; RFC 6665 §4.2; TS 24.229
§5.4.2.1), sans-I/O: who may subscribe, how long for, the dialog each SUBSCRIBE creates,
the reginfo document of every NOTIFY and which change sends one. Time comes in as
``now``; NOTIFYs leave through the ``originate`` callable the core hands in.

Theory of operation — the core routes a SUBSCRIBE here when it is for us (see
``ScscfCore._subscribe``); a subscription lives in its registration
(``Registration.subscriptions``), found by dialog through the store and removed with the
registration. Each NOTIFY carries the full state (``state="full"``) with a version
counted per subscription from 0 (RFC 3680 §5.2): every non-barred identity of the
implicit set, each with every contact. What happens to a subscription (``STEPS``):

    trigger              NOTIFY's Subscription-State       then the subscription
    -------------------  --------------------------------  --------------------------------
    subscribed           active;expires=N                  kept (RFC 6665 §4.2.1.2)
    refreshed            active;expires=N                  kept (§4.2.1.4, §4.2.1.2)
    state changed        active;expires=N                  kept (§4.2.2)
    unsubscribed         terminated;reason=timeout         removed (Expires: 0, §4.2.1.4)
    fetched              terminated;reason=timeout         never kept (§4.4.3)
    expired              terminated;reason=timeout         removed (§4.2.1.4)
    registration ended   terminated;reason=noresource      removed (§4.1.3)
    authorisation lost   terminated;reason=rejected        removed (§4.1.3)
    NOTIFY failed        (none)                            removed (§4.2.2)

A NOTIFY fails on a generated 408 (no answer) or 503 (transport) and on any non-2xx
answer (5xx included), unless the answer carries Retry-After and is not 481 (§4.2.2: a
failure it recovers from; the next NOTIFY, full state again, does). Nothing else happens
to the node.

Contact events (RFC 3680 §5.1) per cause:

    cause                                    event
    ---------------------------------------  ---------------------------------------------
    REGISTER adds / refreshes / removes (0)  registered / refreshed / unregistered
    network re-authentication                shortened (TS 24.229 §5.4.1.6, RFC 3680 §3.1)
    lifetime ran out                         expired
    RTR, third-party REGISTER failure        rejected | deactivated (TS 24.229 §5.4.1.5;
                                             the caller names it)
    identity added to the set (PPR)          created, for that identity
    identity removed or barred (PPR)         rejected; its registration terminated

A contact the change did not touch reads ``registered``.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ims_core import log, reginfo
from ims_core.identity import impu_key
from ims_core.proxy.uac import Originate
from ims_core.reginfo import EVENT_PACKAGE, ContactInfo, RegistrationInfo
from ims_core.sip import (
    Dialog,
    Request,
    Response,
    SipParseError,
    SipUri,
    SubscriptionState,
    TelUri,
    Uri,
    delta_seconds,
    parse_name_addr,
    parse_uri,
)

from .config import RegEventSettings
from .store import Binding, Registration, RegistrationStore, Subscription

_log = log.get("scscf")



class Trigger(enum.Enum):
    SUBSCRIBED = "subscribed"
    REFRESHED = "refreshed"
    STATE_CHANGED = "state changed"
    UNSUBSCRIBED = "unsubscribed"
    FETCHED = "fetched"
    EXPIRED = "expired"
    REGISTRATION_ENDED = "registration ended"
    REJECTED = "authorisation lost"


@dataclass(frozen=True, slots=True)
class Step:
    """What a trigger does: ``ends`` the subscription (the NOTIFY says terminated with
    ``reason``) or leaves it active."""

    ends: bool
    reason: str | None = None


STEPS: dict[Trigger, Step] = {
    Trigger.SUBSCRIBED: Step(False),
    Trigger.REFRESHED: Step(False),
    Trigger.STATE_CHANGED: Step(False),
    Trigger.UNSUBSCRIBED: Step(True, "timeout"),
    Trigger.FETCHED: Step(True, "timeout"),
    Trigger.EXPIRED: Step(True, "timeout"),
    Trigger.REGISTRATION_ENDED: Step(True, "noresource"),
    Trigger.REJECTED: Step(True, "rejected"),
}


@dataclass(frozen=True, slots=True)
class Change:
    """What changed in a registration: ``events`` for contacts still bound (binding key
    → event), ``gone`` the contacts removed (key, binding, event), ``added``/``dropped``
    the identities that came into / left the visible set; ``ended``: the registration is
    over (every identity terminated)."""

    events: Mapping[str, str] = field(default_factory=dict)
    gone: tuple[tuple[str, Binding, str], ...] = ()
    added: frozenset[str] = frozenset()
    dropped: tuple[str, ...] = ()
    ended: bool = False

    def __bool__(self) -> bool:
        return bool(self.events or self.gone or self.added or self.dropped or self.ended)


def removed(gone: Iterable[tuple[str, Binding]], event: str, *, ended: bool = False) -> Change:
    """Contacts that went, all for one reason."""
    return Change(gone=tuple((key, b, event) for key, b in gone), ended=ended)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A registration as subscribers last saw it: its bindings and visible identities."""

    bindings: dict[str, Binding]
    shown: tuple[str, ...]


def snapshot(reg: Registration | None) -> Snapshot | None:
    """None when nobody subscribes: then nothing is copied or compared (the REGISTER path
    of a registration without subscriptions does no extra work)."""
    if reg is None or not reg.subscriptions:
        return None
    return Snapshot(dict(reg.bindings), visible_identities(reg))


def change_since(snap: Snapshot, reg: Registration) -> Change:
    """What a REGISTER (RFC 3261 §10.3 step 7 puts a new Binding in for every contact it
    names) or a new profile changed since *snap*."""
    before, after = snap.bindings, reg.bindings
    events = {key: "registered" if key not in before else "refreshed"
              for key, b in after.items() if before.get(key) is not b}
    gone = tuple((key, b, "unregistered") for key, b in before.items() if key not in after)
    shown = visible_identities(reg)
    return Change(events=events, gone=gone, added=frozenset(shown) - frozenset(snap.shown),
                  dropped=tuple(i for i in snap.shown if i not in shown))


@dataclass(frozen=True, slots=True)
class Notification:
    """A NOTIFY built and counted (CSeq, version), ready to go."""

    key: str
    request: Request
    transport: str
    strict: bool = False  # formed for a strict router first (RFC 3261 §8.1.2)


@dataclass(slots=True)
class Answer:
    """The response to a SUBSCRIBE (status, reason phrase, headers to add) and the NOTIFY
    to send once it is out."""

    status: int
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    then: Notification | None = None


# -- reading a SUBSCRIBE ----------------------------------------------------------------
def bad_event() -> Answer:
    """RFC 6665 §4.2.1.1: an event package we do not serve."""
    return Answer(489, "Bad Event", [("Allow-Events", EVENT_PACKAGE)])


def acceptable(request: Request) -> bool:
    """No Accept, or one that takes ``application/reginfo+xml`` (RFC 3680 §4.5: the one
    format of the package); otherwise 406 (RFC 3261 §21.4.7)."""
    values = request.headers.values("accept")
    if not values:
        return True
    wanted = {"*/*", "application/*", reginfo.CONTENT_TYPE}
    return any(v.split(";", 1)[0].strip().lower() in wanted for v in values)


def lifetime(request: Request, settings: RegEventSettings) -> int | Answer:
    """The subscription's duration (RFC 6665 §4.2.1.1, §4.2.1.4): the package default
    without Expires, 0 to end it, 423 below the minimum, never more than the maximum."""
    try:
        asked = delta_seconds(request.headers.get("expires"))
    except SipParseError:
        return Answer(400, "Bad Expires")
    if asked is None:
        return settings.default_expires
    if 0 < asked < settings.min_expires:
        return Answer(423, "Interval Too Brief", [("Min-Expires", str(settings.min_expires))])
    return min(asked, settings.max_expires)


def subscriber_identities(request: Request) -> list[Uri]:
    """Who subscribes: the P-Asserted-Identity values, else From (TS 24.229 §5.4.2.1.1
    NOTE 1). Raises SipParseError for a malformed one (the proxy core answers 400)."""
    asserted = [a.uri for a in request.addresses("p-asserted-identity")]
    return asserted or [request.from_addr.uri]


def dialog_key(call_id: str, remote_tag: str, local_tag: str) -> str:
    """A dialog id (RFC 3261 §12): Call-ID and tags, none of which may hold ';'."""
    return f"{call_id};{remote_tag};{local_tag}"


# -- authorisation (TS 24.229 §5.4.2.1.1 step 1) ----------------------------------------
def visible_identities(reg: Registration) -> tuple[str, ...]:
    """The identities a NOTIFY shows: the implicit set without the barred ones."""
    return tuple(i for i in reg.identities if i not in reg.barred)


def _host_port(text: str) -> tuple[str, int] | None:
    try:
        uri = parse_name_addr(text).uri
    except SipParseError:
        return None
    return (uri.host.lower(), uri.port or 5060) if isinstance(uri, SipUri) else None


def trusted_hosts(reg: Registration, configured: Iterable[str]) -> frozenset[str]:
    """The configured AS hosts and the hosts of the user's own iFC ServerNames."""
    hosts = {h.lower() for h in configured}
    if reg.profile is not None:
        for sp in reg.profile.service_profiles:
            for ifc in sp.ifcs:
                try:
                    uri = parse_uri(ifc.server_name)
                except SipParseError:
                    continue
                if isinstance(uri, SipUri):
                    hosts.add(uri.host.lower())
    return frozenset(hosts)


def authorised(reg: Registration, who: Iterable[Uri], trusted: frozenset[str],
               domain: str) -> bool:
    """(1) the user: one of its non-barred identities; (2) the P-CSCF: the host:port of a
    Path value of one of its contacts; (3) a trusted AS, by host. A home-domain identity
    is a user's and judged by (1) alone, so an AS or Path host can never stand in for a
    barred or foreign identity."""
    shown = visible_identities(reg)
    paths: set[tuple[str, int]] | None = None
    for uri in who:
        if isinstance(uri, SipUri | TelUri) and impu_key(uri) in shown:
            return True
        if not isinstance(uri, SipUri) or uri.host.lower() == domain.lower():
            continue
        if paths is None:
            paths = {hp for b in reg.bindings.values() for value in b.path
                     if (hp := _host_port(value)) is not None}
        if (uri.host.lower(), uri.port or 5060) in paths or uri.host.lower() in trusted:
            return True
    return False


# -- the reginfo document (RFC 3680 §5) -------------------------------------------------
def _id(*parts: str) -> str:
    """A stable id (RFC 3680 §5.2: the same registration or contact keeps its id). Every
    NOTIFY of a registration asks for the same ones: kept (bounded, emptied when full)."""
    text = "\n".join(parts)
    hit = _IDS.get(text)
    if hit is None:
        if len(_IDS) >= _IDS_MAX:
            _IDS.clear()
        hit = _IDS[text] = hashlib.blake2s(text.encode(), digest_size=6).hexdigest()
    return hit


_IDS_MAX = 32768  # some 5000 subscribers (an id per identity and contact)
_IDS: dict[str, str] = {}


def _contact(aor: str, key: str, b: Binding, event: str, *, active: bool,
             expires: int = 0) -> ContactInfo:
    # TS 24.229 §5.4.2.1.2: <uri> is the bare contact; its header parameters
    # (+sip.instance, reg-id, feature tags) go in <unknown-param> as written.
    # `expires`: the seconds left of an active one (terminated: 0).
    return ContactInfo(id=_id(aor, key), state="active" if active else "terminated",
                       event=event, uri=b.uri, expires=expires if active else 0,
                       params=b.params)


def _live(reg: Registration, change: Change) -> list[tuple[str, Binding]]:
    """The bindings a document shows active, soonest to expire first."""
    live = [] if change.ended else list(reg.bindings.items())
    if len(live) > 1:
        live.sort(key=lambda kb: kb[1].expires_at)
    return live


def registrations(reg: Registration, change: Change, now: float) -> tuple[RegistrationInfo, ...]:
    """Every visible identity with every contact (full state), and the identities that
    left the set, terminated. The model `full_state` writes out (and is held to)."""
    live = _live(reg, change)
    left = [b.remaining(now) for _, b in live]  # the same under every identity
    out = []
    for aor in visible_identities(reg):
        fresh = "created" if aor in change.added else "registered"
        contacts = [_contact(aor, key, b, change.events.get(key, fresh), active=True,
                             expires=expires)
                    for (key, b), expires in zip(live, left, strict=True)]
        contacts += [_contact(aor, key, b, event, active=False)
                     for key, b, event in change.gone]
        out.append(RegistrationInfo(aor, _id(aor), "active" if live else "terminated",
                                    tuple(contacts)))
    for aor in change.dropped:
        out.append(RegistrationInfo(aor, _id(aor), "terminated", tuple(
            _contact(aor, key, b, "rejected", active=False) for key, b in live)))
    return tuple(out)


def full_state(reg: Registration, change: Change, now: float) -> str:
    """`registrations` as a document's elements (`reginfo.encode_registrations`), written
    without building it: once per change, whatever the number of subscribers, and each
    contact's element once for all the identities showing it (only its id differs)."""
    live = _live(reg, change)
    events = change.events
    bodies: dict[tuple[int, str], str] = {}  # (live binding, event) -> contact body

    def active(i: int, b: Binding, event: str) -> str:
        body = bodies.get((i, event))
        if body is None:
            body = bodies[(i, event)] = reginfo.contact_body(
                "active", event, b.uri, b.remaining(now), b.params)
        return body

    gone = [(key, reginfo.contact_body("terminated", event, b.uri, 0, b.params))
            for key, b, event in change.gone]
    state = "active" if live else "terminated"
    out = []
    for aor in visible_identities(reg):
        fresh = "created" if aor in change.added else "registered"
        contacts = [reginfo.contact_element(_id(aor, key), active(i, b, events.get(key, fresh)))
                    for i, (key, b) in enumerate(live)]
        contacts += [reginfo.contact_element(_id(aor, key), body) for key, body in gone]
        out.append(reginfo.registration_element(aor, _id(aor), state, "".join(contacts)))
    if change.dropped:
        rejected = [(key, reginfo.contact_body("terminated", "rejected", b.uri, 0, b.params))
                    for key, b in live]
        for aor in change.dropped:
            out.append(reginfo.registration_element(aor, _id(aor), "terminated", "".join(
                reginfo.contact_element(_id(aor, key), body) for key, body in rejected)))
    return "".join(out)


def notify_request(sub: Subscription, contact: str, state: str, body: bytes) -> Request:
    """The next NOTIFY inside the subscription's dialog (RFC 3261 §12.2.1.1; RFC 6665
    §4.2.2)."""
    return sub.dialog.request("NOTIFY", (
        ("Contact", contact), ("Event", sub.event), ("Subscription-State", state),
        ("Content-Type", reginfo.CONTENT_TYPE)), body)


# -- the notifier ------------------------------------------------------------------------
class Notifier:
    """Subscriptions of one S-CSCF: SUBSCRIBE answers, NOTIFYs for every change."""

    def __init__(self, settings: RegEventSettings, store: RegistrationStore,
                 originate: Originate, *, host: str, port: int, domain: str) -> None:
        self.settings = settings
        self.store = store
        self._originate = originate
        self.host, self.port, self.domain = host, port, domain

    def contact(self, transport: str) -> str:
        """Our Contact in the 200 and the NOTIFYs (we never Record-Route our dialogs)."""
        tp = ";transport=tcp" if transport.upper() == "TCP" else ""
        return f"<sip:{self.host}:{self.port}{tp}>"

    # -- SUBSCRIBE ------------------------------------------------------------------------
    def subscribe(self, request: Request, reg: Registration, resource: str, local_tag: str,
                  transport: str, now: float) -> Answer:
        """An initial SUBSCRIBE for *resource*, an identity of *reg* (TS 24.229
        §5.4.2.1.1 steps 1-3; RFC 6665 §4.2.1.1)."""
        who = subscriber_identities(request)
        if not authorised(reg, who, trusted_hosts(reg, self.settings.trusted_as),
                          self.domain):
            _log.info("scscf.regevent_forbidden", resource=resource,
                      subscriber=[str(u) for u in who])
            return Answer(403, "Forbidden - Not Authorised")
        if not acceptable(request):
            return Answer(406, "Not Acceptable", [("Accept", reginfo.CONTENT_TYPE)])
        expires = lifetime(request, self.settings)
        if isinstance(expires, Answer):
            return expires
        try:
            dialog = Dialog.uas(request, local_tag)
        except SipParseError as exc:
            return Answer(400, f"Bad Request - {exc.reason}")
        call_id, remote_tag = dialog.call_id, dialog.remote_tag or ""
        sub = Subscription(
            key=dialog_key(call_id, remote_tag, local_tag), resource=resource,
            subscriber=tuple(str(u) for u in who), dialog=dialog, transport=transport,
            event=(request.headers.get("event") or EVENT_PACKAGE).strip(),
            expires_at=now + expires)
        if expires == 0:
            return self._accepted(reg, sub, Trigger.FETCHED, now)
        for old in [s for s in reg.subscriptions.values()
                    if s.dialog.call_id == call_id and s.dialog.remote_tag == remote_tag]:
            # The same SUBSCRIBE again outside its dialog (a new one has a new Call-ID,
            # RFC 3261 §8.1.1.4): it replaces the attempt before, never doubles it.
            self.store.remove_subscription(reg, old.key)
        if len(reg.subscriptions) >= self.settings.max_subscriptions:
            return Answer(403, "Forbidden - Too Many Subscriptions")
        reg.subscriptions[sub.key] = sub
        _log.info("scscf.regevent_subscribed", resource=resource, subscriber=sub.subscriber[0],
                  expires=expires, subscriptions=len(reg.subscriptions))
        return self._accepted(reg, sub, Trigger.SUBSCRIBED, now)

    def resubscribe(self, request: Request, now: float) -> Answer:
        """A SUBSCRIBE inside a subscription's dialog: refresh or end it (RFC 6665
        §4.2.1.4); 481 for a dialog we do not know (RFC 3261 §12.2.2)."""
        key = dialog_key(request.call_id, request.from_tag or "", request.to_tag or "")
        reg = self.store.by_dialog(key)
        sub = reg.subscriptions.get(key) if reg is not None else None
        if reg is None or sub is None:
            return Answer(481, "Subscription Does Not Exist")
        expires = lifetime(request, self.settings)
        if isinstance(expires, Answer):
            return expires
        # RFC 3261 §12.2.2: a lower CSeq is refused; SUBSCRIBE refreshes the target.
        if not sub.dialog.accept(request):
            return Answer(500, "Server Internal Error - CSeq Out of Order")
        sub.expires_at = now + expires
        return self._accepted(reg, sub, Trigger.REFRESHED if expires else Trigger.UNSUBSCRIBED,
                              now)

    def _accepted(self, reg: Registration, sub: Subscription, trigger: Trigger,
                  now: float) -> Answer:
        """200 with Contact and Expires; the full state follows at once (§4.2.1.2)."""
        notification = self._notify(reg, sub, trigger, full_state(reg, Change(), now), now)
        if not STEPS[trigger].ends:
            self.store.save(reg)  # the subscription, its expiry and counters
        return Answer(200, headers=[("Contact", self.contact(sub.transport)),
                                    ("Expires", str(sub.remaining(now)))], then=notification)

    # -- changes ------------------------------------------------------------------------
    def changed(self, reg: Registration, change: Change, now: float) -> None:
        """NOTIFY every subscriber of *reg* (RFC 6665 §4.2.2); *change* ended: the final
        NOTIFY of each (the caller then removes the registration)."""
        if not reg.subscriptions or not change:
            return
        trigger = Trigger.REGISTRATION_ENDED if change.ended else Trigger.STATE_CHANGED
        elements = full_state(reg, change, now)  # the same for every subscriber
        out = [self._notify(reg, sub, trigger, elements, now)
               for sub in list(reg.subscriptions.values())]
        if not change.ended:
            self.store.save(reg)
        for notification in out:
            self.send(notification, now)

    def reauthorise(self, reg: Registration, now: float) -> None:
        """After a profile change: subscribers no longer allowed (a barred identity, an
        AS whose iFC went) get a final NOTIFY without state (RFC 6665 §4.2.1.4 lets it
        be empty: they may no longer see it)."""
        trusted = trusted_hosts(reg, self.settings.trusted_as)
        for sub in list(reg.subscriptions.values()):
            try:
                who = [parse_uri(u) for u in sub.subscriber]
            except SipParseError:
                who = []
            if not authorised(reg, who, trusted, self.domain):
                _log.info("scscf.regevent_rejected", resource=sub.resource,
                          subscriber=sub.subscriber[0] if sub.subscriber else None)
                self.send(self._notify(reg, sub, Trigger.REJECTED, "", now), now)

    def expire(self, now: float) -> None:
        """Subscriptions not refreshed in time (RFC 6665 §4.2.1.4)."""
        for reg, sub in self.store.due_subscriptions(now):
            if sub.expires_at > now:  # refreshed meanwhile: keep it scheduled
                self.store.save(reg)
                continue
            elements = full_state(reg, Change(), now)
            self.send(self._notify(reg, sub, Trigger.EXPIRED, elements, now), now)

    # -- NOTIFY -------------------------------------------------------------------------
    def _notify(self, reg: Registration, sub: Subscription, trigger: Trigger,
                elements: str, now: float) -> Notification:
        """The next NOTIFY of *sub*, its document around *elements* (`full_state`); a
        step that ends it takes it out of the store first, so no later change can notify
        it again."""
        step = STEPS[trigger]
        if step.ends:
            self.store.remove_subscription(reg, sub.key)
            state = SubscriptionState("terminated", reason=step.reason)
        else:
            state = SubscriptionState("active", expires=sub.remaining(now))
        body = reginfo.document(sub.version, "full", elements)
        sub.version += 1
        request = notify_request(sub, self.contact(sub.transport), str(state), body)
        return Notification(sub.key, request, sub.transport, sub.dialog.strict_first)

    def send(self, notification: Notification, now: float) -> None:
        key = notification.key

        def answered(response: Response, now: float) -> None:
            status = response.status
            if 200 <= status < 300:
                return
            if status != 481 and not response.generated and "retry-after" in response.headers:
                return  # RFC 6665 §4.2.2: a failure it recovers from; the next NOTIFY will
            self._drop(key, f"NOTIFY answered {status}")

        if not self._originate(notification.request, answered, now,
                               transport=notification.transport, strict=notification.strict):
            self._drop(key, "NOTIFY has nowhere to go")

    def _drop(self, key: str, why: str) -> None:
        """RFC 6665 §4.2.2: a failed NOTIFY ends its subscription, and nothing else."""
        reg = self.store.by_dialog(key)
        if reg is not None and self.store.remove_subscription(reg, key) is not None:
            _log.info("scscf.regevent_dropped", impu=reg.impu, why=why)
