"""The P-CSCF (TS 24.229 §5.2) as a sans-I/O proxy core.

Theory of operation: every request is one of these, decided in `check_request`
(before our Route values are removed) and `route_request`:

| case       | recognised by                                    | goes to                      |
|------------|--------------------------------------------------|------------------------------|
| `register` | method REGISTER                                  | the home network's I-CSCF    |
| `orig`     | initial request on a registered UE's flow        | the stored Service-Route     |
|            | (§5.2.6.3)                                       |                              |
| `term`     | initial request from a core node via our Path,   | the UE, over its flow        |
|            | or to a registered contact (§5.2.6.4)            |                              |
| `dialog`   | a To tag (§5.2.7), from a UE flow or a core node | the next Route (the core),   |
|            |                                                  | else the UE's flow           |
| own NOTIFY | NOTIFY to our own URI from a core node (§5.2.5)  | answered here (regsub.py)    |

A flow may carry several registrations, one per registered identity (registrations.py):
a request from it belongs to the one `registration_of` picks, a request towards a contact
to the one `route_terminating` picks among those holding it.
A request from a UE that is not registered is answered 403 (§5.2.6.3.1), and so is one
from any other peer that is not a core node (an I-CSCF, or an S-CSCF of a Service-Route).
Originating requests lose the UE's P-Asserted-Identity and gain the asserted registered
identity and a P-Charging-Vector; requests towards a UE lose the charging headers (and
P-Asserted-Identity on `Privacy: id`); sec-agree headers and Proxy-Authorization from UEs
stop here (session.py). Responses from a UE lose the identity headers it put in them,
and those to an initial request get the identity we assert for it (`on_response`).
What is learnt about a request lives in its `PcscfRequest` (state.py).
Dialog-creating requests are Record-Routed with `ims-leg=orig|term` (our own parameter),
so in-dialog requests are routed by loose routing alone: our Route entries are removed
(RFC 3261 §16.4) and what remains, if anything, is the next hop towards the core; with
nothing left, the Request-URI is the UE's contact and the request goes over the flow
that contact was registered on (the UE's own address otherwise).

The registrar's answers pass through `on_response` (a 401 loses ck/ik, §5.2.2.1) and
`on_final` (a 2xx records, refreshes or removes the registration). Registrations lapse
by themselves: `get_timer` includes the store's next expiry and `handle_timer` removes
what is due. Other responses from the core pass untouched (100rel provisionals, SDP).
After an initial registration we subscribe to the UE's reg event (§5.2.3) and apply
what its NOTIFYs say (§5.2.5): `regsub.RegEventSubscriber`, which shares the store.
With `[ipsec]` enabled, UEs that offer it get IPsec security associations (ipsec.py,
`IpsecTable`): set up with the 401, confirmed by the protected REGISTER's 2xx, carrying
everything between the UE and us afterwards, gone with the registration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from ims_core import log
from ims_core.cscf.failover import FailoverCore
from ims_core.identity import to_uri, uri_key
from ims_core.ipsec import Kernel
from ims_core.proxy import (
    DIALOG_CREATING,
    RequestContext,
    Target,
    record_route_value,
    top_route,
)
from ims_core.reginfo import EVENT_PACKAGE
from ims_core.sip import (
    Request,
    Response,
    SipParseError,
    SipUri,
    Uri,
    event_package,
    parse_uri,
)
from ims_core.sip.address import name_addr_view
from ims_core.sip.addressing import Destination, Source, destination
from ims_core.sip.ids import unique_bytes
from ims_core.transaction import TimerConfig

from . import admission, gauges, persist
from .config import PcscfConfig
from .ipsec import IpsecTable, ProtectedSet, SecAgreeRejected
from .pheaders import (
    add_path,
    ensure_charging_vector,
    mark_integrity,
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
    drop_bindings,
    flow_text,
    on_flow,
    registration_key,
    select,
)
from .regsub import RegEventSubscriber
from .session import (
    assert_identity,
    claimed_identities,
    drop_ue_identity,
    prepare_for_ue,
    served_identities,
    strip_proxy_credentials,
    strip_sec_agree,
)
from .state import Leg, PcscfRequest

if TYPE_CHECKING:
    from ims_core.metrics import SipMetrics
    from ims_core.persist import Backend, Journal

_log = log.get("pcscf")

Ctx = RequestContext[PcscfRequest]


def flow_key(source: Source) -> FlowKey:
    return (source.transport, source.host, source.port)


class PcscfCore(FailoverCore[PcscfRequest]):
    """See the module docstring. `store` defaults to memory; `rng` draws tags and icids."""

    # What an OPTIONS to the P-CSCF itself is answered with (RFC 3261 §11.2; the proxy
    # core answers it): the methods we relay and the extensions we implement, `sec-agree`
    # only with [ipsec] enabled (options_response).
    allow: ClassVar[str] = ("INVITE, ACK, CANCEL, BYE, PRACK, UPDATE, INFO, MESSAGE, "
                            "OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, REFER, PUBLISH")
    supported: ClassVar[str] = "path"

    # Methods that live in their own modules, bound here by hand (a compiled class,
    # ims_core/native.py, takes no function assigned in its body).
    def protected(self, ctx: Ctx) -> bool:  # what overload control never sheds
        return admission.protected(self, ctx)

    def bind_metrics(self, metrics: SipMetrics) -> None:  # the registration gauges
        gauges.bind_metrics(self, metrics)

    def attach_journal(self, journal: Journal) -> None:  # across restarts (persist.py)
        persist.attach_journal(self, journal)

    def restore(self, backend: Backend, wall_now: float, loop_now: float) -> int:
        return persist.restore(self, backend, wall_now, loop_now)

    def __init__(self, config: PcscfConfig, store: RegistrationStore | None = None,
                 timers: TimerConfig | None = None, *, rng: Callable[[int], bytes] = unique_bytes,
                 kernel: Kernel | None = None) -> None:
        super().__init__(config.proxy_config(), None, timers or config.timer_config(),
                         rng=rng, overload=config.overload)
        self.settings = config
        self.store: RegistrationStore = store if store is not None else MemoryRegistrationStore()
        self.i_cscfs = config.i_cscf_lists()  # tried in turn for a REGISTER (cscf.failover)
        self._core_addresses: set[tuple[str, int]] = {
            (d.host, d.port) for dests in self.i_cscfs.values() for d in dests}
        self.regsub = RegEventSubscriber(config.regevent, self.store, self.originate,
                                         self.local_uri, self.rng)
        self.ipsec: IpsecTable | None = None
        if config.ipsec.enabled:
            if kernel is None:
                raise ValueError("[ipsec] enabled needs a kernel to install SAs in")
            self.ipsec = IpsecTable(config.ipsec, self.config.host, kernel, self.rng)

    # -- who we are ------------------------------------------------------------------
    @property
    def path(self) -> str:
        """Our Path value; the port is the bound one (the server updates config.port)."""
        return path_value(self.settings.path_user, self.config.host, self.config.port)

    def local_uri(self) -> str:
        """Our own URI as a UA (the host:port of our Path): From, P-Asserted-Identity
        and Contact of our SUBSCRIBEs, the Request-URI of the NOTIFYs for us."""
        return f"sip:{self.config.host}:{self.config.port}"

    def is_our_path(self, uri: Uri | None) -> bool:
        return (isinstance(uri, SipUri) and uri.user == self.settings.path_user
                and self.is_local(uri))

    # -- timers ----------------------------------------------------------------------
    def get_timer(self) -> float | None:  # asked after every message: no list, no min()
        best = super().get_timer()
        for t in (self.store.next_expiry(), self.regsub.get_timer(),
                  self.ipsec.get_timer() if self.ipsec is not None else None):
            if t is not None and (best is None or t < best):
                best = t
        return best

    def handle_timer(self, now: float) -> None:
        super().handle_timer(now)
        for reg in self.store.expire(now):
            _log.info("pcscf.expired", impu=reg.registered_impu, flow=flow_text(reg.flow))
            self.regsub.release_unused(reg)
            self._release_sets(now, reg.flow[1])
        self.regsub.handle_timer(now)
        if self.ipsec is not None:
            self.ipsec.handle_timer(now)

    # -- IPsec (ipsec.py) ------------------------------------------------------------
    def options_response(self, ctx: Ctx) -> Response:
        response = super().options_response(ctx)
        if self.ipsec is not None:  # RFC 3329 §2.2: we can agree on ipsec-3gpp
            response.headers.set("Supported", f"{self.supported}, sec-agree")
        return response

    def receive(self, message: Request | Response, source: Source, now: float) -> None:
        if self.ipsec is not None and isinstance(message, Request) and \
                self.settings.ipsec.unprotected == "drop" and self._unprotected(message, source):
            _log.info("pcscf.unprotected_dropped", method=message.method, peer=str(source))
            return
        super().receive(message, source, now)

    def _unprotected(self, request: Request, source: Source) -> bool:
        """A request that should have come over a UE's SAs and did not (TS 33.203 §7:
        after registration everything from the UE is protected). A REGISTER may always
        start afresh, unprotected (TS 24.229 §5.2.2.1)."""
        assert self.ipsec is not None
        return request.method != "REGISTER" and self.ipsec.arrival(source) is None \
            and not self.from_core(source) and self.ipsec.protects(source.host)

    def check_protection(self, ctx: Ctx) -> Response | None:
        """What came over which SA set, and what a REGISTER offers (TS 24.229 §5.2.2.1):
        a REGISTER over a set repeats our Security-Server in Security-Verify and is
        marked integrity-protected="yes"; an unprotected one offering ipsec-3gpp is
        marked "no" and gets a set with its 401."""
        assert self.ipsec is not None
        request, state = ctx.request, ctx.state
        state.protected = pset = self.ipsec.arrival(ctx.source)
        if pset is None and (ctx.source.local_port == self.ipsec.port_s
                             or self._unprotected(request, ctx.source)):
            return self.make_response(ctx, 403, "Forbidden - Not Protected")
        if request.method != "REGISTER":
            return None
        try:
            if pset is not None:
                self.ipsec.verify(request, pset)
            elif "security-verify" in request.headers:
                self.ipsec.unprotected_verify(ctx.source)
            state.sec_offer = self.ipsec.offer(request)
        except SecAgreeRejected as exc:
            response = self.make_response(ctx, exc.status, exc.reason)
            for name, value in exc.headers:
                response.headers.add(name, value)
            response.headers.add("Require", "sec-agree")  # RFC 3329 §2.3.1
            return response
        if pset is not None or state.sec_offer is not None:
            mark_integrity(request, "yes" if pset is not None else "no")
        return None

    def _release_sets(self, now: float, host: str | None = None) -> None:
        """Retire the SA sets (of UE address `host`) no live registration rides any more."""
        def in_use(pset: ProtectedSet) -> bool:
            return any(r.expires > now for t in ("UDP", "TCP")
                       for r in self.store.by_flow((t, pset.ue.host, pset.ue.port_c)))
        if self.ipsec is not None:
            self.ipsec.sweep(in_use, now, host)

    # -- proxy hooks -----------------------------------------------------------------
    def new_state(self, request: Request) -> PcscfRequest:
        return PcscfRequest()

    def check_request(self, ctx: Ctx) -> Response | None:
        request = ctx.request
        if not self.from_core(ctx.source):
            if self.ipsec is not None:
                answer = self.check_protection(ctx)
                if answer is not None:
                    return answer
            # RFC 3329 §2.6: we are the UE's sec-agree peer, so its Proxy-Require tag is
            # ours (and must not earn a 420 below); nothing of it travels further.
            strip_sec_agree(request)
        rejection = super().check_request(ctx)
        if rejection is None and self.is_our_path(top_route(request)):
            ctx.state.via_path = True  # RFC 3327 §5.3: the registrar routed it via our Path
        return rejection

    def route_request(self, ctx: Ctx) -> Target | Sequence[Target] | Response | None:
        request = ctx.request
        if request.method == "REGISTER":
            return self.route_register(ctx)
        if request.method == "NOTIFY" and "route" not in request.headers \
                and self.is_local(request.uri):
            return self.own_notify(ctx)
        reg = self.registration_of(ctx)
        core = reg is None and self.from_core(ctx.source)
        if ctx.in_dialog:
            return self.route_in_dialog(ctx, reg, core)
        if reg is not None:
            return self.route_originating(ctx, reg)
        if core and (ctx.state.via_path or self._to_registered_contact(ctx)):
            return self.route_terminating(ctx)
        _log.info("pcscf.unregistered", method=request.method, peer=str(ctx.source),
                  call_id=request.headers.get("call-id"))
        return self.make_response(ctx, 403, "Forbidden - Not Registered")  # §5.2.6.3.1

    def should_record_route(self, ctx: Ctx) -> bool:
        return False  # on_forward adds our own, with its ims-leg (record_route_leg)

    def on_forward(self, ctx: Ctx, request: Request, target: Target) -> None:
        state = ctx.state
        if state.from_ue:
            strip_proxy_credentials(request)
        if state.leg is Leg.REGISTER:
            # TS 24.229 §5.2.2.1: Path (+ Require/Supported), P-Visited-Network-ID, icid.
            add_path(request, self.path)
            set_visited_network_id(request, self.settings.visited_network_id)
            ensure_charging_vector(request, self.config.host,
                                   self.settings.visited_network_id, self.rng)
        leg = state.record_route_leg
        if leg is not None:  # RFC 3261 §16.6 step 4; TS 24.229 §5.2.6.3.3, §5.2.6.4.3
            # A UE behind SAs sends in-dialog requests to our protected server port.
            port = self.ipsec.port_s if self.ipsec is not None and state.ue_protected \
                else self.config.port
            request.push_address("Record-Route", record_route_value(
                self.config.host, port, state.ue_transport, leg=leg.value))

    def on_response(self, ctx: Ctx, response: Response) -> None:
        if ctx.request.method == "REGISTER" and response.status == 401:
            if ctx.state.sec_offer is not None and self.ipsec is not None:
                self.ipsec.secure_challenge(response, ctx.state.sec_offer, ctx.source.host,
                                            ctx.state.protected, ctx.created)
            try:
                strip_aka_keys(response)
            except SipParseError:
                # Keys we cannot find must not reach the UE: drop the challenge instead.
                response.headers.remove("www-authenticate")
                _log.warning("pcscf.bad_challenge", call_id=ctx.request.headers.get("call-id"))
        if ctx.state.to_ue:
            self.assert_responder(ctx, response)

    def on_final(self, ctx: Ctx, response: Response, now: float) -> None:
        super().on_final(ctx, response, now)
        if ctx.request.method != "REGISTER" or ctx.state.leg is not Leg.REGISTER:
            return
        pset = ctx.state.protected
        if 200 <= response.status < 300:
            if pset is not None and self.ipsec is not None:
                self.ipsec.confirm(pset, now)
            self.record_registration(ctx, response, now)
            self._release_sets(now, ctx.source.host)
        elif pset is not None and self.ipsec is not None and response.status != 401:
            self.ipsec.reject(pset)

    def assert_responder(self, ctx: Ctx, response: Response) -> None:
        """A response from a UE we delivered a request to. Whatever identity it claims
        is not believed (RFC 3325 §5; TS 24.229 §5.2.6.4: the UE is outside the trust
        domain). To a 1xx/2xx for an initial request — §5.2.6.4.4 for one that creates a
        dialog, §5.2.6.4.8 for a standalone transaction — we assert the UE's identity: a
        P-Preferred-Identity from its implicit set (which then goes), else its default
        public identity. Responses within a dialog (§5.2.6.4.6, §5.2.6.4.10) and final
        failures get none."""
        reg = ctx.state.registration
        if ctx.state.leg is Leg.TERM and reg is not None and 100 < response.status < 300:
            assert_identity(response, served_identities(response, reg.impus,
                                                         reg.default_impu))
        else:
            drop_ue_identity(response)

    def own_notify(self, ctx: Ctx) -> Response:
        """A NOTIFY addressed to us (TS 24.229 §5.2.5): ours to answer, never relayed
        and not a UE's request. Only a core node (the S-CSCF) may send one; only the reg
        event is ours (RFC 6665 §4.1.3: 489 otherwise)."""
        request = ctx.request
        if not self.from_core(ctx.source):
            _log.info("pcscf.notify_not_from_core", peer=str(ctx.source),
                      call_id=request.headers.get("call-id"))
            return self.make_response(ctx, 403, "Forbidden - Not From the Core")
        if event_package(request.headers.get("event")) != EVENT_PACKAGE:
            response = self.make_response(ctx, 489)
            response.headers.add("Allow-Events", EVENT_PACKAGE)
            return response
        answer = self.regsub.on_notify(request, ctx.created)
        self._release_sets(ctx.created)  # registrations it ended take their SAs along
        response = self.make_response(ctx, answer.status, answer.reason)
        for name, value in answer.headers:
            response.headers.add(name, value)
        return response

    # -- the legs --------------------------------------------------------------------
    def route_register(self, ctx: Ctx) -> Target | Response:
        """TS 24.229 §5.2.2.1: check, then forward to the I-CSCF of the home network."""
        request = ctx.request
        try:
            dests = home_network_of(request, self.i_cscfs)
        except RegisterRejected as exc:
            return self.make_response(ctx, exc.status, exc.reason)
        # Our own Route is already gone (RFC 3261 §16.4); a UE has no say in where its
        # REGISTER goes beyond us, so any other preloaded Route goes too.
        request.headers.remove("route")
        ctx.state.leg = Leg.REGISTER
        ctx.state.from_ue = True
        return self.first_of(ctx, [Target(next_hop=d) for d in dests],  # the rest: failover
                             self.settings.icscf_timeout)

    def route_originating(self, ctx: Ctx, reg: Registration) -> Target | Response:
        """§5.2.6.3: an initial request from a registered UE. Its P-Asserted-Identity is
        replaced by the identity we assert, it gets an icid (§5.2.6.3.3, RFC 3455 §4.6)
        and is sent along the Service-Route, which replaces whatever Route the UE
        preloaded (RFC 3608 §6; §5.2.6.3: only us, or a wrong route, alike)."""
        request, state = ctx.request, ctx.state
        state.leg = Leg.ORIG
        state.from_ue = True
        state.registration = reg
        state.ue_protected = state.protected is not None
        assert_identity(request, served_identities(request, reg.impus, reg.default_impu))
        ensure_charging_vector(request, self.config.host, self.settings.visited_network_id,
                               self.rng)
        if request.method in DIALOG_CREATING:
            state.record_route_leg = Leg.ORIG
            state.ue_transport = ctx.source.transport
        request.headers.remove("route")
        if not reg.service_route:
            dest = self._home_i_cscf(reg)
            if dest is None:
                return self.make_response(ctx, 403, "Forbidden - No Service-Route")
            return Target(next_hop=dest)
        for value in reversed(reg.service_route):
            request.push_address("Route", value)
        return Target()

    def route_terminating(self, ctx: Ctx) -> Target | Response:
        """§5.2.6.4: an initial request from the core towards a UE goes to the contact in
        its Request-URI over the flow that contact was registered on; P-Asserted-Identity
        passes (trusted domain) unless the caller asked for `Privacy: id`. When several
        identities registered that contact, the request is for the one its
        P-Called-Party-ID, else its To, names (`select`)."""
        request, state = ctx.request, ctx.state
        state.leg = Leg.TERM
        uri, now = request.uri_text, ctx.created
        key = uri_key(request.uri) if isinstance(request.uri, SipUri) else ""  # parsed once
        holders = self.store.all_by_contact(uri) if key else []
        reg = select([r for r in holders if (b := r.binding_for(uri, key)) and b.expires > now],
                     claimed_identities(request, "p-called-party-id", "to"))
        if reg is None:
            return self.make_response(ctx, 404, "Not Found - Contact Not Registered")
        prepare_for_ue(request)
        state.to_ue = True
        state.registration = reg
        dest = self.flow_destination(reg)
        state.ue_protected = dest.local_port != 0
        if request.method in DIALOG_CREATING:
            state.record_route_leg = Leg.TERM
            state.ue_transport = reg.flow[0]
        return Target(next_hop=dest, flow=True)

    def route_in_dialog(self, ctx: Ctx, reg: Registration | None,
                        core: bool) -> Target | Response:
        """§5.2.7 (RFC 3261 §16.12): a request within a dialog we Record-Routed. Our
        Route entries are gone (§16.4); a remaining Route is the next hop towards the
        core (a UE's request: the S-CSCF). Nothing left means the Request-URI is the
        UE's contact: over its registered flow when it is one, else to the URI itself.
        Only registered UEs and core nodes may send, and a UE only towards the core: a
        Route left, or a core node's own URI (a dialog with the S-CSCF itself, which does
        not Record-Route it, e.g. the UE's reg event subscription)."""
        request, state = ctx.request, ctx.state
        state.leg = Leg.DIALOG
        if reg is None and not core:
            _log.info("pcscf.unknown_peer", method=request.method, peer=str(ctx.source),
                      call_id=request.headers.get("call-id"))
            return self.make_response(ctx, 403, "Forbidden - Not Registered")
        if reg is not None:
            state.from_ue = True
            state.registration = reg
            request.headers.remove("p-asserted-identity")  # RFC 3325 §5: not trusted
            strip_sec_agree(request)  # again: a 2xx ACK skips check_request (§16.11)
            if "route" not in request.headers and not self.is_core_node(request.uri):
                return self.make_response(ctx, 403, "Forbidden - Not Routed via the Core")
            return Target()
        if "route" in request.headers:
            return Target()
        prepare_for_ue(request)
        state.to_ue = True
        dest = self.ue_destination(request.uri, ctx.created)
        return Target(next_hop=dest, flow=dest is not None)

    def ue_destination(self, uri: Uri, now: float) -> Destination | None:
        """Where a request for contact `uri` goes: the flow the contact was registered
        on, else the flow of a UE registered from the URI's address, else the same for
        a UE the network de-registered a moment ago (`regsub.departed`), else None (the
        Request-URI as it is, RFC 3261 §16.6 step 7)."""
        if not isinstance(uri, SipUri):
            return None
        port = uri.port or 5060
        transports = [uri.transport.upper()] if uri.transport else ["UDP", "TCP"]
        for store in (self.store, self.regsub.departed):
            reg = store.by_contact(str(uri))
            if reg is None or reg.expires <= now:
                reg = next((r for t in transports
                            for r in store.by_flow((t, uri.maddr or uri.host, port))
                            if r.expires > now), None)
            if reg is not None:
                return self.flow_destination(reg)
        return None

    def flow_destination(self, reg: Registration) -> Destination:
        """The UE's flow; over its SAs when it has them (TS 33.203 §7.1)."""
        transport, host, port = reg.flow
        if self.ipsec is not None:
            dest = self.ipsec.destination(host, port, transport, reg.conn)
            if dest is not None:
                return dest
        return destination(transport, host, port, reg.conn)

    # -- registrations ---------------------------------------------------------------
    def registration_of(self, ctx: Ctx) -> Registration | None:
        """The registration a UE's request belongs to, found by the flow it came in on
        (§5.2.6.3.1): behind a NAT another UE shares the address and can claim anything.
        Claimed identities only choose among the registrations over the flow (`on_flow`:
        the one holding the P-Preferred-Identity, else the From URI, else the newest)
        and the served identity within the chosen one (`served_identity`)."""
        flow, now = flow_key(ctx.source), ctx.created
        claimed = claimed_identities(ctx.request, "p-preferred-identity", "from")
        if claimed:  # the usual case, O(1): the request claims its registered identity
            reg = self.store.get((flow, claimed[0]))
            if reg is not None and reg.expires > now:
                return reg
        return on_flow(self.store, flow, claimed, now)

    def served_identity(self, message: Request | Response, reg: Registration) -> str:
        """The identity to assert for a UE's request (TS 24.229 §5.2.6.3.3) or response
        (§5.2.6.4.4): a P-Preferred-Identity in the UE's implicit set, else the default
        public identity (the first P-Associated-URI)."""
        return served_identities(message, reg.impus, reg.default_impu)[0]

    def from_core(self, source: Source) -> bool:
        """A request from a core node we know (an I-CSCF, or an S-CSCF named in a
        Service-Route): UDP by address and port, TCP by address (outbound connections
        come from ephemeral ports)."""
        addresses = self._core_addresses
        if (source.host, source.port) in addresses:
            return True
        return source.reliable and any(h == source.host for h, _ in addresses)

    def is_core_node(self, uri: Uri) -> bool:
        """`uri` names a core node we know (see `from_core`) by host and port."""
        return isinstance(uri, SipUri) and \
            (uri.maddr or uri.host, uri.port or 5060) in self._core_addresses

    def record_registration(self, ctx: Ctx, response: Response, now: float) -> None:
        """TS 24.229 §5.2.2.1: keep what the 2xx says about the registration of the
        REGISTER's identity (its To) over this flow, or forget it; other identities
        registered over the flow are not touched (§5.2.2: state per registration)."""
        flow = flow_key(ctx.source)
        try:
            key = registration_key(flow, str(to_uri(ctx.request)))
            previous = self.store.get(key)
            reg = build_registration(ctx.request, response, flow, ctx.source.conn, self.path,
                                     previous, now, self.settings.default_expires,
                                     protected=ctx.state.protected is not None)
        except SipParseError as exc:
            _log.warning("pcscf.bad_register_response", reason=exc.reason,
                         call_id=ctx.request.headers.get("call-id"))
            return
        if reg is None:
            if (gone := self.store.remove(key)) is not None:
                _log.debug("pcscf.deregistered", impu=gone.registered_impu,
                           flow=flow_text(flow))
                self.regsub.release_unused(gone)
            return
        # Records it replaces (but with the same identities) or empties: their subscriptions may go.
        replaced = [previous] if previous is not None and previous.impus != reg.impus else []
        for b in reg.bindings:  # a contact lives on one flow: the newest
            for other in self.store.all_by_contact(b.uri):
                if other.flow != flow and \
                        drop_bindings(self.store, other, {b.key}) is None:
                    replaced.append(other)
        for value in reg.service_route:
            self._learn_core_node(value)
        self.store.save(reg)
        for other in replaced:  # after the save: a UE that only moved keeps its own
            self.regsub.release_unused(other)
        _log.debug("pcscf.registered", impu=reg.registered_impu, flow=flow_text(flow),
                   expires=round(reg.expires - now))
        if previous is None:  # §5.2.3: after the initial registration of the identity only
            self.regsub.subscribe(reg, now)

    def _to_registered_contact(self, ctx: Ctx) -> bool:
        request = ctx.request
        return isinstance(request.uri, SipUri) and \
            self.store.by_contact(request.uri_text) is not None

    def _learn_core_node(self, route_value: str) -> None:
        try:
            uri = name_addr_view(route_value).uri  # only read: no copy
        except SipParseError:
            return
        if isinstance(uri, SipUri):
            self._core_addresses.add((uri.maddr or uri.host, uri.port or 5060))

    def _home_i_cscf(self, reg: Registration) -> Destination | None:
        try:
            uri = parse_uri(reg.registered_impu)
        except SipParseError:
            return None
        return self.i_cscfs.get(uri.host.lower(), (None,))[0] if isinstance(uri, SipUri) else None
