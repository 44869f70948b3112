"""The S-CSCF core (TS 24.229 §5.4), sans-I/O: the registrar, on top of the session
routing of :class:`~.session.SessionCore`.

Theory of operation — a REGISTER (never forwarded) goes through these states; each
Cx step returns ``None`` from ``route_request`` and finishes in the answer callback:

    state             input                               → action / next
    ----------------  ----------------------------------  ------------------------------
    received          no usable credentials               → MAR → CHALLENGED (401)
                      (no Authorization, empty nonce,
                      or a nonce we do not know)
    received          auts=… (TS 33.203 §6.1.2.3)         → MAR RAND‖AUTS → CHALLENGED
    received          known nonce, past stale_at          → 401 stale=true (fresh MAR)
                                                            if the response is right,
                                                            else 403
    received          known nonce, response empty/wrong   → 403 (nonce discarded); SAR
                                                            AUTHENTICATION_FAILURE when
                                                            no registration exists
    received          known nonce, response right         → AUTHENTICATED (nonce used)
    AUTHENTICATED     contacts to add/refresh             → SAR REGISTRATION or
                                                            RE_REGISTRATION → 200
    AUTHENTICATED     all contacts expire / Contact: *    → bindings removed → 200;
                                                            SAR USER_DEREGISTRATION when
                                                            the last one goes
    AUTHENTICATED     no Contact                          → 200 listing the bindings
    CHALLENGED        never answered (purged)             → SAR AUTHENTICATION_TIMEOUT
                                                            when no registration exists

Which scheme the MAR asks for comes from the first REGISTER (:func:`.cx.scheme_for`): a
softphone's (no Authorization) gets SIP Digest, asked again as Unknown in the same
REGISTER when the HSS answers 5006 (the subscriber has no MD5); a 3GPP UE's empty
Authorization gets the subscriber's own scheme. The two authentication SARs release the
S-CSCF the MAR assigned (TS 29.228 §6.1.2, TS 24.229 §5.4.1.2.3).

A registration refresh always sends SAR RE_REGISTRATION (with
User-Data-Already-Available = 1): the HSS stays in step with every refresh at the cost
of one Cx round trip. When a binding's last contact expires, ``handle_timer`` sends SAR
TIMEOUT_DEREGISTRATION. Every Cx failure is answered through ``ims_core.cscf.cxresult``
with a Reason header; an HSS that does not answer gets the REGISTER a 504 at the Diameter
request timeout.

A SUBSCRIBE for the reg event package of an identity registered here (on any leg), and
any SUBSCRIBE inside a dialog of ours (Request-URI = our Contact), is answered here by
the notifier (:mod:`.regevent`); registration changes NOTIFY its subscribers: a
REGISTER (the copy of the bindings it compares with is made only when someone
subscribes), expiry, the user's de-registration, ``network_deregister`` (RTR, a failed
third-party REGISTER), ``update_profile`` (PPR) and ``reauthenticate``.

Other requests: in-dialog ones follow their route set; initial ones are routed per leg
(originating or terminating, iFCs, Record-Route) by :class:`~.session.SessionCore`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import ClassVar

from ims_core import log
from ims_core.cscf import CxOutcome, CxVerdict, Procedure, verdict
from ims_core.diameter import CxResult, DiameterUnavailable, Message
from ims_core.identity import impi_from_impu, impu_key, to_uri
from ims_core.metrics import SipMetrics
from ims_core.persist import Backend, Journal
from ims_core.proxy import RequestContext, Target, top_route
from ims_core.proxy.uac import OnResponse
from ims_core.reginfo import EVENT_PACKAGE
from ims_core.sip import AuthHeader, Request, Response, SipUri, event_package
from ims_core.sip.ids import unique_bytes
from ims_core.userdata import Ifc, Profile, RegistrationType, UserDataError
from ims_core.userdata import parse as parse_user_data

from . import cx, cxserver, digest, gauges, persist, regevent, registrar, thirdparty
from .calls import CallTracker
from .config import ScscfConfig
from .cx import AssignmentType
from .legs import ORIG, is_home, leg_of
from .registrar import ContactUpdate, RegisterError
from .session import SessionCore
from .state import Registering, ScscfRequest
from .store import Binding, Challenge, MemoryStore, Registration, RegistrationStore

_log = log.get("scscf")
_Route = Target | Sequence[Target] | Response | None
_Ctx = RequestContext[ScscfRequest]
_OnAnswer = Callable[[CxOutcome, float], None]
ALLOW = ("INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, PRACK, UPDATE, MESSAGE, INFO, "
         "SUBSCRIBE")


class ScscfCore(SessionCore):
    """The S-CSCF; see the module docstring."""

    allow: ClassVar[str] = ALLOW  # OPTIONS to us (RFC 3261 §11.2)
    supported: ClassVar[str] = "path"  # RFC 3327

    def bind_metrics(self, metrics: SipMetrics) -> None:
        """What the registration and call gauges read (gauges.py). A method, not the
        function assigned in the class body: a compiled class would not bind that."""
        gauges.bind_metrics(self, metrics)

    def __init__(self, config: ScscfConfig, store: RegistrationStore | None = None, *,
                 rng: Callable[[int], bytes] = unique_bytes,
                 nonce_rng: Callable[[int], bytes] = os.urandom) -> None:
        super().__init__(config.scscf_proxy_config(), config.diameter, config.timer_config(),
                         rng=rng, overload=config.overload)
        self.nonce_rng = nonce_rng  # MD5 nonces: unguessable (RFC 2617 §3.2.1), not `rng`
        self.cfg = config
        self.settings = config.registrar
        self.realm = config.domain
        self.store: RegistrationStore = store if store is not None else MemoryStore(
            config.registrar.max_challenges_per_user)
        self.notifier = regevent.Notifier(
            config.regevent, self.store,
            self.originate,
            host=self.config.host, port=self.config.port, domain=config.domain)
        self.calls = CallTracker()  # the INVITE dialogs in progress (calls.py)
        self._clock = persist.Clock()  # loop → wall time of stored records ([persist])
        self._restored = persist.Restored(0, [], [])
        self._lapsed_poll = 0.0  # when to look again whether Diameter is up for them

    # -- timers: registration and subscription expiry, challenge purge --------------------
    def get_timer(self) -> float | None:
        mine = self.store.next_deadline()
        if self._restored.lapsed:
            mine = self._lapsed_poll if mine is None else min(mine, self._lapsed_poll)
        theirs = super().get_timer()
        if mine is None or (theirs is not None and theirs < mine):
            return theirs
        return mine

    def handle_timer(self, now: float) -> None:
        super().handle_timer(now)
        self._auth_timeouts(self.store.purge(now), now)
        if self._restored.lapsed:
            self._lapsed(now)
        for reg in self.store.due(now):
            gone = reg.drop_expired(now)
            if not reg.bindings:  # RFC 3261 §10.3 / TS 29.228 §6.1.2: it timed out
                self._finish(reg, gone, "expired", AssignmentType.TIMEOUT_DEREGISTRATION, now)
                continue
            self.store.save(reg)
            if reg.subscriptions:
                self.notifier.changed(reg, regevent.removed(gone, "expired"), now)
        self.notifier.expire(now)
        self.calls.expire(now)

    # -- persistence (ims_core.persist.Persistent; .persist) -------------------------------
    def restore(self, backend: Backend, wall_now: float, loop_now: float) -> int:
        """Before serving: the registrations saved before a restart, back in the store."""
        self._clock = persist.Clock(wall_now - loop_now)
        self._restored = persist.restore(self.store, backend, self._clock, loop_now)
        self._lapsed_poll = loop_now
        return self._restored.live

    def attach_journal(self, journal: Journal) -> None:
        self.store.attach_journal(journal, partial(persist.encode, clock=self._clock))
        for key in self._restored.stale:
            journal.delete(persist.KIND, key)

    def _lapsed(self, now: float) -> None:
        """Registrations that expired while we were down: SAR TIMEOUT_DEREGISTRATION
        (TS 29.228 §6.1.2) once Diameter is up, as the expiry would have sent; their
        subscribers still within their subscription get the final NOTIFY."""
        if not self.diameter_ready:
            self._lapsed_poll = now + 1.0
            return
        lapsed, self._restored.lapsed = self._restored.lapsed, []
        for reg in lapsed:
            if self.store.get(reg.impu) is not None:  # registered again meanwhile: current
                continue
            for key in [k for k, sub in reg.subscriptions.items() if sub.expires_at <= now]:
                del reg.subscriptions[key]
            self._finish(reg, reg.drop_expired(now), "expired",
                         AssignmentType.TIMEOUT_DEREGISTRATION, now)

    def _auth_timeouts(self, forgotten: list[Challenge], now: float) -> None:
        """TS 24.229 §5.4.1.2.3 / TS 29.228 §6.1.2: challenges never answered. For a user
        with no registration here and no newer challenge pending, SAR
        AUTHENTICATION_TIMEOUT releases the S-CSCF name the MAR stored."""
        done: set[tuple[str, str]] = set()
        for ch in forgotten:
            who = (ch.impi, ch.impu)
            if who in done or self.store.get(ch.impu) is not None or any(
                    c.impu == ch.impu for c in self.store.challenges_for(ch.impi)):
                continue
            done.add(who)
            _log.info("scscf.auth_timeout", impi=ch.impi, impu=ch.impu)
            self._sar(ch.impi, ch.impu, AssignmentType.AUTHENTICATION_TIMEOUT, True,
                      self._log_sar(ch.impu, "auth_timeout"), None, now)

    # -- proxy hooks ----------------------------------------------------------------------
    def check_request(self, ctx: _Ctx) -> Response | None:
        request = ctx.request
        top = top_route(request)  # before §16.4 removes it: which leg names us
        if top is not None and self.is_local(top):
            ctx.state.leg = leg_of(top)
        rejection = super().check_request(ctx)
        if rejection is not None or request.method != "REGISTER":
            return rejection
        unsupported = registrar.unsupported_options(request)
        if unsupported:  # RFC 3261 §8.2.2.3
            response = self.make_response(ctx, 420)
            response.headers.add("Unsupported", ", ".join(unsupported))
            return response
        return None

    def protected(self, ctx: _Ctx) -> bool:  # overload spares answers and refreshes
        return ctx.request.method == "REGISTER" and (super().protected(ctx) or self.store.get(
            impu_key(to_uri(ctx.request))) is not None)

    def route_request(self, ctx: _Ctx) -> _Route:
        method = ctx.request.method
        if method == "REGISTER":
            return self._register(ctx)
        if method == "SUBSCRIBE" and self._subscribe(ctx):
            return None
        if method == "BYE":
            self.calls.ended(ctx.request)
        if ctx.in_dialog:
            return Target()  # follow the route set (RFC 3261 §16.12)
        return self.route_session(ctx, ctx.created)

    # -- REGISTER -------------------------------------------------------------------------
    def _register(self, ctx: _Ctx) -> Response | None:
        request = ctx.request
        uri = request.uri
        if not isinstance(uri, SipUri) or (
                uri.host.lower() != self.realm.lower() and not self.is_local(uri)):
            return self.failure_response(ctx, 403, "domain not served here")  # §10.3 step 1
        try:
            update = registrar.contact_update(request, self.settings)
        except RegisterError as exc:
            response = self.make_response(ctx, exc.status, exc.reason)
            for name, value in exc.headers:
                response.headers.add(name, value)
            return response
        cred = digest.credentials(request, self.realm)
        to = to_uri(request)
        impi = (cred.username if cred is not None else None) or impi_from_impu(to)
        if not impi:
            return self.failure_response(ctx, 403, "no private identity")
        impu = impu_key(to)
        reg = Registering(impi, impu, update, cred)
        ctx.state.register = reg
        now = ctx.created
        nonce = cred.nonce if cred is not None else None
        if cred is None or not nonce:
            self._challenge(ctx, reg, cx.scheme_for(cred), None, now)
            return None
        if cred.auts is not None:
            return self._resync(ctx, reg, cred, nonce, now)
        ch = self.store.get_challenge(impi, nonce)
        if ch is None or ch.impu != impu:  # unknown, used, forgotten, or for another IMPU
            self._challenge(ctx, reg, cx.scheme_for(cred), None, now)
            return None
        self.store.take_challenge(impi, nonce)  # a nonce is used once
        ok = bool(cred.response) and digest.verify(ch, cred, request.method, request.body)
        if not ok:
            # Wrong response, or an empty one after an AKA challenge (MAC failure at the
            # UE, TS 33.203 §6.1.2.1-2): 403 (TS 24.229 §5.4.1.2.3).
            _log.info("scscf.auth_failed", impi=impi, impu=impu, empty=not cred.response)
            if self.store.get(impu) is None:  # an initial registration: release us
                self._sar(impi, impu, AssignmentType.AUTHENTICATION_FAILURE, True,
                          self._log_sar(impu, "auth_failed"), None, now)
            return self.failure_response(ctx, 403, "authentication failed")
        if now >= ch.stale_at:  # RFC 2617 §3.2.1: right answer to a stale nonce
            self._challenge(ctx, reg, ch.scheme, None, now, stale=True)
            return None
        return self._authenticated(ctx, reg, now)

    def _resync(self, ctx: _Ctx, reg: Registering, cred: AuthHeader, nonce: str,
                now: float) -> Response | None:
        """TS 33.203 §6.1.2.3 / TS 33.102 §6.3.5: MAR with SIP-Authorization = RAND‖AUTS,
        RAND taken from the nonce we sent; then challenge again."""
        ch = self.store.take_challenge(reg.impi, nonce)
        auts = digest.decode_auts(cred.auts or "")
        rand = digest.rand_from_nonce(nonce)
        if auts is None or rand is None:
            return self.failure_response(ctx, 403, "bad AUTS")
        scheme = ch.scheme if ch is not None else cx.scheme_of(cred.algorithm or "AKAv1-MD5")
        self._challenge(ctx, reg, scheme, rand + auts, now)
        return None

    def _challenge(self, ctx: _Ctx, reg: Registering, scheme: str,
                   authorization: bytes | None, now: float, *, stale: bool = False) -> None:
        """MAR, then 401 with the vector (TS 24.229 §5.4.1.2.1)."""

        def on_maa(outcome: CxOutcome, now: float) -> None:
            v = verdict(outcome, Procedure.MAR)
            if (not v.ok and v.code == CxResult.ERROR_AUTH_SCHEME_NOT_SUPPORTED
                    and scheme == cx.SIP_DIGEST):
                # No MD5 for this subscriber: its own scheme (TS 29.228 §6.3.1).
                self._challenge(ctx, reg, cx.UNKNOWN_SCHEME, authorization, now, stale=stale)
                return
            if not v.ok:
                self._fail(ctx, v, now)
                return
            assert isinstance(outcome, Message)
            item = cx.auth_item(outcome)
            if item is None:
                self.respond(ctx, self.failure_response(
                    ctx, 500, "no usable authentication vector from the HSS"), now)
                return
            nonce = (digest.aka_nonce(item.rand_autn) if item.rand_autn
                     else digest.md5_nonce(self.nonce_rng))
            lifetime = self.settings.nonce_lifetime
            ch = Challenge(
                impi=reg.impi, impu=reg.impu, nonce=nonce, algorithm=item.algorithm,
                scheme=item.scheme, realm=item.realm or self.realm, stale_at=now + lifetime,
                forget_at=now + lifetime + self.settings.stale_window, xres=item.xres,
                ck=item.ck, ik=item.ik, ha1=item.ha1,
            )
            self.store.add_challenge(ch)
            response = self.make_response(ctx, 401)
            response.headers.add("WWW-Authenticate", digest.www_authenticate(ch, stale=stale))
            self.respond(ctx, response, now)

        self._ask("MAR", cx.mar_avps(reg.impi, reg.impu, scheme, self.cfg.server_name,
                                     authorization), on_maa, ctx, now)

    def _authenticated(self, ctx: _Ctx, reg: Registering, now: float) -> Response | None:
        record = self.store.get(reg.impu)
        update = reg.update
        if update.is_query:  # RFC 3261 §10.2.3: list the bindings
            return self._ok(ctx, record, reg.impu, now)
        try:
            registrar.check_order(record, update, ctx.request)
        except RegisterError as exc:
            return self.failure_response(ctx, exc.status, exc.reason or "")
        if update.removes_all or (record is not None and not self._adds(update)):
            return self._deregister(ctx, reg, record, now)
        registered = record is not None
        assignment = AssignmentType.RE_REGISTRATION if registered else (
            AssignmentType.REGISTRATION)
        have_data = record is not None and record.profile is not None

        def on_saa(outcome: CxOutcome, now: float) -> None:
            v = verdict(outcome, Procedure.SAR)
            if not v.ok:  # no binding is saved
                self._fail(ctx, v, now)
                return
            assert isinstance(outcome, Message)
            self._save(ctx, reg, outcome, now)

        self._sar(reg.impi, reg.impu, assignment, have_data, on_saa, ctx, now)
        return None

    @staticmethod
    def _adds(update: ContactUpdate) -> bool:
        return any(expires > 0 for _, expires in update.contacts)

    def _save(self, ctx: _Ctx, reg: Registering, saa: Message, now: float) -> None:
        """TS 24.229 §5.4.1.2.2: store the implicit set and the bindings, answer 200."""
        record = self.store.get(reg.impu)
        profile = record.profile if record is not None else None
        data = saa.get("User-Data")
        if isinstance(data, bytes | str):
            try:
                profile = parse_user_data(data)
            except UserDataError as exc:
                _log.warning("scscf.bad_user_data", impu=reg.impu, error=str(exc))
                self._undo(reg, now)
                self.respond(ctx, self.failure_response(ctx, 500, "bad User-Data from the HSS"),
                             now)
                return
        identities, barred = registrar.implicit_set(reg.impu, profile)
        if reg.impu in barred:  # TS 24.229 §5.4.1.2.1: a barred IMPU cannot register
            self._undo(reg, now)
            self.respond(ctx, self.failure_response(ctx, 403, "public identity barred"), now)
            return
        snap = regevent.snapshot(record)
        initial = record is None
        if record is None:
            record = Registration(reg.impu, reg.impi, identities)
        else:
            self._set_identities(record, identities)
        record.barred = barred
        record.profile = profile
        record.service_route = self.cfg.service_route
        registrar.apply(record, reg.update, ctx.request, ctx.source, reg.impi, now)
        self.store.save(record)
        # A new registration is news; a refresh (most REGISTERs) is a debug line.
        (_log.info if initial else _log.debug)(
            "scscf.registered", impi=reg.impi, impu=reg.impu, contacts=len(record.bindings))
        ok = self._ok(ctx, record, reg.impu, now)
        self.respond(ctx, ok, now)
        if snap is not None:  # TS 24.229 §5.4.2.1.2
            self.notifier.changed(record, regevent.change_since(snap, record), now)
        kind = (RegistrationType.INITIAL_REGISTRATION if initial
                else RegistrationType.RE_REGISTRATION)
        self._notify_ases(record, ctx.request, ok, kind,
                          max((e for _, e in reg.update.contacts), default=0), now)

    def _deregister(self, ctx: _Ctx, reg: Registering, record: Registration | None,
                    now: float) -> Response | None:
        """TS 24.229 §5.4.1.4: remove the bindings (their subscribers learn it with the
        event ``unregistered``); the last one gone → registration over, SAR
        USER_DEREGISTRATION (answered at once; the SAA is only logged)."""
        if record is None:
            return self._ok(ctx, None, reg.impu, now)
        snap = regevent.snapshot(record)
        registrar.apply(record, reg.update, ctx.request, ctx.source, reg.impi, now)
        if record.bindings:
            self.store.save(record)
            self.respond(ctx, self._ok(ctx, record, reg.impu, now), now)
            if snap is not None:
                self.notifier.changed(record, regevent.change_since(snap, record), now)
            return None
        ok = self._ok(ctx, None, reg.impu, now)
        self.respond(ctx, ok, now)
        gone = list(snap.bindings.items()) if snap is not None else []
        self._finish(record, gone, "unregistered", AssignmentType.USER_DEREGISTRATION, now)
        self._notify_ases(record, ctx.request, ok, RegistrationType.DE_REGISTRATION, 0, now)
        return None

    def _undo(self, reg: Registering, now: float) -> None:
        if self.store.get(reg.impu) is None:
            self._sar(reg.impi, reg.impu, AssignmentType.USER_DEREGISTRATION, True,
                      self._log_sar(reg.impu, "undo"), None, now)

    def _set_identities(self, record: Registration, identities: tuple[str, ...]) -> None:
        """A new implicit set for *record* (its own IMPU stays first)."""
        if set(identities) != set(record.identities):
            self.store.remove(record)  # the next save indexes it under the new set
            record.identities = (record.impu, *(i for i in identities if i != record.impu))

    def _finish(self, reg: Registration, gone: list[tuple[str, Binding]], event: str,
                sar: AssignmentType | None, now: float) -> None:
        """The registration is over: its subscribers get their final NOTIFY (registration
        and contacts terminated with *event*, Subscription-State terminated), it goes
        with its subscriptions, and SAR *sar* tells the HSS (None: the HSS knows)."""
        if reg.subscriptions:
            self.notifier.changed(reg, regevent.removed(gone, event, ended=True), now)
        self.store.remove(reg)
        _log.info("scscf.deregistered", impi=reg.impi, impu=reg.impu, reg_event=event)
        if sar is not None:
            self._sar(reg.impi, reg.impu, sar, True, self._log_sar(reg.impu, event), None, now)

    # -- the network's side (HSS-initiated Cx, administration) ----------------------------
    def network_deregister(self, reg: Registration, now: float, *, event: str = "deactivated",
                           sar: AssignmentType | None = None) -> None:
        """Network-initiated de-registration (TS 24.229 §5.4.1.5): remove the registration
        with all its bindings, NOTIFY every subscriber (registration terminated, contacts
        terminated with *event*: ``rejected`` when the UE must not register again,
        ``deactivated`` when it should), and send SAR *sar* when given."""
        gone = list(reg.bindings.items())
        reg.bindings.clear()
        self._finish(reg, gone, event, sar, now)
        self._notify_ases(reg, None, None, RegistrationType.DE_REGISTRATION, 0, now)

    def _notify_ases(self, record: Registration, register: Request | None, ok: Response | None,
                     kind: RegistrationType, expires: int, now: float) -> None:
        """TS 24.229 §5.4.1.7: a third-party REGISTER to each AS whose iFC matches; an AS
        that fails one with DefaultHandling SESSION_TERMINATED de-registers the user."""
        if record.profile is None:
            return
        contact = f"sip:{self.config.host}:{self.config.port}"
        for request, ifc in thirdparty.third_party_registers(
                register, ok, record.profile, record.impu, self.cfg.server_name, expires,
                self.rng, kind=kind, contact=contact):
            self.originate(request, self._on_as_answer(record.impu, ifc, expires), now)

    def _on_as_answer(self, impu: str, ifc: Ifc, expires: int) -> OnResponse:
        def done(response: Response, now: float) -> None:
            current = self.store.get(impu)
            if current is not None and thirdparty.must_deregister(ifc, response, expires):
                _log.info("scscf.as_register_failed", impu=impu, server=ifc.server_name,
                          status=response.status)
                self.network_deregister(current, now, event="deactivated",
                                        sar=AssignmentType.ADMINISTRATIVE_DEREGISTRATION)

        return done

    def update_profile(self, reg: Registration, profile: Profile, now: float) -> None:
        """PPR (TS 29.228 §6.2.2): the new profile, implicit set and barring; subscribers
        no longer allowed are dropped, the others NOTIFYed when the visible set changed
        (identities added: event ``created``; removed or barred: ``rejected``)."""
        snap = regevent.snapshot(reg)
        identities, barred = registrar.implicit_set(reg.impu, profile)
        self._set_identities(reg, identities)
        reg.barred = barred
        reg.profile = profile
        self.store.save(reg)
        _log.info("scscf.profile_updated", impi=reg.impi, impu=reg.impu,
                  identities=len(identities), barred=len(barred))
        if snap is not None:
            self.notifier.reauthorise(reg, now)
            self.notifier.changed(reg, regevent.change_since(snap, reg), now)

    def reauthenticate(self, reg: Registration, within: int, now: float) -> None:
        """Network-initiated re-authentication (TS 24.229 §5.4.1.6; RFC 3680 §3.1): every
        contact must register again within *within* seconds; subscribers, the UE among
        them, learn it from the event ``shortened``."""
        events = {}
        for key, b in reg.bindings.items():
            if b.expires_at > now + within:
                b.expires_at = now + within
                events[key] = "shortened"
        if events:
            self.store.save(reg)
            self.notifier.changed(reg, regevent.Change(events=events), now)

    def handle_cx_request(self, request: Message, now: float) -> Message:
        """RTR and PPR from the HSS: :func:`.cxserver.answer`."""
        return cxserver.answer(self, request, now)

    # -- SUBSCRIBE (the reg event package) -------------------------------------------------
    def _subscribe(self, ctx: _Ctx) -> bool:
        """Answer a SUBSCRIBE we are the notifier for (TS 24.229 §5.4.2.1.1); False: not
        ours, route it as any other request."""
        request, now = ctx.request, ctx.created
        local = self.is_local(request.uri)
        package = event_package(request.headers.get("event"))
        if ctx.in_dialog or package != EVENT_PACKAGE:
            if not local:  # another dialog through us, or another package for a user
                return False
            answer = (regevent.bad_event() if package != EVENT_PACKAGE
                      else self.notifier.resubscribe(request, now))
        elif (found := self._lookup(request.uri)) is not None:
            answer = self.notifier.subscribe(request, found[1], found[0], ctx.to_tag,
                                             ctx.source.transport, now)
        elif (leg := ctx.state.leg) is not None and leg.leg == ORIG and not local:
            return False  # a user registered elsewhere: its S-CSCF answers (via the I-CSCF)
        elif local or is_home(request.uri, self.realm):
            answer = regevent.Answer(480, "Temporarily Unavailable")  # step 0: not bound
        else:
            return False
        response = self.make_response(ctx, answer.status, answer.reason)
        if answer.status < 300 and not ctx.in_dialog:  # RFC 3261 §12.1.1: the route set
            for value in request.headers.get_all("record-route"):
                response.headers.add("Record-Route", value)
        for name, value in answer.headers:
            response.headers.add(name, value)
        self.respond(ctx, response, now)
        if answer.then is not None:
            self.notifier.send(answer.then, now)
        return True

    # -- helpers --------------------------------------------------------------------------
    def _ok(self, ctx: _Ctx, record: Registration | None, impu: str, now: float) -> Response:
        response = self.make_response(ctx, 200)
        registrar.add_ok_headers(response, ctx.request, record, impu, self.cfg.service_route,
                                 now)
        return response

    def _fail(self, ctx: _Ctx, v: CxVerdict, now: float) -> None:
        """A REGISTER whose MAR or SAR did not succeed (:mod:`ims_core.cscf.cxresult`)."""
        reg = ctx.state.register
        _log.info("scscf.cx_failed", status=v.status, why=v.text, code=v.code,
                  impi=reg.impi if reg is not None else None)
        self.respond(ctx, self.cx_failure(ctx, v, 504), now)

    def _sar(self, impi: str, impu: str, assignment: AssignmentType, have_data: bool,
             on_answer: _OnAnswer, ctx: _Ctx | None, now: float) -> None:
        self._ask("SAR", cx.sar_avps(impi, [impu], self.cfg.server_name, assignment,
                                     have_data), on_answer, ctx, now)

    def _ask(self, command: str, avps: list[tuple[str, object]], on_answer: _OnAnswer,
             ctx: _Ctx | None, now: float) -> None:
        """Ask the HSS on behalf of *ctx* (None: nobody waits on the answer)."""
        try:
            request = self.cx_request(command, avps)
        except RuntimeError as exc:  # no [diameter] section
            on_answer(DiameterUnavailable(str(exc)), now)
            return
        self.query(request, on_answer, ctx=ctx, now=now)

    @staticmethod
    def _log_sar(impu: str, why: str) -> _OnAnswer:
        def done(outcome: CxOutcome, now: float) -> None:
            v = verdict(outcome, Procedure.SAR)
            if not v.ok:
                _log.warning("scscf.sar_failed", impu=impu, why=why, error=v.text)

        return done
