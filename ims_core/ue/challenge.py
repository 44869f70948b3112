"""Answer a Digest challenge on the UE side (RFC 2617, RFC 3310, TS 33.203 §6.1,
TS 24.229 §5.1.1.5).

AKAv1-MD5: ``nonce`` = base64(RAND ‖ AUTN ‖ server data). The USIM checks MAC-A
(``auth.check_autn``) and the SQN's freshness:

- MAC failure → credentials with an empty ``response`` and no ``auts``
  (TS 24.229 §5.1.1.5.3);
- SQN not newer than SQN_MS → ``auts`` = base64(AUTS) from ``auth.make_auts`` and a
  response computed with an empty password (RFC 3310 §3.4, TS 33.102 §6.3.3);
- otherwise the RFC 3310 response with RES as the password.

MD5: the RFC 2617 response with the user's password.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import Enum

from ims_core import auth
from ims_core.sip import AuthHeader

from .profile import UeProfile

AKA_V1 = "akav1-md5"


class ChallengeError(ValueError):
    """A challenge this UE cannot answer (unknown algorithm, no credentials, bad nonce)."""


class Kind(Enum):
    AKA = "aka"  # RES-based response
    RESYNC = "resync"  # auts sent (SQN out of range)
    MAC_FAILURE = "mac-failure"  # empty response: the network failed authentication
    MD5 = "md5"


@dataclass(frozen=True, slots=True)
class Answer:
    """The Authorization to send and what kind of answer it is. For a successful AKA
    answer, ``sqn`` is the SQN accepted from AUTN (the new SQN_MS) and ``ck``/``ik`` the
    cipher and integrity keys the IPsec SAs are made of (TS 33.203 §6.1, Annex I)."""

    authorization: AuthHeader
    kind: Kind
    sqn: bytes | None = None
    ck: bytes | None = None
    ik: bytes | None = None


class FirstRegister(Enum):
    """What credentials the first REGISTER carries."""

    IMS = "ims"  # TS 24.229 §5.1.1.2.1: an Authorization with empty nonce and response
    SOFTPHONE = "softphone"  # RFC 3261 §22.1: none until challenged


# What the UE writes in integrity-protected: "no" without IPsec; None (left out) with
# it, since that parameter is the P-CSCF's to set (TS 24.229 §5.2.2.1).
UNPROTECTED = "no"


def initial_credentials(profile: UeProfile, uri: str,
                        first: FirstRegister = FirstRegister.IMS, *,
                        integrity_protected: str | None = UNPROTECTED) -> AuthHeader | None:
    """The Authorization of an unprotected initial REGISTER (TS 24.229 §5.1.1.2.1):
    username = IMPI, empty nonce and response, integrity-protected="no" (unless None);
    None for a softphone, which sends none."""
    if first is FirstRegister.SOFTPHONE:
        return None
    h = AuthHeader("Digest")
    h.set("username", profile.impi)
    h.set("realm", profile.domain)
    h.set("nonce", "")
    h.set("uri", uri)
    h.set("response", "")
    if not profile.uses_aka and profile.password is not None:
        h.set("algorithm", "MD5")  # tells the S-CSCF which scheme to ask the HSS for
    if integrity_protected is not None:
        h.set("integrity-protected", integrity_protected)
    return h


def split_nonce(nonce: str) -> tuple[bytes, bytes]:
    """(RAND, AUTN) from an AKA nonce (RFC 3310 §3.2)."""
    try:
        raw = base64.b64decode(nonce, validate=True)
    except (binascii.Error, ValueError):
        raise ChallengeError("AKA nonce is not base64") from None
    if len(raw) < 32:
        raise ChallengeError(f"AKA nonce holds {len(raw)} octets, need RAND‖AUTN (32)")
    return raw[:16], raw[16:32]


def answer_challenge(profile: UeProfile, challenge: AuthHeader, method: str, uri: str,
                     *, cnonce: str, nc: int = 1,
                     integrity_protected: str | None = UNPROTECTED) -> Answer:
    """Credentials answering ``challenge`` (a WWW-Authenticate value) for ``method uri``."""
    if not challenge.is_digest:
        raise ChallengeError(f"unsupported scheme {challenge.scheme}")
    algorithm = (challenge.algorithm or "MD5").strip('"')
    realm = challenge.realm or profile.domain
    nonce = challenge.nonce or ""
    qop = _pick_qop(challenge.qop)
    nc_text = f"{nc:08x}" if qop else ""
    cn = cnonce if qop else ""

    def credentials(response: str) -> AuthHeader:
        h = AuthHeader("Digest")
        h.set("username", profile.impi)
        h.set("realm", realm)
        h.set("nonce", nonce)
        h.set("uri", uri)
        h.set("response", response)
        h.set("algorithm", algorithm)
        if qop:
            h.set("cnonce", cn)
            h.set("qop", qop)
            h.set("nc", nc_text)
        if challenge.opaque is not None:
            h.set("opaque", challenge.opaque)
        if integrity_protected is not None:  # see UNPROTECTED
            h.set("integrity-protected", integrity_protected)
        return h

    def digest(alg: str, password: bytes) -> str:
        return auth.digest_response(alg, profile.impi, realm, password, method, uri, nonce,
                                    nc_text, cn, qop)

    if algorithm.lower() == AKA_V1:
        if profile.k is None or profile.opc is None:
            raise ChallengeError("AKAv1-MD5 challenge but the UE has no K/OPc")
        rand, autn = split_nonce(nonce)
        checked = auth.check_autn(profile.k, profile.opc, rand, autn)
        if checked is None:  # TS 24.229 §5.1.1.5.3: MAC invalid → empty response
            h = credentials("")
            return Answer(h, Kind.MAC_FAILURE)
        sqn, res, ck, ik = checked
        sqn_ms = profile.sqn_ms
        if sqn_ms is not None and int.from_bytes(sqn, "big") <= int.from_bytes(sqn_ms, "big"):
            # TS 33.102 §6.3.3: SQN out of range → AUTS; RFC 3310 §3.4: empty password.
            auts = auth.make_auts(profile.k, profile.opc, rand, sqn_ms)
            h = credentials(digest(algorithm, b""))
            h.set("auts", base64.b64encode(auts).decode("ascii"), quoted=True)
            return Answer(h, Kind.RESYNC)
        return Answer(credentials(digest(algorithm, res)), Kind.AKA, sqn, ck, ik)
    if algorithm.lower() == "md5":
        if profile.password is None:
            raise ChallengeError("MD5 challenge but the UE has no password")
        return Answer(credentials(digest("MD5", profile.password.encode("utf-8"))), Kind.MD5)
    raise ChallengeError(f"unsupported algorithm {algorithm}")


def _pick_qop(offered: str | None) -> str:
    """``auth`` when offered (RFC 2617 §3.2.1 qop-options), else none (RFC 2069 form)."""
    if not offered:
        return ""
    options = [o.strip().lower() for o in offered.split(",")]
    if "auth" in options:
        return "auth"
    raise ChallengeError(f"no supported qop in {offered!r}")
