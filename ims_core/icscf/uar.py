"""User-Authorization (UAR/UAA) from the I-CSCF's side: TS 24.229 §5.3.1.2,
TS 29.228 §6.1.1, TS 29.229 §6.1.1-§6.1.2.

Two pure functions: :func:`uar_fields` reads a REGISTER into the UAR's AVP values, and
:func:`decide` turns the UAA into what the I-CSCF does next (a Server-Name to forward
to, capabilities to select by, or a SIP rejection).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from ims_core.cscf import CxOutcome, CxVerdict, Procedure, verdict
from ims_core.diameter import Message
from ims_core.identity import contact_views, impi_from_impu, plain_identity, to_uri
from ims_core.sip import Request, SipParseError, SipUri, TelUri, split_values, unquote

from .pool import Capabilities


class AuthType(IntEnum):
    """User-Authorization-Type (TS 29.229 §6.3.24)."""

    REGISTRATION = 0
    DE_REGISTRATION = 1
    REGISTRATION_AND_CAPABILITIES = 2


@dataclass(frozen=True, slots=True, init=False)
class UarFields:
    """What a UAR says about one REGISTER."""

    impi: str
    impu: str
    visited_network: str
    auth_type: AuthType

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, impi: str, impu: str, visited_network: str, auth_type: AuthType) -> None:
        object.__setattr__(self, "impi", impi)
        object.__setattr__(self, "impu", impu)
        object.__setattr__(self, "visited_network", visited_network)
        object.__setattr__(self, "auth_type", auth_type)

    def avps(self) -> list[tuple[str, Any]]:
        return [
            ("User-Name", self.impi),
            ("Public-Identity", self.impu),
            # OctetString: the octets as received, whatever their encoding
            ("Visited-Network-Identifier", self.visited_network.encode("utf-8",
                                                                      "surrogateescape")),
            ("User-Authorization-Type", int(self.auth_type)),
        ]


class BadRegister(ValueError):
    """The REGISTER names no identity we can ask the HSS about."""


def public_identity(request: Request) -> str:
    """The IMPU: the To URI as Cx carries it, without parameters or headers
    (TS 24.229 §5.3.1.2)."""
    uri = to_uri(request)
    if not isinstance(uri, SipUri | TelUri):
        raise BadRegister(f"To URI {uri} is neither sip: nor tel:")
    return plain_identity(uri)


def private_identity(request: Request, domain: str) -> str:
    """The IMPI: the username of the Authorization header for our realm (any Digest
    one with a username otherwise); without one, derived from the To URI as
    ``user@host`` (TS 24.229 §5.4.1.2.1, TS 23.003 §13.3). A tel: URI gives the number
    without its ``+``: there is no IMPI to derive, and the HSS answers that it does not
    know the user."""
    fallback = None
    for auth in request.auth_headers("authorization"):
        if not auth.is_digest or not auth.username:
            continue
        if (auth.realm or "").lower() == domain.lower():
            return auth.username
        fallback = fallback or auth.username
    if fallback:
        return fallback
    uri = to_uri(request)
    impi = impi_from_impu(uri)
    if impi is not None:
        return impi
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
        contacts = contact_views(request)
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


@dataclass(frozen=True, slots=True, init=False)
class ForwardTo:
    """Route to the S-CSCF named ``server_name`` (2001/2002 with Server-Name)."""

    server_name: str
    code: int | None

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, server_name: str, code: int | None) -> None:
        object.__setattr__(self, "server_name", server_name)
        object.__setattr__(self, "code", code)


@dataclass(frozen=True, slots=True)
class SelectBy:
    """Pick an S-CSCF from the pool (2001 with Server-Capabilities)."""

    capabilities: Capabilities
    code: int | None


@dataclass(frozen=True, slots=True)
class Reject:
    """Answer the request as ``verdict`` says (:mod:`ims_core.cscf.cxresult`, or a
    refusal of the I-CSCF's own such as "no S-CSCF fits")."""

    verdict: CxVerdict


UaaDecision = ForwardTo | SelectBy | Reject

# A UAA that says yes but names neither a Server-Name nor Server-Capabilities.
NO_SCSCF_IN_UAA = CxVerdict(False, 500, "UAA names no S-CSCF and no capabilities",
                            "Server Internal Error - No S-CSCF In UAA")


def decide(outcome: CxOutcome) -> UaaDecision:
    """What to do with a UAA, or the error that stood in for one (TS 29.228 §6.1.1.1,
    TS 24.229 §5.3.1.2): the shared table judges every failure; a success names the
    S-CSCF or the capabilities to select one by."""
    judged = verdict(outcome, Procedure.UAR)
    if not judged.ok or not isinstance(outcome, Message):
        return Reject(judged)
    return server_decision(outcome, judged.code, NO_SCSCF_IN_UAA)


def server_decision(answer: Message, code: int | None, missing: CxVerdict) -> UaaDecision:
    """A successful UAA or LIA: forward to its Server-Name, else select by its
    Server-Capabilities, else reject as `missing` says (TS 29.228 §6.1.1.1, §6.1.4.1)."""
    name = answer.get_str("Server-Name")
    if name:
        return ForwardTo(name, code)
    caps = capabilities_of(answer)
    if caps is not None:
        return SelectBy(caps, code)
    return Reject(replace(missing, code=code))


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
