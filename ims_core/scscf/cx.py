"""The S-CSCF's side of Cx (TS 29.228 §6.1.2 SAR, §6.3 MAR; TS 29.229 §6.1.3, §6.1.7):
which authentication scheme to ask for, request contents and answer parsing.

Nothing here sends anything: the core hands the AVPs to ``CscfCore.cx_request``; what a
failed exchange means in SIP is ``ims_core.cscf.cxresult``'s.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from ims_core.diameter import Message
from ims_core.sip import AuthHeader

# RFC 3310 / RFC 4169 / RFC 2617 algorithm → SIP-Authentication-Scheme (TS 29.229 §6.3.2).
SCHEME_FOR_ALGORITHM = {
    "akav1-md5": "Digest-AKAv1-MD5",
    "akav2-md5": "Digest-AKAv2-MD5",
    "md5": "SIP Digest",
}
UNKNOWN_SCHEME = "Unknown"  # TS 29.228 §6.3.1: the HSS picks the subscriber's scheme
SIP_DIGEST = SCHEME_FOR_ALGORITHM["md5"]
# The HSS's scheme name → the algorithm we challenge with.
ALGORITHM_FOR_SCHEME = {
    "digest-akav1-md5": "AKAv1-MD5",
    "digest-akav2-md5": "AKAv2-MD5",
    "sip digest": "MD5",
    "digest-md5": "MD5",
    "digest": "MD5",
    "md5": "MD5",
}


class AssignmentType(enum.IntEnum):
    """Server-Assignment-Type values we send (TS 29.229 §6.3.15)."""

    REGISTRATION = 1
    RE_REGISTRATION = 2
    UNREGISTERED_USER = 3
    TIMEOUT_DEREGISTRATION = 4
    USER_DEREGISTRATION = 5
    ADMINISTRATIVE_DEREGISTRATION = 8  # the network de-registers (TS 24.229 §5.4.1.5)
    AUTHENTICATION_FAILURE = 9
    AUTHENTICATION_TIMEOUT = 10


def scheme_for(cred: AuthHeader | None) -> str:
    """The SIP-Authentication-Scheme to ask the HSS for, from the REGISTER's
    Authorization (TS 24.229 §5.4.1.2.1):

    - none at all: a softphone (RFC 3261 §22), so SIP Digest;
    - one naming an algorithm: that algorithm's scheme (MD5 → SIP Digest);
    - one without (the empty Authorization of a 3GPP UE, TS 24.229 §5.1.1.2.1): Unknown,
      the subscriber's own scheme (TS 29.228 §6.3.1).

    A SIP Digest request the HSS refuses with 5006 (the subscriber has no MD5) is asked
    again with Unknown by the core."""
    if cred is None:
        return SIP_DIGEST
    return scheme_of(cred.algorithm) if cred.algorithm else UNKNOWN_SCHEME


def scheme_of(algorithm: str) -> str:
    """The SIP-Authentication-Scheme of a digest algorithm (unknown ones: Unknown)."""
    return SCHEME_FOR_ALGORITHM.get(algorithm.lower(), UNKNOWN_SCHEME)


def mar_avps(impi: str, impu: str, scheme: str, server_name: str,
             authorization: bytes | None = None) -> list[tuple[str, Any]]:
    """MAR body in TS 29.229 §6.1.7 order; ``authorization`` = RAND‖AUTS on resync."""
    item: list[tuple[str, Any]] = [("SIP-Authentication-Scheme", scheme)]
    if authorization is not None:
        item.append(("SIP-Authorization", authorization))
    return [
        ("User-Name", impi),
        ("Public-Identity", impu),
        ("SIP-Auth-Data-Item", item),
        ("SIP-Number-Auth-Items", 1),
        ("Server-Name", server_name),
    ]


def sar_avps(impi: str | None, impus: list[str], server_name: str,
             assignment: AssignmentType, user_data_available: bool) -> list[tuple[str, Any]]:
    """SAR body in TS 29.229 §6.1.3 order (User-Name is optional: absent for
    UNREGISTERED_USER, where only the public identity is known)."""
    avps: list[tuple[str, Any]] = [] if impi is None else [("User-Name", impi)]
    avps += [("Public-Identity", impu) for impu in impus]
    avps += [
        ("Server-Name", server_name),
        ("Server-Assignment-Type", int(assignment)),
        ("User-Data-Already-Available", 1 if user_data_available else 0),
    ]
    return avps


@dataclass(frozen=True, slots=True)
class AuthItem:
    """One SIP-Auth-Data-Item of an MAA (TS 29.229 §6.3.13)."""

    scheme: str
    algorithm: str  # AKAv1-MD5, AKAv2-MD5 or MD5
    rand_autn: bytes = b""  # SIP-Authenticate
    xres: bytes = b""  # SIP-Authorization
    ck: bytes = b""
    ik: bytes = b""
    realm: str = ""  # SIP-Digest-Authenticate
    ha1: str = ""


def _bytes(v: object) -> bytes:
    return v if isinstance(v, bytes) else b""


def auth_item(maa: Message) -> AuthItem | None:
    """The first usable SIP-Auth-Data-Item of an MAA, or None."""
    for item in maa.get_all("SIP-Auth-Data-Item"):
        scheme = item.get("SIP-Authentication-Scheme")
        scheme = scheme if isinstance(scheme, str) else ""
        algorithm = ALGORITHM_FOR_SCHEME.get(scheme.lower())
        if algorithm is None:
            continue
        if algorithm == "MD5":
            digest = item.get("SIP-Digest-Authenticate")
            if digest is None:
                continue
            ha1 = digest.get("Digest-HA1")
            realm = digest.get("Digest-Realm")
            if isinstance(ha1, bytes):
                ha1 = ha1.decode("ascii", "replace")
            if not isinstance(ha1, str) or len(ha1) != 32:
                continue
            return AuthItem(scheme, algorithm, realm=realm if isinstance(realm, str) else "",
                            ha1=ha1.lower())
        rand_autn = _bytes(item.get("SIP-Authenticate"))
        xres = _bytes(item.get("SIP-Authorization"))
        ck, ik = _bytes(item.get("Confidentiality-Key")), _bytes(item.get("Integrity-Key"))
        if len(rand_autn) != 32 or not 4 <= len(xres) <= 16 or len(ck) != 16 or len(ik) != 16:
            continue
        return AuthItem(scheme, algorithm, rand_autn, xres, ck, ik)
    return None
