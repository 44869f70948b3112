"""What a non-REGISTER request is to the S-CSCF, read from the request alone: which leg
(originating or terminating, TS 24.229 §5.4.3.2 / §5.4.3.3) the Route naming us puts it
on, how far iFC evaluation got (the ``ifc`` parameter of our own Route coming back from
an AS), the served user's identities, and where the Request-URI lives.

Our Route and Record-Route values (``ims_core.proxy.record_route_value``) carry
``ims-leg=orig|term`` (our own URI parameter, RFC 3261 §19.1.1 other-param) so an
in-dialog request or a request coming back from an AS tells its leg from the Route that
names us, not from where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from ims_core.identity import impu_key
from ims_core.sip import Request, SipParseError, SipUri, TelUri, Uri

ORIG = "orig"
TERM = "term"


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


def asserted_identities(request: Request) -> list[str]:
    """The P-Asserted-Identity URIs as identity keys (RFC 3325 §9.1; TS 24.229
    §5.4.3.2: the served user of an originating request), malformed values skipped."""
    out = []
    for value in request.headers.values("p-asserted-identity"):
        try:
            out.append(impu_key(value))
        except SipParseError:
            continue
    return out


def is_home(uri: Uri, domain: str) -> bool:
    """A Request-URI for a user of our home network: ``sip:user@domain`` (also
    ``sip:+n@domain;user=phone``) or a global ``tel:`` number (no ENUM here: every
    E.164 number is treated as ours and left to the HSS to know)."""
    if isinstance(uri, TelUri):
        return uri.is_global
    return isinstance(uri, SipUri) and uri.host.lower() == domain.lower()
