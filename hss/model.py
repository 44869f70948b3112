"""Subscriber data as the HSS keeps it (TS 23.008 §5, TS 29.228 Annex B).

One subscriber has one IMPI and one service profile; all its IMPUs form one implicit
registration set (TS 23.228 §4.3.3.3), which is what the lab and SIPp need.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Sequence
from enum import IntEnum, StrEnum

from ims_core.identity import impu_key
from ims_core.sip import SipParseError
from ims_core.userdata import IdentityType as IdentityType
from ims_core.userdata import Ifc as Ifc
from ims_core.userdata import SessionCase as SessionCase
from ims_core.userdata import Spt as Spt

DEFAULT_AMF = bytes.fromhex("8000")
IMSI_RE = re.compile(r"^[0-9]{6,15}$")
MSISDN_RE = re.compile(r"^[0-9]{3,15}$")


def hex_pattern(octets: int) -> str:
    """The hex text of *octets* octets, as provisioning reads K, OP, OPc and AMF (an
    optional ``0x``)."""
    return f"^(0x)?[0-9A-Fa-f]{{{2 * octets}}}$"


class RegState(IntEnum):
    """IMS registration state of a public identity in the HSS (TS 23.008 §5.2.1)."""

    NOT_REGISTERED = 0
    REGISTERED = 1
    UNREGISTERED = 2  # S-CSCF assigned for unregistered services


# Scheme keywords stored per subscriber, and the SIP-Authentication-Scheme values
# (TS 29.229 §6.3.2) that select them.
SCHEMES = ("akav1", "akav2", "md5")
SCHEME_BY_NAME: dict[str, str] = {
    "digest-akav1-md5": "akav1",
    "digest-akav2-md5": "akav2",
    "sip digest": "md5",
    "digest-md5": "md5",
    "digest": "md5",
    "md5": "md5",
}
SCHEME_WIRE_NAME = {"akav1": "Digest-AKAv1-MD5", "akav2": "Digest-AKAv2-MD5", "md5": "SIP Digest"}


def ifcs_to_json(ifcs: Iterable[Ifc]) -> str:
    """iFCs as the store keeps them (:meth:`ims_core.userdata.Ifc.to_dict`)."""
    return json.dumps([i.to_dict() for i in ifcs], separators=(",", ":"))


def ifcs_from_json(text: str | None) -> tuple[Ifc, ...]:
    if not text or text == "[]":  # most subscribers: no iFCs, no JSON parse
        return ()
    return tuple(Ifc.from_dict(d) for d in json.loads(text))


@dataclasses.dataclass(frozen=True, slots=True)
class PublicIdentity:
    """An IMPU with its barring flag and registration state."""

    impu: str
    barred: bool = False
    identity_type: int = IdentityType.PUBLIC_USER_IDENTITY
    state: RegState = RegState.NOT_REGISTERED


@dataclasses.dataclass(frozen=True, slots=True)
class Subscriber:
    """One IMS subscription: credentials, identities, service profile, registration."""

    imsi: str
    impi: str
    k: bytes
    opc: bytes
    op: bytes | None = None
    amf: bytes = DEFAULT_AMF
    sqn: int = 0  # the last SQN handed out (SEQ ‖ IND)
    schemes: tuple[str, ...] = ("akav1", "akav2")
    ha1: str | None = None  # MD5(IMPI:realm:password) hex; the password is never stored
    msisdn: str | None = None
    barred: bool = False  # the whole subscription
    impus: tuple[PublicIdentity, ...] = ()
    ifcs: tuple[Ifc, ...] = ()
    scscf_name: str | None = None
    # The Diameter Origin-Host of the S-CSCF's SAR: where RTR and PPR go (TS 29.229 §6.1.9).
    scscf_host: str | None = None

    def __post_init__(self) -> None:
        if not IMSI_RE.match(self.imsi):
            raise ValueError(f"IMSI must be 6-15 digits, not {self.imsi!r}")
        for name, value, size in (("k", self.k, 16), ("opc", self.opc, 16), ("amf", self.amf, 2)):
            if len(value) != size:
                raise ValueError(f"{name} must be {size} bytes, not {len(value)}")
        if self.op is not None and len(self.op) != 16:
            raise ValueError(f"op must be 16 bytes, not {len(self.op)}")
        if not 0 <= self.sqn < 1 << 48:
            raise ValueError("sqn must fit 48 bits")
        bad = [s for s in self.schemes if s not in SCHEMES]
        if bad or not self.schemes:
            raise ValueError(f"schemes must be a non-empty subset of {SCHEMES}, got {self.schemes}")
        if "md5" in self.schemes and not self.ha1:
            raise ValueError("scheme md5 needs a password (stored as HA1)")
        if self.msisdn is not None and not MSISDN_RE.match(self.msisdn):
            raise ValueError(f"MSISDN must be 3-15 digits, not {self.msisdn!r}")
        if not self.impus:
            raise ValueError("a subscriber needs at least one public identity")

    def identity(self, impu: str) -> PublicIdentity | None:
        """The public identity *impu* names (any form :func:`identity_key` accepts);
        stored identities are in key form (provisioning writes them so)."""
        key = identity_key(impu)
        for p in self.impus:
            if p.impu == key:
                return p
        return None

    @property
    def impu_names(self) -> tuple[str, ...]:
        return tuple(p.impu for p in self.impus)

    @property
    def state(self) -> RegState:
        """The implicit registration set's state: registered when any identity is."""
        states = {p.state for p in self.impus}
        for st in (RegState.REGISTERED, RegState.UNREGISTERED):
            if st in states:
                return st
        return RegState.NOT_REGISTERED

    @property
    def has_unregistered_services(self) -> bool:
        """An iFC triggers for the terminating-unregistered session case (TS 29.228
        §6.2.1: the HSS then has an S-CSCF serve the unregistered user)."""
        return any(s.session_case == SessionCase.TERMINATING_UNREGISTERED and not s.negated
                   for i in self.ifcs for s in i.spts)


