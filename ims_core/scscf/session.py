"""Session routing at the S-CSCF (TS 24.229 §5.4.3), sans-I/O: the originating and
terminating legs of calls and page-mode MESSAGEs, iFC evaluation towards Application
Servers (TS 23.218 §6, TS 29.228 Annex B/F) and their DefaultHandling.

Theory of operation — an initial request is handled per leg, in passes:

    pass            input                                  → action
    --------------  -------------------------------------  ------------------------------
    orig, first     Route <sip:orig@us> (Service-Route)    served user = P-Asserted-
                    or <us;ims-leg=orig>                     Identity, registered here,
                                                             else 403; Record-Route
                                                             <us;ims-leg=orig>
    orig / term     iFC i matches (session case 0 / 1)     → Route <AS;lr>,
                                                             <us;lr;ims-leg=…;ifc=i>
    AS answers      408 / 5xx / no answer                  → DefaultHandling: 0 continue
                                                             with iFC i+1; 1 relay failure
    AS returns      Route <us;ims-leg=…;ifc=i>             → go on from iFC i+1 (no second
                                                             Record-Route)
    orig, no iFC    home Request-URI                       → the I-CSCF (it does the LIR);
                    another domain                         → static route, else 404
    term, first     no leg marker (from the I-CSCF)        → served user = Request-URI;
                                                             Record-Route <us;ims-leg=term>
    term, not       home user without bindings here        → SAR UNREGISTERED_USER; an
      registered                                             iFC for session case 2 → AS,
                                                             else 480
    term, no iFC    registered contacts                    → parallel fork, Request-URI :=
                                                             contact, Route := its Path

In-dialog requests (a To tag) follow their Route set; CANCEL is hop by hop (both are the
proxy core's). MESSAGE is routed the same way but never Record-Routed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ims_core import log
from ims_core.cscf import CscfCore, CxOutcome, Procedure, verdict
from ims_core.diameter import Message
from ims_core.identity import impu_aliases, impu_key
from ims_core.proxy import DIALOG_CREATING, Branch, RequestContext, Target, record_route_value
from ims_core.sip import Request, Response, SipUri, TelUri, parse_uri
from ims_core.userdata import DefaultHandling, Ifc, SessionCase, UserDataError
from ims_core.userdata import parse as parse_user_data

from . import cx
from . import ifc as ifcs
from .calls import CallTracker
from .config import ScscfConfig
from .legs import ORIG, TERM, asserted_identities, is_home
from .state import AsHop, ScscfRequest
from .store import Registration, RegistrationStore

_log = log.get("scscf")
_Route = Target | Sequence[Target] | Response | None
_Ctx = RequestContext[ScscfRequest]


def as_route(server_name: str) -> str:
    """The Route value towards an AS (its Server-Name, made loose: RFC 3261 §16.12)."""
    uri = parse_uri(server_name)
    if isinstance(uri, SipUri) and not uri.lr:
        uri.set_param("lr")
    return f"<{uri}>"


def _q(value: str | None) -> float:
    """A Contact q-value (RFC 3261 §20.10); absent or malformed counts as 1."""
    try:
        return float(value) if value is not None else 1.0
    except ValueError:
        return 1.0


class SessionCore(CscfCore[ScscfRequest]):
    """The call-routing half of the S-CSCF; :class:`ScscfCore` adds the registrar."""

    cfg: ScscfConfig
    store: RegistrationStore
    realm: str
    calls: CallTracker

    def new_state(self, request: Request) -> ScscfRequest:
        return ScscfRequest()

    # -- the legs -------------------------------------------------------------------------
    def route_session(self, ctx: _Ctx, now: float) -> _Route:
        """An initial non-REGISTER request (called after the in-dialog case)."""
        leg = ctx.state.leg
        if leg is not None and leg.leg == ORIG:
            return self.route_originating(ctx)
        if leg is None and "route" in ctx.request.headers:
            return Target()  # loose-routed through us, on no leg of ours
        return self.route_terminating(ctx, now)

    def route_originating(self, ctx: _Ctx) -> _Route:
        """TS 24.229 §5.4.3.2: served user from P-Asserted-Identity, originating iFCs,
        then towards the callee."""
        request = ctx.request
        served = self._served_originating(request)
        if served is None:
            _log.info("scscf.orig_not_registered", call_id=request.headers.get("call-id"),
                      pai=request.headers.get("p-asserted-identity"))
            return self._warn(ctx, 403, "Forbidden - Served User Not Registered")
        key, reg = served
        if key in reg.barred:
            return self._warn(ctx, 403, "Forbidden - Served User Barred")
        self._first_pass(ctx, ORIG)
        ifc_list = reg.profile.ifcs_for(key) if reg.profile is not None else ()
        hop = self._match_ifc(ctx, ORIG, ifc_list, SessionCase.ORIGINATING)
        if hop is not None:
            return hop
        return self._onwards(ctx)

    def route_terminating(self, ctx: _Ctx, now: float) -> _Route:
        """TS 24.229 §5.4.3.3: served user = the Request-URI; terminating iFCs; then
        every registered contact in parallel, each through its stored Path."""
        uri = ctx.request.uri
        found = self._lookup(uri)
        if found is None:
            if not is_home(uri, self.realm):
                return self._warn(ctx, 404, "Not Found")
            return self._unregistered(ctx, now)
        key, reg = found
        if key in reg.barred:
            return self._warn(ctx, 404, "Not Found - Barred")
        self._first_pass(ctx, TERM)
        ifc_list = reg.profile.ifcs_for(key) if reg.profile is not None else ()
        hop = self._match_ifc(ctx, TERM, ifc_list, SessionCase.TERMINATING_REGISTERED)
        if hop is not None:
            return hop
        # RFC 3327 §5.3: each contact's Path becomes the Route set of its copy.
        return [Target(uri=parse_uri(b.uri), route=b.path)
                for b in sorted(reg.bindings.values(), key=lambda b: -_q(b.q))]

    # -- steps ----------------------------------------------------------------------------
    def _served_originating(self, request: Request) -> tuple[str, Registration] | None:
        for key in asserted_identities(request):
            reg = self.store.get(key)
            if reg is not None and reg.bindings:
                return key, reg
        return None

    def _lookup(self, uri: object) -> tuple[str, Registration] | None:
        if not isinstance(uri, SipUri | TelUri):
            return None
        for key in impu_aliases(uri, self.realm):
            reg = self.store.get(key)
            if reg is not None and reg.bindings:
                return key, reg
        return None

    def _first_pass(self, ctx: _Ctx, leg: str) -> None:
        """Record-Route once per leg (on the pass that did not come back from an AS),
        dialog-creating requests only (RFC 3261 §16.6 step 4; TS 24.229 §5.4.3.2)."""
        marker = ctx.state.leg
        returning = marker is not None and marker.ifc is not None
        if self.config.record_route and not returning and (
                ctx.request.method in DIALOG_CREATING):
            ctx.state.record_route = leg

    def _unregistered(self, ctx: _Ctx, now: float) -> _Route:
        """TS 24.229 §5.4.3.3 / TS 29.228 §6.1.2: a home user not registered here. SAR
        UNREGISTERED_USER fetches the profile; a terminating-unregistered iFC (session
        case 2) sends the request to its AS; otherwise 480."""
        if self.diameter is None:
            return self.make_response(ctx, 480)
        key = impu_key(ctx.request.uri)
        avps = cx.sar_avps(None, [key], self.cfg.server_name,
                           cx.AssignmentType.UNREGISTERED_USER, False)

        def on_saa(outcome: CxOutcome, now: float) -> None:
            decision = self._after_unregistered_saa(ctx, key, outcome)
            if isinstance(decision, Response):
                self.respond(ctx, decision, now)
            elif decision is not None:
                self.forward(ctx, decision, now)

        self.query(self.cx_request("SAR", avps), on_saa, ctx=ctx, now=now)
        return None

    def _after_unregistered_saa(self, ctx: _Ctx, key: str, outcome: CxOutcome) -> _Route:
        v = verdict(outcome, Procedure.SAR)
        data = outcome.get("User-Data") if isinstance(outcome, Message) else None
        if not v.ok or not isinstance(data, bytes | str):
            _log.info("scscf.unregistered_no_profile", impu=key,
                      why=v.text if not v.ok else "no User-Data")
            return self.make_response(ctx, 480)
        try:
            profile = parse_user_data(data)
        except UserDataError as exc:
            _log.warning("scscf.bad_user_data", impu=key, error=str(exc))
            return self.make_response(ctx, 480)
        if profile.is_barred(key):
            return self._warn(ctx, 404, "Not Found - Barred")
        self._first_pass(ctx, TERM)
        hop = self._match_ifc(ctx, TERM, profile.ifcs_for(key),
                              SessionCase.TERMINATING_UNREGISTERED)
        return hop if hop is not None else self.make_response(ctx, 480)

    def _match_ifc(self, ctx: _Ctx, leg: str, profile: Sequence[Ifc],
                   case: SessionCase) -> Target | None:
        """The next matching iFC after the one the request came back from, as a Target
        towards its AS with our own Route behind it to come back on (TS 23.218 §6.4,
        TS 24.229 §5.4.3.2 step 4)."""
        marker = ctx.state.leg
        done = ctx.state.ifc_done
        if done is None:
            done = marker.ifc if marker is not None and marker.ifc is not None else -1
        found = ifcs.next_match(profile, ctx.request, case, done + 1)
        if found is None:
            return None
        index, ifc = found
        cfg = self.config
        back = record_route_value(cfg.host, cfg.port, leg=leg, ifc=index)
        target = Target(route=(as_route(ifc.server_name), back))
        ctx.state.as_hop = AsHop(leg, index, ifc, target)
        _log.debug("scscf.to_as", leg=leg, ifc=index, server=ifc.server_name,
                   call_id=ctx.request.headers.get("call-id"))
        return target

    def _onwards(self, ctx: _Ctx) -> _Route:
        """Originating, after the iFCs: a remaining Route set is followed; otherwise the
        Request-URI decides — home users via the I-CSCF (TS 24.229 §5.4.3.2 step 10),
        other domains by static route (no DNS here), else 404."""
        request = ctx.request
        if "route" in request.headers:
            return Target()
        uri = request.uri
        if is_home(uri, self.realm):
            dest = self.cfg.icscf_destination()
            if dest is None:
                return self._warn(ctx, 500, "Server Internal Error - No I-CSCF")
            return Target(next_hop=dest)
        if isinstance(uri, SipUri):
            dest = self.cfg.static_route(uri.host)
            if dest is not None:
                return Target(next_hop=dest)
            return self._warn(ctx, 404, "Not Found - No Route To Domain")
        if isinstance(uri, TelUri):
            return self._warn(ctx, 404, "Not Found - Local Number Not Routable")
        return self._warn(ctx, 416, "Unsupported URI Scheme")

    # -- proxy hooks ----------------------------------------------------------------------
    def should_record_route(self, ctx: _Ctx) -> bool:
        return False  # our own Record-Route, with ims-leg, goes in on_forward

    def on_forward(self, ctx: _Ctx, request: Request, target: Target) -> None:
        leg = ctx.state.record_route
        if leg is not None and ctx.server_tx is not None:  # never on a stateless ACK
            cfg = self.config
            request.push_address("Record-Route", record_route_value(
                cfg.host, cfg.port, ctx.source.transport, leg=leg))

    def on_response(self, ctx: _Ctx, response: Response) -> None:
        """A 2xx to an initial INVITE we Record-Routed: a call begins (calls.py)."""
        if (ctx.state.record_route is not None and 200 <= response.status < 300
                and ctx.request.method == "INVITE" and not ctx.in_dialog):
            self.calls.answered(response, ctx.created)

    def on_branch_final(self, ctx: _Ctx, branch: Branch[ScscfRequest], response: Response,
                        now: float) -> bool:
        """TS 24.229 §5.4.3.2/§5.4.3.3 and TS 29.228 Annex B.2.2 DefaultHandling: an AS
        that fails (408, 5xx, or no answer — the proxy core reports that as 408/503) is
        skipped with SESSION_CONTINUED; SESSION_TERMINATED relays the failure."""
        hop = ctx.state.as_hop
        failed = ifcs.as_failed(response)
        if (hop is None or branch.target is not hop.target or not failed
                or hop.ifc.default_handling == DefaultHandling.SESSION_TERMINATED):
            return False
        _log.info("scscf.as_failed", server=hop.ifc.server_name, status=response.status,
                  ifc=hop.index, call_id=ctx.request.headers.get("call-id"))
        ctx.state.as_hop = None
        ctx.state.ifc_done = hop.index
        decision = (self.route_originating(ctx) if hop.leg == ORIG
                    else self.route_terminating(ctx, now))
        if isinstance(decision, Response):
            self.respond(ctx, decision, now)
        elif decision is not None:
            self.forward(ctx, decision, now)
        return True

    # -- helpers --------------------------------------------------------------------------
    def _warn(self, ctx: _Ctx, status: int, reason: str) -> Response:
        return self.make_response(ctx, status, reason)
