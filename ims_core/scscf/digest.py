"""Challenges and their answers: RFC 2617 digest, RFC 3310 AKAv1-MD5, RFC 4169 AKAv2-MD5,
with the IMS parameters of TS 24.229 §7.2A.1 (ck, ik, auts) and §5.4.1.2.

The arithmetic lives in ``ims_core.auth``; this module builds WWW-Authenticate values,
picks the credentials meant for us, and checks a response in constant time.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from ims_core import auth
from ims_core.sip import AuthHeader, AuthParam, Request, SipParseError

from .store import Challenge

AKA_RAND_LEN = 16
AUTS_LEN = 14


def aka_nonce(rand_autn: bytes) -> str:
    """RFC 3310 §3.2: nonce = base64(RAND ‖ AUTN [‖ server data])."""
    return base64.b64encode(rand_autn).decode("ascii")


def md5_nonce(rng: Callable[[int], bytes]) -> str:
    """An unguessable nonce of our own for MD5 digest (RFC 2617 §3.2.1), from `rng`: a
    cryptographic source (the core's `nonce_rng`)."""
    return base64.b64encode(rng(18)).decode("ascii")


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def rand_from_nonce(nonce: str) -> bytes | None:
    """RAND, the first 16 octets of an AKA nonce (RFC 3310 §3.2), or None."""
    raw = _b64(nonce)
    return raw[:AKA_RAND_LEN] if raw is not None and len(raw) >= 32 else None


def decode_auts(value: str) -> bytes | None:
    """AUTS from the ``auts`` parameter (RFC 3310 §3.4: base64 of 14 octets)."""
    raw = _b64(value)
    return raw if raw is not None and len(raw) == AUTS_LEN else None


def www_authenticate(ch: Challenge, *, stale: bool = False) -> str:
    """The WWW-Authenticate value for *ch* (RFC 2617 §3.2.1, RFC 3310 §3.1, TS 24.229
    §5.4.1.2.1: ck and ik for the P-CSCF, which removes them)."""
    params = [AuthParam("realm", ch.realm, True), AuthParam("nonce", ch.nonce, True),
              AuthParam("algorithm", ch.algorithm, False),
              AuthParam("qop", "auth", True)]  # qop-options is a quoted list (§3.2.1)
    if ch.is_aka:
        params += (AuthParam("ck", ch.ck.hex(), True), AuthParam("ik", ch.ik.hex(), True))
    if stale:
        params.append(AuthParam("stale", "true", False))
    return str(AuthHeader("Digest", params))


def credentials(request: Request, realm: str) -> AuthHeader | None:
    """The Digest Authorization for our realm (TS 24.229 §5.4.1.2.1), else the first
    Digest one; None when there is none. Malformed values raise SipParseError (400)."""
    found: AuthHeader | None = None
    for h in request.auth_headers("authorization"):
        if not h.is_digest:
            continue
        if (h.realm or "").lower() == realm.lower():
            return h
        found = found or h
    return found


def expected_response(ch: Challenge, cred: AuthHeader, method: str, body: bytes) -> str | None:
    """The response the UE should have sent for *ch*, or None if *cred* lacks fields
    it needs (nc/cnonce with qop) or names a qop we did not offer."""
    qop = (cred.qop or "").lower()
    if qop not in ("", "auth", "auth-int"):
        return None
    nc, cnonce = cred.nc or "", cred.cnonce or ""
    if qop and (not nc or not cnonce):
        return None
    username, uri = cred.username or "", cred.uri or ""
    realm = cred.realm if cred.realm is not None else ch.realm
    try:
        if ch.algorithm == "MD5":
            return auth.digest_response_ha1(ch.ha1, method, uri, ch.nonce, nc, cnonce, qop,
                                            body)
        password = ch.xres if ch.algorithm == "AKAv1-MD5" else ch.xres + ch.ik + ch.ck
        return auth.digest_response(ch.algorithm, username, realm, password, method, uri,
                                    ch.nonce, nc, cnonce, qop, body)
    except ValueError:
        return None


def verify(ch: Challenge, cred: AuthHeader, method: str, body: bytes) -> bool:
    """True if *cred* answers *ch* (constant-time compare, ``auth.verify_response``)."""
    received = cred.response or ""
    if len(received) != 32:
        return False
    expected = expected_response(ch, cred, method, body)
    if expected is None:
        return False
    try:
        return bool(auth.verify_response(received, expected))
    except (ValueError, SipParseError):
        return False
