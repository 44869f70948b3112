"""User-Authorization (UAR/UAA) from the I-CSCF's side: TS 24.229 §5.3.1.2,
TS 29.228 §6.1.1, TS 29.229 §6.1.1-§6.1.2.

Two pure functions: :func:`uar_fields` reads a REGISTER into the UAR's AVP values, and
:func:`decide` turns the UAA into what the I-CSCF does next (a Server-Name to forward
to, capabilities to select by, or a SIP rejection).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ims_core.diameter import VENDOR_3GPP, CxResult, Message, ResultCode
from ims_core.sip import Request, SipParseError, SipUri, TelUri, split_values, unquote

from .pool import Capabilities


class AuthType(IntEnum):
    """User-Authorization-Type (TS 29.229 §6.3.24)."""

    REGISTRATION = 0
    DE_REGISTRATION = 1
    REGISTRATION_AND_CAPABILITIES = 2


@dataclass(frozen=True, slots=True)
class UarFields:
    """What a UAR says about one REGISTER."""

    impi: str
    impu: str
    visited_network: str
    auth_type: AuthType

    def avps(self) -> list[tuple[str, Any]]:
        return [
            ("User-Name", self.impi),
            ("Public-Identity", self.impu),
            ("Visited-Network-Identifier", self.visited_network.encode()),
            ("User-Authorization-Type", int(self.auth_type)),
        ]


class BadRegister(ValueError):
    """The REGISTER names no identity we can ask the HSS about."""


def public_identity(request: Request) -> str:
    """The IMPU: the To URI without URI parameters or headers (TS 24.229 §5.3.1.2)."""
    uri = request.to_addr.uri
    if isinstance(uri, SipUri):
        plain = uri.copy()
        plain.params = []
        plain.headers = []
        return str(plain)
    if isinstance(uri, TelUri):
        return str(uri)
    raise BadRegister(f"To URI {uri} is neither sip: nor tel:")


def private_identity(request: Request, domain: str) -> str:
    """The IMPI: the username of the Authorization header for our realm (any Digest
    one with a username otherwise); without one, derived from the To URI as
    ``user@host`` (TS 24.229 §5.4.1.2.1, TS 23.003 §13.3)."""
    fallback = None
    for auth in request.auth_headers("authorization"):
        if not auth.is_digest or not auth.username:
            continue
        if (auth.realm or "").lower() == domain.lower():
            return auth.username
        fallback = fallback or auth.username
    if fallback:
        return fallback
    uri = request.to_addr.uri
    if isinstance(uri, SipUri) and uri.user:
        return f"{uri.user}@{uri.host}"
    if isinstance(uri, TelUri):
        return uri.number.lstrip("+")
    raise BadRegister("no Authorization username and no user part in the To URI")


def visited_network(request: Request, domain: str) -> str:
    """The first P-Visited-Network-ID value, unquoted and without parameters (RFC 7315
    §4.3); our own domain when absent (the P-CSCF is in the home network)."""
    raw = request.headers.get("p-visited-network-id")
    if not raw:
        return domain
    first = split_values(raw)[0]
    if first.startswith('"'):
        end = first.find('"', 1)
        while end > 0 and first[end - 1] == "\\":
            end = first.find('"', end + 1)
        value = unquote(first[: end + 1]) if end > 0 else first.strip('"')
    else:
        value = first.split(";", 1)[0].strip()
    return value or domain


def authorization_type(request: Request) -> AuthType:
    """DE_REGISTRATION when every binding asks for expiry 0: ``Contact: *`` or each
    Contact's ``expires`` (else the Expires header) is 0 (RFC 3261 §10.2.2)."""
    header = request.headers.get("expires")
    try:
        default = int(header.strip()) if header is not None else None
    except ValueError:
        default = None
    if request.is_contact_star():
        return AuthType.DE_REGISTRATION if default == 0 else AuthType.REGISTRATION
    try:
        contacts = request.contacts()
    except SipParseError:
        return AuthType.REGISTRATION  # the S-CSCF answers the broken Contact
    if not contacts:
        return AuthType.REGISTRATION  # a query of the bindings
    for contact in contacts:
        value = contact.param("expires")
        try:
            expires = int(value) if value is not None else default
        except ValueError:
            expires = default
        if expires != 0:
            return AuthType.REGISTRATION
    return AuthType.DE_REGISTRATION


