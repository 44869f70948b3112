"""Third-party REGISTER (TS 24.229 §5.4.1.7), sans-I/O: after a registration,
re-registration or de-registration the S-CSCF tells each Application Server whose iFC
matches the REGISTER (TS 29.228 Annex B.2.2: Method REGISTER, narrowed by RegistrationType
when given; the other SPTs against the UE's REGISTER, an originating request).

This module builds the requests and says what a failure means; the core sends each with
``originate`` and, when :func:`must_deregister` says so, de-registers the user itself
(network-initiated, §5.4.1.5). The requests go out together, so "abort sending the
others" (§5.4.1.7) is left to that de-registration, which tells every AS again.

What one request carries (§5.4.1.7; no Via, the sender adds it):

    Request-URI     the AS's ServerName
    From / Contact  the S-CSCF's URI (a fresh From tag)
    To              the registered public identity (a non-barred one of the implicit set)
    Call-ID, CSeq   fresh (a new Call-ID, CSeq 1: RFC 3261 §10.3 step 7 replaces the
                    binding of another Call-ID)
    Expires         the lifetime our 200 gave; 0 for every de-registration
    P-Access-Network-Info, P-Visited-Network-ID   as the UE's REGISTER carried them
    P-Charging-Vector                             the icid-value of the UE's REGISTER
    P-Charging-Function-Addresses                 of our 200, else of the REGISTER
    body (for a registration or re-registration only): the iFC's ServiceInfo as
                    application/3gpp-ims+xml (§7.6), the UE's REGISTER
                    (IncludeRegisterRequest) and our 200 (IncludeRegisterResponse) as
                    message/sip; more than one part: multipart/mixed (RFC 2046 §5.1.3)
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence

from ims_core.identity import uri_key
from ims_core.pcscf.pheaders import icid_of
from ims_core.sip import Headers, Request, Response, SipParseError, SipUri, Uri, parse_uri
from ims_core.userdata import DefaultHandling, Ifc, Profile, RegistrationType, SessionCase

from .ifc import as_failed, trigger_matches

IMS_XML = "application/3gpp-ims+xml"  # TS 24.229 §7.6
MESSAGE_SIP = "message/sip"  # RFC 3261 §27.5
MULTIPART = "multipart/mixed"
MAX_FORWARDS = 70
# The headers §5.4.1.7 copies from the UE's REGISTER as they are.
_COPIED = ("P-Access-Network-Info", "P-Visited-Network-ID")

Rng = Callable[[int], bytes]
Part = tuple[str, bytes]  # (Content-Type, content)


def matching_ifcs(profile: Profile | None, impu: str, register: Request,
                  kind: RegistrationType) -> list[Ifc]:
    """The iFCs of *impu*'s service profile that *register* (of *kind*) triggers, by
    priority, the first of each AS only (one third-party REGISTER per AS)."""
    if profile is None:
        return []
    seen: set[str] = set()
    out = []
    for ifc in profile.ifcs_for(impu):
        if not trigger_matches(ifc, register, SessionCase.ORIGINATING, kind):
            continue
        server = uri_key(ifc.server_name)
        if server not in seen:
            seen.add(server)
            out.append(ifc)
    return out


def third_party_registers(
    register: Request | None, ok: Response | None, profile: Profile | None, impu: str,
    scscf_uri: str, expires: int, rng: Rng, *, kind: RegistrationType,
    contact: str | None = None,
) -> list[tuple[Request, Ifc]]:
    """One third-party REGISTER per AS whose iFC matches, with the iFC it is for.

    *register*: the UE's REGISTER as received (None for a network-initiated
    de-registration: a ``Contact: *`` stand-in is matched instead); *ok*: the 200 we
    answered it with; *profile* / *impu*: the registration's profile and public identity;
    *scscf_uri*: our URI for From (and Contact, unless *contact* gives another one);
    *expires*: the lifetime granted (forced to 0 for ``DE_REGISTRATION``); *kind*: what
    the REGISTER did, for RegistrationType and for whether bodies go in."""
    to = _unbarred(profile, impu)
    if to is None:
        return []
    deregistration = kind == RegistrationType.DE_REGISTRATION
    subject = register if register is not None else _stand_in(impu, scscf_uri)
    out = []
    for ifc in matching_ifcs(profile, impu, subject, kind):
        parts = [] if deregistration else _parts(ifc, register, ok)
        request = _request(ifc.server_name, scscf_uri, contact or scscf_uri, to,
                           0 if deregistration else expires, register, ok, parts, rng)
        out.append((request, ifc))
    return out


def on_failure(ifc: Ifc) -> bool:
    """True when a failed third-party REGISTER to *ifc*'s AS de-registers the user
    (DefaultHandling SESSION_TERMINATED, TS 29.228 Annex B.2.2; §5.4.1.7)."""
    return ifc.default_handling == DefaultHandling.SESSION_TERMINATED


def must_deregister(ifc: Ifc, response: Response, expires: int) -> bool:
    """The final *response* to a third-party REGISTER that was sent with *expires*:
    should the core now de-register the user (§5.4.1.5, event ``deactivated``)? Only
    a registration that failed (408 / 5xx, or no answer) at an AS whose iFC says
    SESSION_TERMINATED; a de-registration has nothing left to undo."""
    return expires > 0 and as_failed(response) and on_failure(ifc)


# -- building -----------------------------------------------------------------------------


def _unbarred(profile: Profile | None, impu: str) -> str | None:
    """§5.4.1.7: *impu* unless barred, else the first non-barred identity of the
    implicit set; None when every one is barred."""
    if profile is None or not profile.is_barred(impu):
        return impu
    return next((p.identity for p in profile.identities if not p.barred), None)


def _stand_in(impu: str, scscf_uri: str) -> Request:
    """What the iFCs see for a de-registration no REGISTER asked for: a REGISTER removing
    every binding (RFC 3261 §10.2.2) to the identity's home domain."""
    try:
        uri: Uri | None = parse_uri(impu)
    except SipParseError:
        uri = None
    h = Headers()
    for name in ("From", "To"):
        h.add(name, f"<{impu}>")
    h.add("Call-ID", "network-initiated")
    h.add("CSeq", "1 REGISTER")
    h.add("Contact", "*")
    h.add("Expires", "0")
    h.add("Content-Length", "0")
    return Request("REGISTER", f"sip:{uri.host}" if isinstance(uri, SipUri) else scscf_uri, h)


