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
    received          known nonce, response empty/wrong   → 403 (nonce discarded, no SAR)
    received          known nonce, response right         → AUTHENTICATED (nonce used)
    AUTHENTICATED     contacts to add/refresh             → SAR REGISTRATION or
                                                            RE_REGISTRATION → 200
    AUTHENTICATED     all contacts expire / Contact: *    → bindings removed → 200;
                                                            SAR USER_DEREGISTRATION when
                                                            the last one goes
    AUTHENTICATED     no Contact                          → 200 listing the bindings

A registration refresh always sends SAR RE_REGISTRATION (with
User-Data-Already-Available = 1): the HSS stays in step with every refresh at the cost
of one Cx round trip. When a binding's last contact expires, ``handle_timer`` sends SAR
TIMEOUT_DEREGISTRATION.

Other requests: in-dialog ones follow their route set; initial ones are routed per leg
(originating or terminating, iFCs, Record-Route) by :class:`~.session.SessionCore`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ims_core import log
from ims_core.cscf import CxOutcome
from ims_core.diameter import DiameterUnavailable, Message
from ims_core.proxy import RequestContext, Target, top_route
from ims_core.sip import AuthHeader, Response, SipUri

from . import cx, digest, registrar, userdata
from .config import ScscfConfig
from .cx import AssignmentType
from .legs import leg_of
from .registrar import ContactUpdate, RegisterError
from .session import SessionCore
from .store import Challenge, MemoryStore, Registration, RegistrationStore

_log = log.get("scscf")
_Route = Target | Sequence[Target] | Response | None
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, PRACK, UPDATE, MESSAGE, INFO"


@dataclass(slots=True)
class _Register:
    """What the REGISTER being handled is about (kept in ``ctx.data``)."""

    impi: str
    impu: str
    update: ContactUpdate
    cred: AuthHeader | None


