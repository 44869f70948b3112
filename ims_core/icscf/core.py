"""The I-CSCF core (TS 24.229 §5.3), sans-I/O.

Theory of operation: every REGISTER is held (``route_request`` returns None) while a
UAR asks the HSS which S-CSCF serves the user (TS 29.228 §6.1.1). The UAA decides:
a Server-Name → forward to that S-CSCF; Server-Capabilities → select one from the
pool; a negative result → 403; no answer → 480 (or the configured 504) with a Reason
header. The Request-URI is left alone and no Record-Route is added (TS 24.229
§5.3.1.2). Nothing about the registration is kept once the REGISTER is forwarded.

Requests other than REGISTER (TS 24.229 §5.3.2): those carrying a Route set, and
in-dialog ones, are forwarded along it; an initial request is held while an LIR asks the
HSS which S-CSCF serves the Request-URI (TS 29.228 §6.1.4). The LIA decides: a
Server-Name (2001, or 2003 for a user with unregistered services) → forward there;
Server-Capabilities → select from the pool; 5001 → 404; 5003 or no S-CSCF → 480; no
answer → 504 (``lir_failure_status``) with a Reason header. No Record-Route.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from ims_core import log
from ims_core.cscf import CscfCore, CxOutcome, DiameterClient
from ims_core.diameter import DiameterTimeout, DiameterUnavailable, Message
from ims_core.proxy import ProxyConfig, RequestContext, Target
from ims_core.sip import Response, SipParseError, quote
from ims_core.transaction import TimerConfig

from . import lir
from .config import IcscfConfig
from .pool import ScscfPool
from .uar import (
    BadRegister,
    ForwardTo,
    Reject,
    SelectBy,
    UaaDecision,
    UarFields,
    decide,
    uar_fields,
)

_log = log.get("icscf")


class IcscfCore(CscfCore):
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
    ) -> None:
        super().__init__(config, diameter, timers)
        self.domain = domain
        self.pool = pool
        self.hss_failure_status = hss_failure_status
        self.lir_failure_status = lir_failure_status
        self.uar_timeout = uar_timeout

    @classmethod
    def from_config(cls, cfg: IcscfConfig) -> IcscfCore:
        return cls(
            cfg.proxy_config(record_route=False), cfg.diameter, domain=cfg.domain,
            pool=ScscfPool(cfg.scscf), hss_failure_status=cfg.hss_failure_status,
            lir_failure_status=cfg.lir_failure_status,
            uar_timeout=cfg.uar_timeout or None, timers=cfg.timer_config(),
        )  # fmt: skip

    # -- hooks -------------------------------------------------------------------------
    def route_request(
        self, ctx: RequestContext
    ) -> Target | Sequence[Target] | Response | None:
        request = ctx.request
        if request.method == "REGISTER":
            return self.route_register(ctx)
        if "route" in request.headers or ctx.in_dialog:
            return Target()  # loose-routed through us (§16.4 removed our own entry)
        return self.route_initial(ctx)

    def should_record_route(self, ctx: RequestContext) -> bool:
        # TS 24.229 §5.3.1.2 (REGISTER) and §5.3.2.1 (other requests: it may, we don't:
        # the S-CSCFs on both legs stay in the dialog, the I-CSCF need not).
        return False

    # -- REGISTER (TS 24.229 §5.3.1.2) -------------------------------------------------
    def route_register(self, ctx: RequestContext) -> Response | None:
        try:
            fields = uar_fields(ctx.request, self.domain)
        except (BadRegister, SipParseError) as exc:
            _log.info("icscf.bad_register", error=str(exc),
                      call_id=ctx.request.headers.get("call-id"))
            return self.make_response(ctx, 403, "Forbidden - No Identity")
        if self.diameter is None:
            return self._hss_failure(ctx, "HSS not configured")
        uar = self.cx_request("UAR", fields.avps())
        ctx.data["uar"] = fields
        self.query(uar, partial(self._on_uaa, ctx), self.uar_timeout)
        return None

    def _on_uaa(self, ctx: RequestContext, outcome: CxOutcome, now: float) -> None:
        if ctx.final_sent:
            return  # e.g. CANCELled meanwhile
        try:
            self._handle_uaa(ctx, outcome, now)
        except Exception as exc:  # a bug here must not leave the REGISTER unanswered
            _log.error("icscf.uaa_failed", error=repr(exc),
                       call_id=ctx.request.headers.get("call-id"))
            if not ctx.final_sent:
                self.respond(ctx, self.make_response(ctx, 500), now)

    def _handle_uaa(self, ctx: RequestContext, outcome: CxOutcome, now: float) -> None:
        fields: UarFields = ctx.data["uar"]
        if not isinstance(outcome, Message):
            text = self._failure_text(outcome, "UAA")
            _log.warning("icscf.uar_failed", impi=fields.impi, error=text)
            self.respond(ctx, self._hss_failure(ctx, text), now)
            return
        decision = decide(outcome)
        self._apply(ctx, decision, now, self.hss_failure_status, "uaa",
                    impi=fields.impi, impu=fields.impu)

    def _apply(self, ctx: RequestContext, decision: UaaDecision, now: float,
               failure_status: int, what: str, **info: str) -> None:
        """Carry out a UAA/LIA decision: forward to the named or selected S-CSCF, or
        answer with the rejection (the HSS-failure status when the query failed)."""
        if isinstance(decision, SelectBy):
            name = self.pool.select(decision.capabilities)
            if name is None:
                decision = Reject(500, "Server Internal Error - No Suitable S-CSCF",
                                  decision.code)
            else:
                decision = ForwardTo(name, decision.code)
        if isinstance(decision, Reject):
            event = "register_rejected" if what == "uaa" else "lia_rejected"
            _log.info(f"icscf.{event}", result=decision.code, status=decision.status,
                      **info)
            if decision.hss_failure:
                response = self._hss_failure(ctx, decision.reason, failure_status)
            else:
                response = self.make_response(ctx, decision.status, decision.reason)
            self.respond(ctx, response, now)
            return
        dest = self.pool.resolve(decision.server_name)
        if dest is None:
            _log.warning("icscf.unknown_scscf", server_name=decision.server_name)
            self.respond(ctx, self.make_response(
                ctx, 500, "Server Internal Error - S-CSCF Not Resolvable"), now)
            return
        _log.debug(f"icscf.{what}", result=decision.code, server_name=decision.server_name,
                   dest=str(dest), **info)
        self.forward(ctx, Target(next_hop=dest), now)

    @staticmethod
    def _failure_text(outcome: CxOutcome, answer: str) -> str:
        if isinstance(outcome, DiameterTimeout):
            return f"HSS timeout: no {answer} in time"
        if isinstance(outcome, DiameterUnavailable):
            return f"HSS unreachable: {outcome}"
        return f"HSS error: {outcome!r}"

    def _hss_failure(self, ctx: RequestContext, text: str,
                     status: int | None = None) -> Response:
        """TS 24.229 §5.3.1.2 / §5.3.2.1: the query could not be completed → 480 (or
        504), with a Reason header (RFC 3326) saying why."""
        status = status or self.hss_failure_status
        reason = "Server Time-out" if status == 504 else None
        response = self.make_response(ctx, status, reason)
        response.headers.add("Reason", f"SIP;cause={status};text={quote(text)}")
        return response

    # -- other requests ----------------------------------------------------------------
    def route_initial(self, ctx: RequestContext) -> Target | Sequence[Target] | Response | None:
        """An initial request for a user of our domain (TS 24.229 §5.3.2.1): ask the HSS
        where the user is served (LIR, TS 29.228 §6.1.4) and forward there."""
        request = ctx.request
        try:
            impu = lir.public_identity(request.uri, self.domain)
        except lir.NotRoutable as exc:
            _log.info("icscf.not_routable", uri=request.uri_text, error=str(exc))
            return self.make_response(ctx, 404, "Not Found")
        if self.diameter is None:
            return self._hss_failure(ctx, "HSS not configured", self.lir_failure_status)
        ctx.data["lir"] = impu
        self.query(self.cx_request("LIR", lir.lir_avps(impu)), partial(self._on_lia, ctx),
                   self.uar_timeout, ctx=ctx)
        return None

    def _on_lia(self, ctx: RequestContext, outcome: CxOutcome, now: float) -> None:
        if ctx.final_sent:
            return  # e.g. CANCELled meanwhile (the proxy core answered 487)
        impu: str = ctx.data["lir"]
        if not isinstance(outcome, Message):
            text = self._failure_text(outcome, "LIA")
            _log.warning("icscf.lir_failed", impu=impu, error=text)
            self.respond(ctx, self._hss_failure(ctx, text, self.lir_failure_status), now)
            return
        self._apply(ctx, lir.decide(outcome), now, self.lir_failure_status, "lia", impu=impu)
