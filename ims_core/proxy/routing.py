"""Request routing for a proxy (RFC 3261 §16.4-§16.6): "is this URI me?", Route
pre-processing and the strict-route fix-up, Record-Route values, and the next hop; and
where a response that matches no transaction goes (§16.7 step 1, §16.11).

Only the Route values are parsed, and only when a Route header is present.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ims_core.sip import Request, Response, SipUri, Uri, parse_name_addr
from ims_core.sip.addressing import (
    Destination,
    choose_transport,
    uri_destination,
    via_destination,
)

from .branch import is_own_branch
from .config import ProxyConfig

# Requests that create a dialog, and so are Record-Routed by a proxy that stays in it
# (RFC 3261 §12.1, §16.6 step 4; RFC 6665 §4.1 SUBSCRIBE; RFC 3515 §2.4.7 REFER).
DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER"})


@dataclass(frozen=True, slots=True, init=False)
class Target:
    """Where to forward a request (§16.5). `uri` replaces the Request-URI (None keeps
    it); `next_hop` sends there instead of to the top Route / Request-URI (§16.6 step 7,
    e.g. a configured outbound proxy); its transport "" means "as received".
    `flow`: `next_hop` is a flow a UE registered from (RFC 5626 §5.3, TS 24.229
    §5.2.6.4): use exactly that transport, even past the §18.1.1 size rule — a UE
    registered over UDP need not be listening on TCP. `route`: Route values (top first)
    put on top of the copy's Route set before it is routed (e.g. a registered contact's
    Path, RFC 3327 §5.3; an Application Server and our way back, TS 24.229 §5.4.3.2)."""

    uri: Uri | None = None
    next_hop: Destination | None = None
    flow: bool = False
    route: tuple[str, ...] = ()

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, uri: Uri | None = None, next_hop: Destination | None = None,
                 flow: bool = False, route: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "uri", uri)
        object.__setattr__(self, "next_hop", next_hop)
        object.__setattr__(self, "flow", flow)
        object.__setattr__(self, "route", route)


@dataclass(slots=True)
class Attempt:
    """Targets tried one after another (§16.6: a target set may be searched in
    sequence): those not yet tried, how many were, and how long each may stay silent
    (0: until Timer F/B). Kept on the request's context (`RequestContext.attempt`)."""

    remaining: list[Target]
    timeout: float = 0.0
    tried: int = 1
    failed: list[str] = field(default_factory=list)  # the hops given up on, for the log


def is_local(uri: Uri, names: frozenset[tuple[str, int]]) -> bool:
    """True when `uri` is a SIP URI naming this element (host and port, port 5060 when
    absent; a `maddr` naming us counts too)."""
    if not isinstance(uri, SipUri):
        return False
    port = uri.port or (5061 if uri.secure else 5060)
    if (uri.host.lower(), port) in names:
        return True
    maddr = uri.maddr
    return maddr is not None and (maddr.lower(), port) in names


def top_route(request: Request) -> Uri | None:
    """The URI of the first Route value, or None without a Route header."""
    if "route" not in request.headers:
        return None
    values = request.headers.values("route")
    return parse_name_addr(values[0]).uri if values else None


def preprocess_routes(request: Request, names: frozenset[tuple[str, int]]) -> None:
    """§16.4. If the Request-URI is a Record-Route value of ours (a strict router put it
    there; we always record-route with `lr`), restore the real Request-URI from the last
    Route value. Then remove every Route value on top that names us."""
    headers = request.headers
    if "route" not in headers:
        return
    uri = request.uri
    if isinstance(uri, SipUri) and uri.lr and is_local(uri, names):
        values = headers.values("route")
        last = parse_name_addr(values[-1])
        request.uri = last.uri
        headers.remove("route")
        for value in values[:-1]:
            headers.add("Route", value)
    while True:
        top = top_route(request)
        if top is None or not is_local(top, names):
            return
        headers.pop_first_value("route")


def apply_strict_route(request: Request) -> None:
    """§16.6 step 6: if the next hop is a strict router (top Route without `lr`), the
    Request-URI goes to the bottom of the Route set and the top Route becomes the
    Request-URI."""
    top = top_route(request)
    if not isinstance(top, SipUri) or top.lr:
        return
    headers = request.headers
    headers.pop_first_value("route")
    headers.add("Route", f"<{request.uri_text}>")
    request.uri = top


