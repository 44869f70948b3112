"""Pure-Python twin of the C auth core ``ims_core.auth._akacore``.

Same functions, same parameter names, same answers, same exceptions; only slower.

* Milenage f1, f1*, f2-f5, f5* and OPc: 3GPP TS 35.206 §4.1 (test data TS 35.208).
* Authentication vectors and resynchronisation: TS 33.102 §6.3.2, §6.3.3, §6.3.5.
* HTTP digest: RFC 2617 §3.2.2 (and the RFC 2069 form when qop is empty),
  AKAv1-MD5 (RFC 3310 §3.2: the password is RES as raw octets),
  AKAv2-MD5 (RFC 4169 §7: the password is base64(HMAC-MD5(RES‖IK‖CK,
  "http-digest-akav2-password"))).

Wrong lengths raise ``ValueError``; wrong types raise :class:`ArgumentTypeError`, which is
both a ``TypeError`` and a ``ValueError``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ims_core.auth.api import API

__all__ = list(API)

AKAV2_LABEL = b"http-digest-akav2-password"
_AMF_RESYNC = b"\x00\x00"  # TS 33.102 §6.3.3: MAC-S is computed with a dummy AMF of zeros
_ALGORITHMS = ("md5", "akav1-md5", "akav2-md5")
_QOPS = ("", "auth", "auth-int")


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (both a TypeError and a ValueError)."""


def aes_impl() -> str:
    """Which AES the module uses: always the ``cryptography`` package here."""
    return "cryptography"


def _b(name: str, value: object, size: int) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ArgumentTypeError(f"{name} must be bytes, not {type(value).__name__}")
    data = bytes(value)
    if len(data) != size:
        raise ValueError(f"{name} must be {size} bytes, not {len(data)}")
    return data


def _s(name: str, value: object) -> bytes:
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be str, not {type(value).__name__}")
    return value.encode("utf-8")


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _rot(x: bytes, r_bytes: int) -> bytes:
    # TS 35.206 §4.1: rot(x, r) rotates x cyclically by r bits towards the most
    # significant bit; every r used by Milenage is a multiple of 8.
    return x[r_bytes:] + x[:r_bytes]


# TS 35.206 §4.1 default constants: c1..c5 and r1..r5 (r in bytes).
_C = tuple(bytes(15) + bytes([v]) for v in (0, 1, 2, 4, 8))
_R = (8, 0, 4, 8, 12)


class _Milenage:
    """One subscriber's AES-128 key schedule plus OPc, for a single call."""

    __slots__ = ("_enc", "opc")

    def __init__(self, k: bytes, opc_: bytes) -> None:
        self._enc = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
        self.opc = opc_

    def aes(self, block: bytes) -> bytes:
        return self._enc.update(block)

    def temp(self, rand: bytes) -> bytes:
        return self.aes(_xor(rand, self.opc))

    def out1(self, temp: bytes, sqn: bytes, amf: bytes) -> bytes:
        in1 = sqn + amf + sqn + amf
        block = _xor(_xor(temp, _rot(_xor(in1, self.opc), _R[0])), _C[0])
        return _xor(self.aes(block), self.opc)

    def out(self, i: int, temp: bytes) -> bytes:
        """OUT2..OUT5 (i = 1..4)."""
        block = _xor(_rot(_xor(temp, self.opc), _R[i]), _C[i])
        return _xor(self.aes(block), self.opc)


def opc(k: bytes, op: bytes) -> bytes:
    """OPc = E_K(OP) ⊕ OP (TS 35.206 §4.1)."""
    k, op = _b("k", k, 16), _b("op", op, 16)
    return _xor(_Milenage(k, bytes(16)).aes(op), op)


def _setup(k: bytes, opc_: bytes, rand: bytes) -> tuple[_Milenage, bytes]:
    m = _Milenage(_b("k", k, 16), _b("opc", opc_, 16))
    return m, m.temp(_b("rand", rand, 16))