@functools.lru_cache(maxsize=8192)  # a URI parse per Cx request otherwise; bounded
def identity_key(value: str) -> str:
    """How the HSS stores and looks up an IMPU: :func:`ims_core.identity.impu_key`
    (parameters dropped, host lower-cased, tel visual separators removed); text that is
    no URI is kept as it is, so it simply matches nothing."""
    try:
        return impu_key(value)
    except SipParseError:
        return value.strip()


def parse_schemes(text: str | Sequence[str]) -> tuple[str, ...]:
    items = text.split(",") if isinstance(text, str) else list(text)
    out = tuple(dict.fromkeys(s.strip().lower() for s in items if s.strip()))
    bad = [s for s in out if s not in SCHEMES]
    if bad:
        raise ValueError(f"unknown auth scheme(s) {', '.join(bad)}; use {', '.join(SCHEMES)}")
    return out


class PushKind(StrEnum):
    """HSS-initiated Cx requests the outbox carries (TS 29.229 §6.1.9, §6.1.11)."""

    RTR = "RTR"
    PPR = "PPR"


class PushState(StrEnum):
    """pending (queued) → sent (an HSS took it) → done | failed."""

    PENDING = "pending"
    SENT = "sent"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (PushState.DONE, PushState.FAILED)


@dataclasses.dataclass(frozen=True, slots=True)
class Push:
    """One entry of the outbox: everything needed to send the request, even once the
    subscriber is gone (a PPR's User-Data alone is built from the subscriber at send time).

    ``impus`` empty means the IMPI-only form of RTR (every registration of the IMPI).
    The answer's outcome is a base ``result_code`` or an ``experimental_code`` (vendor
    10415), never both; ``detail`` says why when there is no answer.
    """

    kind: PushKind
    imsi: str
    impi: str
    destination_host: str
    impus: tuple[str, ...] = ()
    reason_code: int | None = None
    reason_info: str | None = None
    id: int = 0
    state: PushState = PushState.PENDING
    result_code: int | None = None
    experimental_code: int | None = None
    detail: str | None = None