def uar_fields(request: Request, domain: str) -> UarFields:
    """Everything the UAR needs from *request*; raises :class:`BadRegister`."""
    return UarFields(
        impi=private_identity(request, domain),
        impu=public_identity(request),
        visited_network=visited_network(request, domain),
        auth_type=authorization_type(request),
    )


# -- the answer ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForwardTo:
    """Route to the S-CSCF named ``server_name`` (2001/2002 with Server-Name)."""

    server_name: str
    code: int


@dataclass(frozen=True, slots=True)
class SelectBy:
    """Pick an S-CSCF from the pool (2001 with Server-Capabilities)."""

    capabilities: Capabilities
    code: int


@dataclass(frozen=True, slots=True)
class Reject:
    """Answer the REGISTER with ``status reason``. ``hss_failure``: the HSS could not
    give an answer (the configured 480/504 applies instead of ``status``)."""

    status: int
    reason: str
    code: int | None = None
    hss_failure: bool = False


UaaDecision = ForwardTo | SelectBy | Reject

# TS 24.229 §5.3.1.2: a negative answer to the registration status query → 403.
_EXPERIMENTAL_REJECT: dict[int, str] = {
    CxResult.ERROR_USER_UNKNOWN: "Forbidden - User Unknown",
    CxResult.ERROR_IDENTITIES_DONT_MATCH: "Forbidden - Identities Don't Match",
    CxResult.ERROR_IDENTITY_NOT_REGISTERED: "Forbidden - Not Registered",
    CxResult.ERROR_ROAMING_NOT_ALLOWED: "Forbidden - Roaming Not Allowed",
}
_BASE_REJECT: dict[int, str] = {
    ResultCode.AUTHORIZATION_REJECTED: "Forbidden - Authorization Rejected",  # barred
}


def decide(answer: Message) -> UaaDecision:
    """What to do with a UAA (TS 29.228 §6.1.1.1 results, TS 24.229 §5.3.1.2)."""
    experimental = answer.experimental_result
    if experimental is not None and answer.result_code is None:
        vendor, code = experimental
        if vendor not in (VENDOR_3GPP, 0):
            return Reject(500, "Server Internal Error - Unexpected UAA Result", code)
        if 2000 <= code < 3000:
            return _success(answer, code)
        reason = _EXPERIMENTAL_REJECT.get(code)
        if reason is not None:
            return Reject(403, reason, code)
        return Reject(403, f"Forbidden - HSS Experimental-Result {code}", code)
    rc = answer.result_code
    if rc is None:
        return Reject(500, "Server Internal Error - UAA Without Result", None)
    if 2000 <= rc < 3000:
        return _success(answer, rc)
    if rc in _BASE_REJECT:
        return Reject(403, _BASE_REJECT[rc], rc)
    if 3000 <= rc < 5000:  # protocol error / transient failure: query not completed
        return Reject(480, f"HSS error {_name(rc)}", rc, hss_failure=True)
    return Reject(500, f"Server Internal Error - HSS {_name(rc)}", rc)


def server_decision(answer: Message, code: int, missing: Reject) -> UaaDecision:
    """A successful UAA or LIA: forward to its Server-Name, else select by its
    Server-Capabilities, else `missing` (TS 29.228 §6.1.1.1, §6.1.4.1)."""
    name = answer.get_str("Server-Name")
    if name:
        return ForwardTo(name, code)
    caps = capabilities_of(answer)
    if caps is not None:
        return SelectBy(caps, code)
    return missing


def _success(answer: Message, code: int) -> UaaDecision:
    return server_decision(
        answer, code, Reject(500, "Server Internal Error - No S-CSCF In UAA", code))


def capabilities_of(answer: Message) -> Capabilities | None:
    """The Server-Capabilities of a UAA or LIA (TS 29.229 §6.3.4), if present."""
    caps = answer.get_grouped("Server-Capabilities")
    if caps is None:
        return None
    return Capabilities(
        mandatory=tuple(int(v) for v in caps.get_all("Mandatory-Capability")),
        optional=tuple(int(v) for v in caps.get_all("Optional-Capability")),
        server_names=tuple(str(v) for v in caps.get_all("Server-Name")),
    )


def _name(code: int) -> str:
    try:
        return f"{ResultCode(code).name} ({code})"
    except ValueError:
        return str(code)