def service_info_body(info: str) -> bytes:
    """The 3GPP IM CN subsystem XML body carrying *info* (TS 24.229 §7.6.1:
    ``<ims-3gpp version="1"><service-info>``, an xs:string, so *info* is escaped)."""
    root = ET.Element("ims-3gpp", version="1")
    ET.SubElement(root, "service-info").text = info
    body = ET.tostring(root, encoding="unicode")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode("utf-8")


def _parts(ifc: Ifc, register: Request | None, ok: Response | None) -> list[Part]:
    parts: list[Part] = []
    if ifc.service_info is not None:
        parts.append((IMS_XML, service_info_body(ifc.service_info)))
    if ifc.include_register_request and register is not None:
        parts.append((MESSAGE_SIP, register.to_bytes()))
    if ifc.include_register_response and ok is not None:
        parts.append((MESSAGE_SIP, ok.to_bytes()))
    return parts


def _boundary(parts: Sequence[Part], rng: Rng) -> str:
    """A boundary found in no part (RFC 2046 §5.1.1); 96 random bits all but always are."""
    while True:
        boundary = rng(12).hex()
        if not any(boundary.encode() in data for _, data in parts):
            return boundary


def multipart(parts: Sequence[Part], boundary: str) -> bytes:
    """A multipart/mixed body (RFC 2046 §5.1.1): each part its Content-Type and content;
    the CRLF before each delimiter belongs to the delimiter, not to the part."""
    out = bytearray()
    for ctype, data in parts:
        out += f"--{boundary}\r\nContent-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def _request(server: str, scscf_uri: str, contact: str, to: str, expires: int,
             register: Request | None, ok: Response | None, parts: list[Part],
             rng: Rng) -> Request:
    ours = parse_uri(scscf_uri)
    host = ours.host if isinstance(ours, SipUri) else "scscf"
    h = Headers()
    h.add("Max-Forwards", str(MAX_FORWARDS))
    h.add("From", f"<{scscf_uri}>;tag={rng(6).hex()}")
    h.add("To", f"<{to}>")
    h.add("Call-ID", f"{rng(10).hex()}@{host}")
    h.add("CSeq", "1 REGISTER")
    h.add("Contact", f"<{contact}>")
    h.add("Expires", str(expires))
    if register is not None:
        for name in _COPIED:
            for value in register.headers.get_all(name):
                h.add(name, value)
        icid = icid_of(register)
        if icid is not None:
            h.add("P-Charging-Vector", f"icid-value={icid}")
    for source in (ok, register):  # the first that has them
        cfa = source.headers.get_all("P-Charging-Function-Addresses") if source else []
        for value in cfa:
            h.add("P-Charging-Function-Addresses", value)
        if cfa:
            break
    body = b""
    if len(parts) == 1:
        h.add("Content-Type", parts[0][0])
        body = parts[0][1]
    elif parts:
        boundary = _boundary(parts, rng)
        h.add("Content-Type", f"{MULTIPART};boundary={boundary}")
        body = multipart(parts, boundary)
    h.add("Content-Length", str(len(body)))
    return Request("REGISTER", server, h, body)
