"""The I-CSCF core (TS 24.229 §5.3), sans-I/O.

Theory of operation: every REGISTER is held (``route_request`` returns None) while a
UAR asks the HSS which S-CSCF serves the user (TS 29.228 §6.1.1). The UAA decides:
a Server-Name → forward to that S-CSCF; Server-Capabilities → select one from the
pool; a negative result → 403; no answer → 480 (or the configured 504) with a Reason
header. The Request-URI is left alone and no Record-Route is added (TS 24.229
§5.3.1.2). Nothing about the registration is kept once the REGISTER is forwarded.

Requests other than REGISTER: those carrying a Route set are forwarded along it;
initial requests to a user will get a Location-Info query (LIR, §5.3.2) with the calls
issue — :meth:`IcscfCore.route_initial` is the place — and are answered 404 for now.
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

from .config import IcscfConfig
from .pool import ScscfPool
from .uar import BadRegister, ForwardTo, Reject, SelectBy, UarFields, decide, uar_fields

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
        uar_timeout: float | None = None,
        timers: TimerConfig | None = None,
    ) -> None:
        super().__init__(config, diameter, timers)
        self.domain = domain
        self.pool = pool
        self.hss_failure_status = hss_failure_status
        self.uar_timeout = uar_timeout

    @classmethod
    def from_config(cls, cfg: IcscfConfig) -> IcscfCore:
        return cls(
            cfg.proxy_config(record_route=False), cfg.diameter, domain=cfg.domain,
            pool=ScscfPool(cfg.scscf), hss_failure_status=cfg.hss_failure_status,
            uar_timeout=cfg.uar_timeout or None, timers=cfg.timer_config(),
        )  # fmt: skip

    # -- hooks -------------------------------------------------------------------------
    def route_request(
        self, ctx: RequestContext
    ) -> Target | Sequence[Target] | Response | None:
        request = ctx.request
        if request.method == "REGISTER":
            return self.route_register(ctx)
        if "route" in request.headers:
            return Target()  # loose-routed through us (§16.4 removed our own entry)
        return self.route_initial(ctx)

    def should_record_route(self, ctx: RequestContext) -> bool:
        return False  # TS 24.229 §5.3.1.2 (REGISTER); calls: decided with the LIR work

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
            if isinstance(outcome, DiameterTimeout):
                text = "HSS timeout: no UAA in time"
            elif isinstance(outcome, DiameterUnavailable):
                text = f"HSS unreachable: {outcome}"
            else:
                text = f"HSS error: {outcome!r}"
            _log.warning("icscf.uar_failed", impi=fields.impi, error=text)
            self.respond(ctx, self._hss_failure(ctx, text), now)
            return
        decision = decide(outcome)
        if isinstance(decision, SelectBy):
            name = self.pool.select(decision.capabilities)
            if name is None:
                decision = Reject(500, "Server Internal Error - No Suitable S-CSCF",
                                  decision.code)
            else:
                decision = ForwardTo(name, decision.code)
        if isinstance(decision, Reject):
            _log.info("icscf.register_rejected", impi=fields.impi, impu=fields.impu,
                      result=decision.code, status=decision.status)
            if decision.hss_failure:
                response = self._hss_failure(ctx, decision.reason)
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
        _log.debug("icscf.uaa", impi=fields.impi, result=decision.code,
                   server_name=decision.server_name, dest=str(dest))
        self.forward(ctx, Target(next_hop=dest), now)

    def _hss_failure(self, ctx: RequestContext, text: str) -> Response:
        """TS 24.229 §5.3.1.2: the query could not be completed → 480 (or 504), with
        a Reason header (RFC 3326) saying why."""
        status = self.hss_failure_status
        reason = "Server Time-out" if status == 504 else None
        response = self.make_response(ctx, status, reason)
        response.headers.add("Reason", f"SIP;cause={status};text={quote(text)}")
        return response

    # -- other requests ----------------------------------------------------------------
    def route_initial(self, ctx: RequestContext) -> Target | Sequence[Target] | Response | None:
        """An initial request for a user of our domain (TS 24.229 §5.3.2): the LIR goes
        here with the calls issue. Until then: 404."""
        return self.make_response(ctx, 404, "Not Found - Terminating Routing Not Available")
