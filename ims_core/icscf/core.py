"""The I-CSCF core (TS 24.229 §5.3), sans-I/O.

Theory of operation: every REGISTER is held (``route_request`` returns None) while a
UAR asks the HSS which S-CSCF serves the user (TS 29.228 §6.1.1). The UAA decides:
a Server-Name → forward to that S-CSCF; Server-Capabilities → select one from the
pool; anything else → the shared Cx result table (:mod:`ims_core.cscf.cxresult`: 403
for a negative answer, ``hss_failure_status`` — 480, or 504 — when no usable answer
came), always with a Reason header. The Request-URI is left alone and no Record-Route
is added (TS 24.229 §5.3.1.2). Nothing about the registration is kept once the
REGISTER is forwarded.

Requests other than REGISTER (TS 24.229 §5.3.2): those carrying a Route set, and
in-dialog ones, are forwarded along it; an initial request is held while an LIR asks the
HSS which S-CSCF serves the Request-URI (TS 29.228 §6.1.4). The LIA decides the same
way: a Server-Name (2001, or 2003 for a user with unregistered services) → forward
there; Server-Capabilities → select from the pool; neither → 480; failures by the
table (``lir_failure_status``, 504 by default, when no usable answer came). No
Record-Route.

Failover (TS 24.229 §5.3.1.3, :mod:`ims_core.cscf.failover`): with more than one S-CSCF
in the pool, a REGISTER that is not a de-registration goes to its S-CSCF as the first of
a series. When that S-CSCF does not serve it (408 or 503, a transport error, or silence
for ``scscf_timeout``), the next capable S-CSCF of the pool is tried, each once; when the
HSS had named the S-CSCF, the I-CSCF asks it again with User-Authorization-Type
REGISTRATION_AND_CAPABILITIES (TS 29.228 §6.1.1) and selects from the capabilities it
gets, leaving out those tried. None left: 504 (Server Time-out).

:class:`ims_core.cscf.CscfCore` guarantees an answer to every request waiting on the
HSS (deadline, CANCEL, a failing callback), so the callbacks here only decide.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from ims_core import log
from ims_core.cscf import CxOutcome, CxVerdict, DiameterClient, Procedure, verdict
from ims_core.cscf.failover import WAIT, Attempt, FailoverCore
from ims_core.cscf.overload import OverloadConfig
from ims_core.diameter import DiameterUnavailable
from ims_core.proxy import ProxyConfig, RequestContext, Target
from ims_core.sip import Request, Response, SipParseError
from ims_core.sip.ids import unique_bytes
from ims_core.transaction import TimerConfig

from . import lir, uar
from .config import IcscfConfig
from .pool import ScscfPool, name_key
from .uar import AuthType, BadRegister, ForwardTo, Reject, SelectBy, UaaDecision, UarFields

_log = log.get("icscf")

NO_SUITABLE_SCSCF = CxVerdict(False, 500, "no S-CSCF in the pool has the mandatory capabilities",
                              "Server Internal Error - No Suitable S-CSCF")
UNRESOLVABLE_SCSCF = CxVerdict(False, 500, "the S-CSCF named by the HSS has no address here",
                               "Server Internal Error - S-CSCF Not Resolvable")


@dataclass(slots=True, init=False)
class IcscfRequest:
    """What the I-CSCF knows about one request while the HSS is asked: the UAR's
    fields for a REGISTER, the Public-Identity of the LIR for an initial request; for a
    REGISTER tried in turn, the S-CSCFs still to try, those tried, and whether the HSS
    named the first (then it is asked for capabilities once that one fails)."""

    uar: UarFields | None = None
    lir_impu: str | None = None
    candidates: list[str] = field(default_factory=list)
    tried: list[str] = field(default_factory=list)
    named_by_hss: bool = False

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, uar: UarFields | None = None, lir_impu: str | None = None,
                 candidates: list[str] | None = None, tried: list[str] | None = None,
                 named_by_hss: bool = False) -> None:
        self.uar = uar
        self.lir_impu = lir_impu
        self.candidates = [] if candidates is None else candidates
        self.tried = [] if tried is None else tried
        self.named_by_hss = named_by_hss

    def was_tried(self, name: str) -> bool:
        key = name_key(name)
        return any(name_key(t) == key for t in self.tried)


IcscfContext = RequestContext[IcscfRequest]


class IcscfCore(FailoverCore[IcscfRequest]):
    def __init__(
        self,
        config: ProxyConfig,
        diameter: DiameterClient | None,
        *,
        domain: str,
        pool: ScscfPool,
        hss_failure_status: int = 480,
        lir_failure_status: int = 504,
        uar_timeout: float | None = None,
        timers: TimerConfig | None = None,
        rng: Callable[[int], bytes] = unique_bytes,
        overload: OverloadConfig | None = None,
        scscf_timeout: float = 0.0,
    ) -> None:
        super().__init__(config, diameter, timers, rng=rng, overload=overload)
        self.scscf_timeout = scscf_timeout  # 0: Timer F (module docstring: failover)
        self.domain = domain
        self.pool = pool
        self.hss_failure_status = hss_failure_status
        self.lir_failure_status = lir_failure_status
        self.uar_timeout = uar_timeout  # None: the Diameter request timeout

    @classmethod
    def from_config(cls, cfg: IcscfConfig) -> IcscfCore:
        return cls(
            cfg.proxy_config(record_route=False), cfg.diameter, domain=cfg.domain,
            pool=ScscfPool(cfg.scscf), hss_failure_status=cfg.hss_failure_status,
            lir_failure_status=cfg.lir_failure_status,
            uar_timeout=cfg.uar_timeout or None, timers=cfg.timer_config(),
            overload=cfg.overload, scscf_timeout=cfg.scscf_timeout,
        )  # fmt: skip

    # -- hooks -------------------------------------------------------------------------
    def new_state(self, request: Request) -> IcscfRequest:
        return IcscfRequest()

    def route_request(self, ctx: IcscfContext) -> Target | Sequence[Target] | Response | None:
        request = ctx.request
        if request.method == "REGISTER":
            return self.route_register(ctx)
        if "route" in request.headers or ctx.in_dialog:
            return Target()  # loose-routed through us (§16.4 removed our own entry)
        return self.route_initial(ctx)

    def should_record_route(self, ctx: IcscfContext) -> bool:
        # TS 24.229 §5.3.1.2 (REGISTER) and §5.3.2.1 (other requests: it may, we don't:
        # the S-CSCFs on both legs stay in the dialog, the I-CSCF need not).
        return False

    # -- REGISTER (TS 24.229 §5.3.1.2) -------------------------------------------------
    def route_register(self, ctx: IcscfContext) -> Response | None:
        try:
            fields = uar.uar_fields(ctx.request, self.domain)
        except (BadRegister, SipParseError) as exc:
            _log.info("icscf.bad_register", error=str(exc),
                      call_id=ctx.request.headers.get("call-id"))
            return self.make_response(ctx, 403, "Forbidden - No Identity")
        if self.diameter is None:
            return self._no_hss(ctx, Procedure.UAR, self.hss_failure_status)
        ctx.state.uar = fields
        self.query(self.cx_request("UAR", fields.avps()),
                   lambda outcome, now: self._on_uaa(ctx, outcome, now),
                   ctx=ctx, now=ctx.created, timeout=self.uar_timeout)
        return None

    def next_target(self, ctx: IcscfContext, attempt: Attempt,
                    now: float) -> Target | str | None:
        """TS 24.229 §5.3.1.3: the next capable S-CSCF; once none is left and the HSS had
        named the one that failed, a UAR for capabilities (answered in :meth:`_on_uaa`)."""
        state = ctx.state
        while state.candidates:
            name = state.candidates.pop(0)
            dest = self.pool.resolve(name)
            if dest is not None and not state.was_tried(name):
                state.tried.append(name)
                return Target(next_hop=dest)
        if state.named_by_hss and state.uar is not None and self.diameter is not None:
            state.named_by_hss = False  # asked once
            fields = replace(state.uar, auth_type=AuthType.REGISTRATION_AND_CAPABILITIES)
            _log.info("icscf.uar_capabilities", impi=fields.impi, impu=fields.impu,
                      failed=state.tried[-1] if state.tried else "")
            self.query(self.cx_request("UAR", fields.avps()),
                       lambda outcome, t: self._on_uaa(ctx, outcome, t),
                       ctx=ctx, now=now, timeout=self.uar_timeout)
            return WAIT
        return None

    def _on_uaa(self, ctx: IcscfContext, outcome: CxOutcome, now: float) -> None:
        fields = ctx.state.uar
        assert fields is not None  # set before the UAR was asked
        self._carry_out(ctx, uar.decide(outcome), now, self.hss_failure_status, "uar",
                        impi=fields.impi, impu=fields.impu)

    # -- other requests ----------------------------------------------------------------
    def route_initial(self, ctx: IcscfContext) -> Response | None:
        """An initial request for a user of our domain (TS 24.229 §5.3.2.1): ask the HSS
        where the user is served (LIR, TS 29.228 §6.1.4) and forward there."""
        request = ctx.request
        try:
            impu = lir.public_identity(request.uri, self.domain)
        except lir.NotRoutable as exc:
            _log.info("icscf.not_routable", uri=request.uri_text, error=str(exc))
            return self.make_response(ctx, 404, "Not Found")
        if self.diameter is None:
            return self._no_hss(ctx, Procedure.LIR, self.lir_failure_status)
        ctx.state.lir_impu = impu
        self.query(self.cx_request("LIR", lir.lir_avps(impu)),
                   lambda outcome, now: self._on_lia(ctx, outcome, now),
                   ctx=ctx, now=ctx.created, timeout=self.uar_timeout)
        return None

    def _on_lia(self, ctx: IcscfContext, outcome: CxOutcome, now: float) -> None:
        self._carry_out(ctx, lir.decide(outcome), now, self.lir_failure_status, "lir",
                        impu=ctx.state.lir_impu or "")

    # -- both ----------------------------------------------------------------------------
    def _carry_out(self, ctx: IcscfContext, decision: UaaDecision, now: float,
                   no_answer_status: int, what: str, **info: str) -> None:
        """Carry out a UAA/LIA decision: forward to the named or selected S-CSCF, or
        answer the rejection (``no_answer_status`` when the HSS gave no usable answer).
        ``what`` ("uar", "lir") names the log events."""
        state = ctx.state
        serial = (what == "uar" and len(self.pool.entries) > 1 and state.uar is not None
                  and state.uar.auth_type is not AuthType.DE_REGISTRATION)
        retried = serial and bool(state.tried)  # the answer to the capabilities UAR
        attempt = ctx.attempt
        if isinstance(decision, SelectBy):
            names = self.pool.candidates(decision.capabilities)
            names = [n for n in names if not state.was_tried(n)] if serial else names
            if names:
                state.candidates = names[1:]
                decision = ForwardTo(names[0], decision.code)
            elif retried and attempt is not None:
                self.exhausted(ctx, attempt, now)
                return
            else:
                decision = Reject(NO_SUITABLE_SCSCF)
        elif isinstance(decision, ForwardTo) and serial:
            if retried and state.was_tried(decision.server_name) and attempt is not None:
                self.exhausted(ctx, attempt, now)  # the HSS names the one that failed
                return
            state.named_by_hss = not retried
        if isinstance(decision, ForwardTo):
            dest = self.pool.resolve(decision.server_name)
            if dest is not None:
                _log.debug(f"icscf.{what}_routed", result=decision.code,
                           server_name=decision.server_name, dest=str(dest), **info)
                target = Target(next_hop=dest)
                if serial:
                    state.tried.append(decision.server_name)
                    target = self.try_in_turn(ctx, [target], self.scscf_timeout)
                self.forward(ctx, target, now)
                return
            _log.warning("icscf.unknown_scscf", server_name=decision.server_name)
            decision = Reject(UNRESOLVABLE_SCSCF)
        judged = decision.verdict
        if judged.no_answer:
            _log.warning(f"icscf.{what}_failed", error=judged.text, **info)
        else:
            _log.info(f"icscf.{what}_rejected", result=judged.code, status=judged.status,
                      **info)
        self.respond(ctx, self.cx_failure(ctx, judged, no_answer_status), now)

    def _no_hss(self, ctx: IcscfContext, procedure: Procedure, status: int) -> Response:
        """No [diameter] configured: the HSS is as unreachable as a peer that is down."""
        return self.cx_failure(
            ctx, verdict(DiameterUnavailable("HSS not configured"), procedure), status)
