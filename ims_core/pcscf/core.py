"""The P-CSCF (TS 24.229 §5.2) as a sans-I/O proxy core.

Theory of operation: every request is one of three legs, decided in `check_request`
(before our Route values are removed) and `route_request`:

| leg        | recognised by                                     | goes to                       |
|------------|---------------------------------------------------|-------------------------------|
| `register` | method REGISTER                                   | the home network's I-CSCF     |
| `orig`     | arrives on a registered UE's flow (§5.2.6.3)      | the stored Service-Route      |
| `term`     | top Route is our Path URI, or from a core node    | the UE, over its flow         |

A non-REGISTER request from a UE that is not registered is answered 403 (§5.2.6.3.1).
The registrar's answers pass through `on_response` (a 401 loses ck/ik, §5.2.2.1) and
`on_final` (a 2xx records, refreshes or removes the registration). Registrations lapse
by themselves: `get_timer` includes the store's next expiry and `handle_timer` removes
what is due. The originating and terminating hooks (`route_originating`,
`route_terminating`, `served_identity`) are where session handling (P-Asserted-Identity,
§5.2.6.3.3 / §5.2.6.4) plugs in later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ims_core import log
from ims_core.cscf import CscfCore
from ims_core.proxy import RequestContext, Target, top_route
from ims_core.sip import (
    Request,
    Response,
    SipParseError,
    SipUri,
    Uri,
    parse_name_addr,
    parse_uri,
)
from ims_core.transaction import TimerConfig
from ims_core.transport import Destination, Source

from .config import PcscfConfig
from .pheaders import (
    add_path,
    ensure_charging_vector,
    path_value,
    set_visited_network_id,
    strip_aka_keys,
)
from .register import RegisterRejected, build_registration, home_network_of
from .registrations import (
    FlowKey,
    MemoryRegistrationStore,
    Registration,
    RegistrationStore,
    contact_key_text,
    impu_key,
)

_log = log.get("pcscf")

LEG = "pcscf.leg"
REGISTER, ORIG, TERM = "register", "orig", "term"
# Requests that create a dialog: the P-CSCF stays on its path (TS 24.229 §5.2.6.3.3,
# §5.2.6.4.3; RFC 3261 §16.6 step 4).
DIALOG_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER"})


def flow_key(source: Source) -> FlowKey:
    return (source.transport, source.host, source.port)


def identity_candidates(request: Request) -> list[Uri]:
    """Who the UE says it is: P-Preferred-Identity values (RFC 3325 §9.2), then From."""
    out = [a.uri for a in request.addresses("p-preferred-identity")]
    out.append(request.from_addr.uri)
    return out


class PcscfCore(CscfCore):
    """See the module docstring. `store` defaults to memory."""

    def __init__(self, config: PcscfConfig, store: RegistrationStore | None = None,
                 timers: TimerConfig | None = None) -> None:
        super().__init__(config.proxy_config(), None, timers or config.timer_config())
        self.settings = config
        self.store: RegistrationStore = store if store is not None else MemoryRegistrationStore()
        self.i_cscfs = config.i_cscfs()
        self._core_addresses: set[tuple[str, int]] = {
            (d.host, d.port) for d in self.i_cscfs.values()}

    # -- who we are ------------------------------------------------------------------
    @property
    def path(self) -> str:
        """Our Path value; the port is the bound one (the server updates config.port)."""
        return path_value(self.settings.path_user, self.config.host, self.config.port)

    def is_our_path(self, uri: Uri | None) -> bool:
        return (isinstance(uri, SipUri) and uri.user == self.settings.path_user
                and self.is_local(uri))

    # -- timers ----------------------------------------------------------------------
    def get_timer(self) -> float | None:
        deadline = super().get_timer()
        expiry = self.store.next_expiry()
        if expiry is not None and (deadline is None or expiry < deadline):
            return expiry
        return deadline

    def handle_timer(self, now: float) -> None:
        super().handle_timer(now)
        for reg in self.store.expire(now):
            _log.info("pcscf.expired", impu=reg.registered_impu, flow=_flow_text(reg.flow))

    # -- proxy hooks -----------------------------------------------------------------
    def check_request(self, ctx: RequestContext) -> Response | None:
        rejection = super().check_request(ctx)
        if rejection is None and self.is_our_path(top_route(ctx.request)):
            ctx.data[LEG] = TERM  # RFC 3327 §5.3: the registrar routed it via our Path
        return rejection

    def route_request(self, ctx: RequestContext) -> Target | Sequence[Target] | Response | None:
        request = ctx.request
        if ctx.data.get(LEG) == TERM:
            return self.route_terminating(ctx)
        if request.method == "REGISTER":
            return self.route_register(ctx)
        reg = self.registration_of(ctx)
        if reg is not None:
            return self.route_originating(ctx, reg)
        if self.from_core(ctx.source) and self._to_registered_contact(ctx):
            return self.route_terminating(ctx)  # e.g. within a dialog, via Record-Route
        _log.info("pcscf.unregistered", method=request.method, peer=str(ctx.source),
                  call_id=request.headers.get("call-id"))
        return self.make_response(ctx, 403, "Forbidden - Not Registered")  # §5.2.6.3.1

    def should_record_route(self, ctx: RequestContext) -> bool:
        return ctx.request.method in DIALOG_METHODS and not ctx.in_dialog

    def on_forward(self, ctx: RequestContext, request: Request, target: Target) -> None:
        if ctx.data.get(LEG) == REGISTER:
            # TS 24.229 §5.2.2.1: Path (+ Require/Supported), P-Visited-Network-ID, icid.
            add_path(request, self.path)
            set_visited_network_id(request, self.settings.visited_network_id)
            ensure_charging_vector(request, self.config.host, self.settings.visited_network_id)

    def on_response(self, ctx: RequestContext, response: Response) -> None:
        if ctx.request.method == "REGISTER" and response.status == 401:
            try:
                strip_aka_keys(response)
            except SipParseError:
                # Keys we cannot find must not reach the UE: drop the challenge instead.
                response.headers.remove("www-authenticate")
                _log.warning("pcscf.bad_challenge", call_id=ctx.request.headers.get("call-id"))

    def on_final(self, ctx: RequestContext, response: Response, now: float) -> None:
        super().on_final(ctx, response, now)
        if ctx.request.method == "REGISTER" and 200 <= response.status < 300 \
                and ctx.data.get(LEG) == REGISTER:
            self.record_registration(ctx, response, now)

    # -- the three legs --------------------------------------------------------------
    def route_register(self, ctx: RequestContext) -> Target | Response:
        """TS 24.229 §5.2.2.1: check, then forward to the I-CSCF of the home network."""
        request = ctx.request
        try:
            dest = home_network_of(request, self.i_cscfs)
        except RegisterRejected as exc:
            return self.make_response(ctx, exc.status, exc.reason)
        # Our own Route is already gone (RFC 3261 §16.4); a UE has no say in where its
        # REGISTER goes beyond us, so any other preloaded Route goes too.
        request.headers.remove("route")
        ctx.data[LEG] = REGISTER
        return Target(next_hop=dest)

    def route_originating(self, ctx: RequestContext, reg: Registration) -> Target | Response:
        """§5.2.6.3: a request from a registered UE. An initial request is sent along the
        Service-Route (RFC 3608 §6: it replaces whatever Route the UE preloaded); a
        request within a dialog follows its route set."""
        request = ctx.request
        ctx.data[LEG] = ORIG
        ctx.data["registration"] = reg
        ctx.data["served_identity"] = self.served_identity(request, reg)
        if ctx.in_dialog:
            return Target()
        if not reg.service_route:
            dest = self._home_i_cscf(reg)
            if dest is None:
                return self.make_response(ctx, 403, "Forbidden - No Service-Route")
            request.headers.remove("route")
            return Target(next_hop=dest)
        request.headers.remove("route")
        for value in reversed(reg.service_route):
            request.push_address("Route", value)
        return Target()

    def route_terminating(self, ctx: RequestContext) -> Target | Response:
        """§5.2.6.4 (minimal): a request from the core towards a UE goes to the contact
        in its Request-URI over the flow that contact was registered on."""
        ctx.data[LEG] = TERM
        request = ctx.request
        reg = self.store.by_contact(request.uri_text) if isinstance(request.uri, SipUri) \
            else None
        if reg is None or reg.expires <= ctx.created:
            return self.make_response(ctx, 404, "Not Found - Contact Not Registered")
        binding = reg.binding_for(request.uri_text)
        if binding is None or binding.expires <= ctx.created:
            return self.make_response(ctx, 404, "Not Found - Contact Not Registered")
        transport, host, port = reg.flow
        return Target(next_hop=Destination(transport, host, port, reg.conn))

    # -- registrations ---------------------------------------------------------------
    def registration_of(self, ctx: RequestContext) -> Registration | None:
        """The UE's registration, found by the flow the request came in on (§5.2.6.3.1).
        Only the flow counts: claimed identities (P-Preferred-Identity, From) select the
        served identity within it (`served_identity`) but never admit a request — behind
        a NAT another UE shares the address and can claim anything."""
        reg = self.store.by_flow(flow_key(ctx.source))
        if reg is not None and reg.expires > ctx.created:
            return reg
        return None

    def served_identity(self, request: Request, reg: Registration) -> str:
        """The identity to assert for an originating request (TS 24.229 §5.2.6.3.3): a
        preferred identity that is registered, else the default public identity."""
        keys = {impu_key(i): i for i in reg.impus}
        try:
            for uri in identity_candidates(request):
                hit = keys.get(impu_key(uri))
                if hit is not None:
                    return hit
        except SipParseError:
            pass
        return reg.default_impu

    def from_core(self, source: Source) -> bool:
        """A request from a core node we know (an I-CSCF, or an S-CSCF named in a
        Service-Route): UDP by address and port, TCP by address (outbound connections
        come from ephemeral ports)."""
        addresses = self._core_addresses
        if (source.host, source.port) in addresses:
            return True
        return source.reliable and any(h == source.host for h, _ in addresses)

    def record_registration(self, ctx: RequestContext, response: Response, now: float) -> None:
        """TS 24.229 §5.2.2.1: keep what the 2xx says about this UE, or forget it."""
        flow = flow_key(ctx.source)
        previous = self.store.by_flow(flow)
        try:
            reg = build_registration(ctx.request, response, flow, ctx.source.conn, self.path,
                                     previous, now, self.settings.default_expires)
        except SipParseError as exc:
            _log.warning("pcscf.bad_register_response", reason=exc.reason,
                         call_id=ctx.request.headers.get("call-id"))
            return
        if reg is None:
            if self.store.remove(flow) is not None:
                _log.debug("pcscf.deregistered", flow=_flow_text(flow))
            return
        for b in reg.bindings:  # a contact lives on one flow: the newest
            other = self.store.by_contact(b.uri)
            if other is not None and other.flow != flow:
                self._drop_binding(other, b.uri)
        for value in reg.service_route:
            self._learn_core_node(value)
        self.store.save(reg)
        _log.debug("pcscf.registered", impu=reg.registered_impu, flow=_flow_text(flow),
                   expires=round(reg.expires - now))

    def _to_registered_contact(self, ctx: RequestContext) -> bool:
        request = ctx.request
        return isinstance(request.uri, SipUri) and \
            self.store.by_contact(request.uri_text) is not None

    def _drop_binding(self, reg: Registration, contact: str) -> None:
        key = contact_key_text(contact)
        rest = tuple(b for b in reg.bindings if contact_key_text(b.uri) != key)
        if rest:
            self.store.save(replace(reg, bindings=rest))
        else:
            self.store.remove(reg.flow)

    def _learn_core_node(self, route_value: str) -> None:
        try:
            uri = parse_name_addr(route_value).uri
        except SipParseError:
            return
        if isinstance(uri, SipUri):
            self._core_addresses.add((uri.maddr or uri.host, uri.port or 5060))

    def _home_i_cscf(self, reg: Registration) -> Destination | None:
        try:
            uri = parse_uri(reg.registered_impu)
        except SipParseError:
            return None
        return self.i_cscfs.get(uri.host.lower()) if isinstance(uri, SipUri) else None


def _flow_text(flow: FlowKey) -> str:
    return f"{flow[0].lower()}:{flow[1]}:{flow[2]}"
