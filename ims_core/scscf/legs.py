"""What a non-REGISTER request is to the S-CSCF, read from the request alone: which leg
(originating or terminating, TS 24.229 §5.4.3.2 / §5.4.3.3) the Route naming us puts it
on, how far iFC evaluation got (the ``ifc`` parameter of our own Route coming back from
an AS), the served user's identities, and where the Request-URI lives.

Our Route and Record-Route values carry ``ims-leg=orig|term`` (our own URI parameter,
RFC 3261 §19.1.1 other-param) so an in-dialog request or a request coming back from an
AS tells its leg from the Route that names us, not from where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from ims_core.sip import Request, SipParseError, SipUri, TelUri, Uri, parse_name_addr

from .registrar import impu_key

ORIG = "orig"
TERM = "term"
# Requests that create a dialog and so are Record-Routed (RFC 3261 §12.1, RFC 6665,
# RFC 3515); MESSAGE and other out-of-dialog requests are not (TS 24.229 §5.4.3.2).
DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER"})


@dataclass(frozen=True, slots=True)
class Leg:
    """The leg marked by the Route that named us: ``leg`` is ORIG or TERM, ``ifc`` the
    index of the iFC whose AS the request comes back from (None on the first pass)."""

    leg: str
    ifc: int | None = None


def leg_of(route: Uri) -> Leg | None:
    """TS 24.229 §5.4.3.2: the ``orig`` user of our Service-Route, or our ``ims-leg``
    parameter (with ``ifc=N`` when an AS sends the request back)."""
    if not isinstance(route, SipUri):
        return None
    leg = (route.param("ims-leg") or "").lower()
    if leg not in (ORIG, TERM):
        leg = ORIG if route.user == ORIG else ""
    if not leg:
        return None
    raw = route.param("ifc")
    return Leg(leg, int(raw) if raw is not None and raw.isdigit() else None)


def route_value(host: str, port: int, leg: str, ifc: int | None = None,
                transport: str = "UDP") -> str:
    """Our Record-Route (``ifc`` None) or AS-return Route value for *leg*; the
    transport parameter when not UDP, as the proxy core's own (RFC 3261 §16.6 step 4)."""
    tp = "" if transport.upper() == "UDP" else f";transport={transport.lower()}"
    back = "" if ifc is None else f";ifc={ifc}"
    return f"<sip:{host}:{port}{tp};lr;ims-leg={leg}{back}>"


def asserted_identities(request: Request) -> list[str]:
    """The P-Asserted-Identity URIs as identity keys (RFC 3325 §9.1; TS 24.229
    §5.4.3.2: the served user of an originating request), malformed values skipped."""
    out = []
    for value in request.headers.values("p-asserted-identity"):
        try:
            out.append(impu_key(parse_name_addr(value).uri))
        except (SipParseError, ValueError):
            continue
    return out


def is_phone(uri: SipUri) -> bool:
    return (uri.param("user") or "").lower() == "phone"


def identity_keys(uri: Uri, domain: str) -> list[str]:
    """The keys an IMPU may be stored under for a Request-URI (TS 23.003 §13.4):
    the URI itself, and for a global number its tel: and ``sip:+n@domain`` forms."""
    keys = [impu_key(uri)]
    number = None
    if isinstance(uri, TelUri) and uri.is_global:
        number = uri.number
    elif isinstance(uri, SipUri) and uri.user and uri.user.startswith("+") and is_phone(uri):
        number = uri.user.split(";", 1)[0]
    if number is not None:
        for key in (f"tel:{number}", f"sip:{number}@{domain.lower()}"):
            if key not in keys:
                keys.append(key)
    return keys


def is_home(uri: Uri, domain: str) -> bool:
    """A Request-URI for a user of our home network: ``sip:user@domain`` (also
    ``sip:+n@domain;user=phone``) or a global ``tel:`` number (no ENUM here: every
    E.164 number is treated as ours and left to the HSS to know)."""
    if isinstance(uri, TelUri):
        return uri.is_global
    return isinstance(uri, SipUri) and uri.host.lower() == domain.lower()