class ScscfCore(SessionCore):
    """The S-CSCF; see the module docstring."""

    def __init__(self, config: ScscfConfig, store: RegistrationStore | None = None) -> None:
        super().__init__(config.scscf_proxy_config(), config.diameter, config.timer_config())
        self.cfg = config
        self.settings = config.registrar
        self.realm = config.domain
        self.store: RegistrationStore = store if store is not None else MemoryStore(
            config.registrar.max_challenges_per_user)

    # -- timers: registration expiry and challenge purge ----------------------------------
    def get_timer(self) -> float | None:
        mine = self.store.next_deadline()
        theirs = super().get_timer()
        if mine is None or (theirs is not None and theirs < mine):
            return theirs
        return mine

    def handle_timer(self, now: float) -> None:
        super().handle_timer(now)
        self.store.purge(now)
        for reg in self.store.due(now):
            reg.drop_expired(now)
            if reg.bindings:
                self.store.save(reg)
                continue
            # RFC 3261 §10.3 / TS 29.228 §6.1.2: the registration timed out.
            self.store.remove(reg)
            _log.info("scscf.expired", impu=reg.impu, impi=reg.impi)
            self._sar(reg.impi, reg.impu, AssignmentType.TIMEOUT_DEREGISTRATION, True,
                      self._log_sar(reg.impu, "timeout"), now)

    # -- proxy hooks ----------------------------------------------------------------------
    def check_request(self, ctx: RequestContext) -> Response | None:
        request = ctx.request
        top = top_route(request)  # before §16.4 removes it: which leg names us
        if top is not None and self.is_local(top):
            leg = leg_of(top)
            if leg is not None:
                ctx.data["leg"] = leg
        rejection = super().check_request(ctx)
        if rejection is not None or request.method != "REGISTER":
            return rejection
        unsupported = registrar.unsupported_options(request)
        if unsupported:  # RFC 3261 §8.2.2.3
            response = self.make_response(ctx, 420)
            response.headers.add("Unsupported", ", ".join(unsupported))
            return response
        return None

    def route_request(self, ctx: RequestContext) -> _Route:
        if ctx.request.method == "REGISTER":
            return self._register(ctx)
        if ctx.in_dialog:
            return Target()  # follow the route set (RFC 3261 §16.12)
        if ctx.request.method == "OPTIONS" and self.is_local(ctx.request.uri):
            response = self.make_response(ctx, 200)  # RFC 3261 §11.2: a keep-alive probe
            response.headers.add("Allow", ALLOW)
            return response
        return self.route_session(ctx)

    # -- REGISTER -------------------------------------------------------------------------
    def _register(self, ctx: RequestContext) -> Response | None:
        request = ctx.request
        uri = request.uri
        if not isinstance(uri, SipUri) or (
                uri.host.lower() != self.realm.lower() and not self.is_local(uri)):
            return self._reply(ctx, 403, "Domain not served here")  # RFC 3261 §10.3 step 1
        try:
            update = registrar.contact_update(request, self.settings)
        except RegisterError as exc:
            response = self.make_response(ctx, exc.status, exc.reason)
            for name, value in exc.headers:
                response.headers.add(name, value)
            return response
        cred = digest.credentials(request, self.realm)
        impi = (cred.username if cred is not None else None) or registrar.impi_from_to(request)
        if not impi:
            return self._reply(ctx, 403, "No private identity")
        impu = registrar.impu_key(request.to_addr.uri)
        reg = _Register(impi, impu, update, cred)
        ctx.data["register"] = reg
        now = ctx.created
        nonce = cred.nonce if cred is not None else None
        if cred is None or not nonce:
            self._challenge(ctx, reg, cx.scheme_for(cred.algorithm if cred else None), None)
            return None
        if cred.auts is not None:
            return self._resync(ctx, reg, cred, nonce)
        ch = self.store.get_challenge(impi, nonce)
        if ch is None or ch.impu != impu:  # unknown, used, forgotten, or for another IMPU
            self._challenge(ctx, reg, cx.scheme_for(cred.algorithm), None)
            return None
        self.store.take_challenge(impi, nonce)  # a nonce is used once
        ok = bool(cred.response) and digest.verify(ch, cred, request.method, request.body)
        if not ok:
            # Wrong response, or an empty one after an AKA challenge (MAC failure at the
            # UE, TS 33.203 §6.1.2.1-2): 403, no SAR (TS 24.229 §5.4.1.2.3).
            _log.info("scscf.auth_failed", impi=impi, impu=impu, empty=not cred.response)
            return self._reply(ctx, 403, "Authentication failed")
        if now >= ch.stale_at:  # RFC 2617 §3.2.1: right answer to a stale nonce
            self._challenge(ctx, reg, ch.scheme, None, stale=True)
            return None
        return self._authenticated(ctx, reg, now)

    def _resync(self, ctx: RequestContext, reg: _Register, cred: AuthHeader,
                nonce: str) -> Response | None:
        """TS 33.203 §6.1.2.3 / TS 33.102 §6.3.5: MAR with SIP-Authorization = RAND‖AUTS,
        RAND taken from the nonce we sent; then challenge again."""
        ch = self.store.take_challenge(reg.impi, nonce)
        auts = digest.decode_auts(cred.auts or "")
        rand = digest.rand_from_nonce(nonce)
        if auts is None or rand is None:
            return self._reply(ctx, 403, "Bad AUTS")
        scheme = ch.scheme if ch is not None else cx.scheme_for(cred.algorithm or "AKAv1-MD5")
        self._challenge(ctx, reg, scheme, rand + auts)
        return None

    def _challenge(self, ctx: RequestContext, reg: _Register, scheme: str,
                   authorization: bytes | None, *, stale: bool = False) -> None:
        """MAR, then 401 with the vector (TS 24.229 §5.4.1.2.1)."""

        def on_maa(outcome: CxOutcome, now: float) -> None:
            fail = cx.failure(outcome)
            if fail is not None:
                self._fail(ctx, fail, now, "MAA")
                return
            assert isinstance(outcome, Message)
            item = cx.auth_item(outcome)
            if item is None:
                self._fail(ctx, cx.CxFailure(500, "no usable authentication vector"), now, "MAA")
                return
            nonce = digest.aka_nonce(item.rand_autn) if item.rand_autn else digest.md5_nonce()
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
                                     authorization), on_maa, ctx.created)

    def _authenticated(self, ctx: RequestContext, reg: _Register, now: float) -> Response | None:
        record = self.store.get(reg.impu)
        update = reg.update
        if update.is_query:  # RFC 3261 §10.2.3: list the bindings
            return self._ok(ctx, record, reg.impu, now)
        try:
            registrar.check_order(record, update, ctx.request)
        except RegisterError as exc:
            return self._reply(ctx, exc.status, exc.reason or "")
        if update.removes_all or (record is not None and not self._adds(update)):
            return self._deregister(ctx, reg, record, now)
        registered = record is not None
        assignment = AssignmentType.RE_REGISTRATION if registered else (
            AssignmentType.REGISTRATION)
        have_data = record is not None and record.profile is not None

        def on_saa(outcome: CxOutcome, now: float) -> None:
            fail = cx.failure(outcome)
            if fail is not None:  # no binding is saved
                self._fail(ctx, fail, now, "SAA")
                return
            assert isinstance(outcome, Message)
            self._save(ctx, reg, outcome, now)

        self._sar(reg.impi, reg.impu, assignment, have_data, on_saa, now)
        return None

    @staticmethod
    def _adds(update: ContactUpdate) -> bool:
        return any(expires > 0 for _, expires in update.contacts)

    def _save(self, ctx: RequestContext, reg: _Register, saa: Message, now: float) -> None:
        """TS 24.229 §5.4.1.2.2: store the implicit set and the bindings, answer 200."""
        record = self.store.get(reg.impu)
        profile = record.profile if record is not None else None
        data = saa.get("User-Data")
        if isinstance(data, bytes | str):
            try:
                profile = userdata.parse(data)
            except userdata.UserDataError as exc:
                _log.warning("scscf.bad_user_data", impu=reg.impu, error=str(exc))
                self._undo(reg, now)
                self._fail(ctx, cx.CxFailure(500, "bad User-Data from HSS"), now, "SAA")
                return
        identities, barred = [reg.impu], set()
        if profile is not None:
            for p in profile.identities:
                key = registrar.identity_key(p.identity)
                if key not in identities:
                    identities.append(key)
                if p.barred:
                    barred.add(key)
        if reg.impu in barred:  # TS 24.229 §5.4.1.2.1: a barred IMPU cannot register
            self._undo(reg, now)
            self.respond(ctx, self._reply(ctx, 403, "Public identity barred"), now)
            return
        if record is None:
            record = Registration(reg.impu, reg.impi, tuple(identities))
        elif set(identities) != set(record.identities):
            self.store.remove(record)
            record.identities = tuple([record.impu] + [i for i in identities
                                                       if i != record.impu])
        record.barred = frozenset(barred)
        record.profile = profile
        record.service_route = self.cfg.service_route
        registrar.apply(record, reg.update, ctx.request, ctx.source, reg.impi, now)
        self.store.save(record)
        _log.info("scscf.registered", impi=reg.impi, impu=reg.impu,
                  contacts=len(record.bindings))
        self.respond(ctx, self._ok(ctx, record, reg.impu, now), now)

    def _deregister(self, ctx: RequestContext, reg: _Register, record: Registration | None,
                    now: float) -> Response:
        """TS 24.229 §5.4.1.4: remove the bindings; the last one gone → SAR
        USER_DEREGISTRATION (answered at once; the SAA is only logged)."""
        if record is None:
            return self._ok(ctx, None, reg.impu, now)
        registrar.apply(record, reg.update, ctx.request, ctx.source, reg.impi, now)
        if record.bindings:
            self.store.save(record)
            return self._ok(ctx, record, reg.impu, now)
        self.store.remove(record)
        _log.info("scscf.deregistered", impi=reg.impi, impu=reg.impu)
        self._sar(reg.impi, record.impu, AssignmentType.USER_DEREGISTRATION, True,
                  self._log_sar(record.impu, "user"), now)
        return self._ok(ctx, None, reg.impu, now)

    def _undo(self, reg: _Register, now: float) -> None:
        if self.store.get(reg.impu) is None:
            self._sar(reg.impi, reg.impu, AssignmentType.USER_DEREGISTRATION, True,
                      self._log_sar(reg.impu, "undo"), now)

    # -- helpers --------------------------------------------------------------------------
    def _ok(self, ctx: RequestContext, record: Registration | None, impu: str,
            now: float) -> Response:
        response = self.make_response(ctx, 200)
        registrar.add_ok_headers(response, ctx.request, record, impu, self.cfg.service_route,
                                 now)
        return response

    def _reply(self, ctx: RequestContext, status: int, warning: str) -> Response:
        response = self.make_response(ctx, status)
        response.headers.add("Warning", f'399 {self.config.host} "{warning}"')
        return response

    def _fail(self, ctx: RequestContext, fail: cx.CxFailure, now: float, what: str) -> None:
        reg = ctx.data.get("register")
        _log.info("scscf.cx_failed", answer=what, status=fail.status, warning=fail.warning,
                  impi=getattr(reg, "impi", None))
        self.respond(ctx, self._reply(ctx, fail.status, fail.warning), now)

    def _sar(self, impi: str, impu: str, assignment: AssignmentType, have_data: bool,
             on_answer: Callable[[CxOutcome, float], None], now: float) -> None:
        self._ask("SAR", cx.sar_avps(impi, [impu], self.cfg.server_name, assignment,
                                     have_data), on_answer, now)

    def _ask(self, command: str, avps: list[tuple[str, object]],
             on_answer: Callable[[CxOutcome, float], None], now: float) -> None:
        try:
            request = self.cx_request(command, avps)
        except RuntimeError as exc:  # no [diameter] section
            on_answer(DiameterUnavailable(str(exc)), now)
            return
        self.query(request, on_answer)

    @staticmethod
    def _log_sar(impu: str, why: str) -> Callable[[CxOutcome, float], None]:
        def done(outcome: CxOutcome, now: float) -> None:
            fail = cx.failure(outcome)
            if fail is not None:
                _log.warning("scscf.sar_failed", impu=impu, why=why, warning=fail.warning)

        return done