def request_destination(request: Request, default_transport: str, *,
                        strict: bool = False) -> Destination | None:
    """§16.6 step 7 (§8.1.2 for a UAC): the top Route URI if there is one, else — or when
    the request was formed for a `strict` router first — the Request-URI; None when that
    is not a SIP URI (a tel: URI needs a translation the caller must do first)."""
    uri = request.uri if strict else (top_route(request) or request.uri)
    if not isinstance(uri, SipUri):
        return None
    return uri_destination(uri, default_transport)


def record_route_value(host: str, port: int, transport: str = "UDP", *,
                       leg: str | None = None, ifc: int | None = None) -> str:
    """Our Record-Route value (§16.6 step 4) — and the Route back to us an IMS node puts
    in front of an Application Server: always loose (`lr`), with the transport when it
    is not UDP so the dialog's later requests use the same one. `leg`: the IMS leg
    (``orig``/``term``) in our own ``ims-leg`` parameter, so a request routed by it tells
    which side of the session it is on (TS 24.229 §5.2.6.3.3, §5.4.3.2); `ifc`: the
    index of the iFC whose AS the request returns from (TS 23.218 §6.4)."""
    tp = "" if transport.upper() == "UDP" else f";transport={transport.lower()}"
    mark = "" if leg is None else f";ims-leg={leg}"
    back = "" if ifc is None else f";ifc={ifc}"
    return f"<sip:{host}:{port}{tp};lr{mark}{back}>"


def stateless_response_destination(response: Response, names: frozenset[tuple[str, int]],
                                   salt: str) -> Destination | None:
    """Where a response matching no transaction goes, its top Via (ours) removed; None:
    it stops here. It goes on by the next Via when the top one names us (§16.11), e.g.
    the answer to a CANCEL forwarded statelessly (§16.10) — except on a branch of our
    own transactions (`salt`), where only an INVITE's 2xx goes on (RFC 6026: its
    transaction may have ended) and any other answer is late, what it answers having
    had its final response upstream. Raises SipParseError for a malformed Via/CSeq."""
    via = response.top_via_view()
    if (via.host.lower(), via.port or 5060) not in names:
        return None
    if is_own_branch(via.branch or "", salt) and (
            response.status // 100 != 2 or response.cseq.method != "INVITE"):
        return None
    response.headers.pop_first_value("via")
    return via_destination(response.top_via_view()) if "via" in response.headers else None


def forward_copy(request: Request, target: Target, inbound: str, cfg: ProxyConfig,
                 record_route: bool) -> Request:
    """§16.6 steps 1-4: the copy of `request` for `target`, with the Route set the
    target brings (e.g. Path) on top."""
    out = request.copy()  # step 1
    if target.uri is not None:
        out.uri = target.uri  # step 2
    out.decrement_max_forwards()  # step 3
    if record_route:  # step 4
        out.push_address("Record-Route", record_route_value(cfg.host, cfg.port, inbound))
    for value in reversed(target.route):
        out.push_address("Route", value)
    return out


def forward_destination(out: Request, target: Target, inbound: str) -> Destination | None:
    """§16.6 steps 6-7 on the copy: where it goes (None: nowhere)."""
    # Step 7 before step 6: a strict router's address is the top Route either way.
    dest = target.next_hop or request_destination(out, inbound)
    apply_strict_route(out)  # step 6
    if dest is not None and not dest.transport:
        dest = dest.over(inbound)
    return dest


def stamp_via(request: Request, dest: Destination, branch: str, cfg: ProxyConfig, *,
              flow: bool) -> tuple[bytes, Destination]:
    """§16.6 step 8: push our Via (with the port it leaves from) and serialise; too big
    for UDP: TCP, unless flow-bound (§18.1.1)."""
    via = f"{cfg.host}:{dest.local_port or cfg.port};branch={branch}"
    request.push_via(f"SIP/2.0/{dest.transport} {via}")
    data = request.to_bytes()
    bigger = dest.transport if flow else choose_transport(
        dest.transport, len(data), limit=cfg.udp_size_limit)
    if bigger == dest.transport:
        return data, dest
    request.headers.replace_first_value("via", f"SIP/2.0/{bigger} {via}")
    return request.to_bytes(), dest.over(bigger)