def f1(k: bytes, opc: bytes, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
    """MAC-A, the network authentication code (8 octets)."""
    m, temp = _setup(k, opc, rand)
    return m.out1(temp, _b("sqn", sqn, 6), _b("amf", amf, 2))[:8]


def f1star(k: bytes, opc: bytes, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
    """MAC-S, the resynchronisation authentication code (8 octets)."""
    m, temp = _setup(k, opc, rand)
    return m.out1(temp, _b("sqn", sqn, 6), _b("amf", amf, 2))[8:]


def f2345(k: bytes, opc: bytes, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(RES 8, CK 16, IK 16, AK 6)."""
    m, temp = _setup(k, opc, rand)
    out2 = m.out(1, temp)
    return out2[8:], m.out(2, temp), m.out(3, temp), out2[:6]


def f5star(k: bytes, opc: bytes, rand: bytes) -> bytes:
    """AK* for resynchronisation (6 octets)."""
    m, temp = _setup(k, opc, rand)
    return m.out(4, temp)[:6]


def generate_vector(
    k: bytes, opc: bytes, rand: bytes, sqn: bytes, amf: bytes
) -> tuple[bytes, bytes, bytes, bytes]:
    """(AUTN 16, XRES 8, CK 16, IK 16); AUTN = SQN⊕AK ‖ AMF ‖ MAC-A (TS 33.102 §6.3.2)."""
    m, temp = _setup(k, opc, rand)
    sqn, amf = _b("sqn", sqn, 6), _b("amf", amf, 2)
    mac_a = m.out1(temp, sqn, amf)[:8]
    out2 = m.out(1, temp)
    autn = _xor(sqn, out2[:6]) + amf + mac_a
    return autn, out2[8:], m.out(2, temp), m.out(3, temp)


def check_autn(
    k: bytes, opc: bytes, rand: bytes, autn: bytes
) -> tuple[bytes, bytes, bytes, bytes] | None:
    """UE side of TS 33.102 §6.3.3: (SQN 6, RES 8, CK 16, IK 16) if MAC-A verifies, else None.

    The SQN freshness check is the caller's (it owns the UE's SQN state).
    """
    m, temp = _setup(k, opc, rand)
    autn = _b("autn", autn, 16)
    out2 = m.out(1, temp)
    sqn = _xor(autn[:6], out2[:6])
    mac_a = m.out1(temp, sqn, autn[6:8])[:8]
    if not hmac.compare_digest(mac_a, autn[8:]):
        return None
    return sqn, out2[8:], m.out(2, temp), m.out(3, temp)


def make_auts(k: bytes, opc: bytes, rand: bytes, sqn_ms: bytes) -> bytes:
    """UE side: AUTS = SQN_MS ⊕ AK* ‖ MAC-S, MAC-S with AMF 0000 (TS 33.102 §6.3.3)."""
    m, temp = _setup(k, opc, rand)
    sqn_ms = _b("sqn_ms", sqn_ms, 6)
    mac_s = m.out1(temp, sqn_ms, _AMF_RESYNC)[8:]
    return _xor(sqn_ms, m.out(4, temp)[:6]) + mac_s


def verify_auts(k: bytes, opc: bytes, rand: bytes, auts: bytes) -> bytes | None:
    """HSS side of resynchronisation (TS 33.102 §6.3.5): SQN_MS if MAC-S verifies, else None."""
    m, temp = _setup(k, opc, rand)
    auts = _b("auts", auts, 14)
    sqn_ms = _xor(auts[:6], m.out(4, temp)[:6])
    mac_s = m.out1(temp, sqn_ms, _AMF_RESYNC)[8:]
    return sqn_ms if hmac.compare_digest(mac_s, auts[6:]) else None


# --- HTTP digest (RFC 2617, RFC 3310, RFC 4169) --------------------------------------


def _md5_hex(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).hexdigest().encode("ascii")


def akav2_password(res: bytes, ik: bytes, ck: bytes) -> bytes:
    """The AKAv2-MD5 password: base64(HMAC-MD5(RES‖IK‖CK, label)) (RFC 4169 §7)."""
    if not isinstance(res, bytes | bytearray | memoryview):
        raise ArgumentTypeError(f"res must be bytes, not {type(res).__name__}")
    res = bytes(res)
    if not 4 <= len(res) <= 16:
        raise ValueError(f"res must be 4 to 16 bytes, not {len(res)}")
    key = res + _b("ik", ik, 16) + _b("ck", ck, 16)
    return base64.b64encode(hmac.new(key, AKAV2_LABEL, hashlib.md5).digest())


def _password_for(algorithm: str, password: object) -> bytes:
    if not isinstance(algorithm, str):
        raise ArgumentTypeError(f"algorithm must be str, not {type(algorithm).__name__}")
    if not isinstance(password, bytes | bytearray | memoryview):
        raise ArgumentTypeError(f"password must be bytes, not {type(password).__name__}")
    alg = algorithm.lower() or "md5"
    pw = bytes(password)
    if alg not in _ALGORITHMS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    if alg == "akav2-md5":
        # password carries RES‖IK‖CK; RES is 4..16 octets (TS 33.102 §6.3.2).
        if not 36 <= len(pw) <= 48:
            raise ValueError(f"AKAv2-MD5 password must be RES‖IK‖CK (36-48 bytes), not {len(pw)}")
        return akav2_password(pw[:-32], pw[-32:-16], pw[-16:])
    return pw


def ha1(username: str, realm: str, password: bytes) -> str:
    """HA1 = MD5(username ":" realm ":" password) as 32 lowercase hex characters."""
    if not isinstance(password, bytes | bytearray | memoryview):
        raise ArgumentTypeError(f"password must be bytes, not {type(password).__name__}")
    data = b"%s:%s:%s" % (_s("username", username), _s("realm", realm), bytes(password))
    return _md5_hex(data).decode("ascii")


def _response(
    ha1_hex: bytes, method: str, uri: str, nonce: str, nc: str, cnonce: str, qop: str, body: object
) -> str:
    m, u, n = _s("method", method), _s("uri", uri), _s("nonce", nonce)
    nc_b, cn, q = _s("nc", nc), _s("cnonce", cnonce), _s("qop", qop)
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ArgumentTypeError(f"body must be bytes, not {type(body).__name__}")
    if qop not in _QOPS:
        raise ValueError(f"unsupported qop {qop!r}")
    if qop == "auth-int":
        ha2 = _md5_hex(b"%s:%s:%s" % (m, u, _md5_hex(bytes(body))))
    else:
        ha2 = _md5_hex(b"%s:%s" % (m, u))
    if qop:
        return _md5_hex(b":".join((ha1_hex, n, nc_b, cn, q, ha2))).decode("ascii")
    return _md5_hex(b"%s:%s:%s" % (ha1_hex, n, ha2)).decode("ascii")  # RFC 2069 form


def digest_response(
    algorithm: str,
    username: str,
    realm: str,
    password: bytes,
    method: str,
    uri: str,
    nonce: str,
    nc: str,
    cnonce: str,
    qop: str,
    body: bytes = b"",
) -> str:
    """The digest ``response`` value as 32 lowercase hex characters.

    ``algorithm`` is ``MD5`` (or empty), ``AKAv1-MD5`` (``password`` = RES) or
    ``AKAv2-MD5`` (``password`` = RES‖IK‖CK; the RFC 4169 password is derived here).
    ``qop`` is ``auth``, ``auth-int`` (``body`` is hashed) or empty (RFC 2069 form).
    """
    pw = _password_for(algorithm, password)
    h1 = ha1(username, realm, pw).encode("ascii")
    return _response(h1, method, uri, nonce, nc, cnonce, qop, body)


def digest_response_ha1(
    ha1: str, method: str, uri: str, nonce: str, nc: str, cnonce: str, qop: str, body: bytes = b""
) -> str:
    """The digest response from a stored HA1 (SIP Digest subscribers, Digest-HA1 from the HSS)."""
    h1 = _s("ha1", ha1)
    if len(h1) != 32:
        raise ValueError(f"ha1 must be 32 hex characters, not {len(h1)}")
    return _response(h1.lower(), method, uri, nonce, nc, cnonce, qop, body)


def verify_response(received: str, expected: str) -> bool:
    """Constant-time comparison of a received digest response with the expected one.

    Hex case is ignored (RFC 2617 asks for lowercase; some clients send uppercase).
    """
    r, e = _s("received", received), _s("expected", expected)
    return hmac.compare_digest(r.lower(), e.lower())


# --- AES paths ------------------------------------------------------------------------

_AES_PATHS = ("aesni", "portable")


class AkaCore:
    """The module's functions bound to one AES path, as :func:`with_aes` returns them.

    The twin has a single AES (the ``cryptography`` package picks its own), so every
    path carries the module's functions themselves. Immutable and stateless.
    """

    __slots__ = ()
    ArgumentTypeError = ArgumentTypeError
    aes_impl = staticmethod(aes_impl)
    opc = staticmethod(opc)
    f1 = staticmethod(f1)
    f1star = staticmethod(f1star)
    f2345 = staticmethod(f2345)
    f5star = staticmethod(f5star)
    generate_vector = staticmethod(generate_vector)
    check_autn = staticmethod(check_autn)
    make_auts = staticmethod(make_auts)
    verify_auts = staticmethod(verify_auts)
    akav2_password = staticmethod(akav2_password)
    ha1 = staticmethod(ha1)
    digest_response = staticmethod(digest_response)
    digest_response_ha1 = staticmethod(digest_response_ha1)
    verify_response = staticmethod(verify_response)

    def __repr__(self) -> str:
        return "<AkaCore aes='cryptography'>"


def with_aes(name: str) -> AkaCore:
    """The module's functions for the AES path ``name``, ``"aesni"`` or ``"portable"``.

    Mirrors the C module's ``with_aes``. The twin has one AES whatever the name, so its
    ``aes_impl()`` stays ``"cryptography"``, and it cannot tell whether the CPU has
    AES-NI: ``"aesni"`` is accepted everywhere.
    """
    _s("name", name)
    if name not in _AES_PATHS:
        raise ValueError(f'unknown AES path {name!r} ("aesni" or "portable")')
    return AkaCore()
