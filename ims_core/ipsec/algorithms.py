"""The IPsec algorithms of sec-agree (TS 33.203 §6.3) and their keys from IMS-AKA's IK and
CK (TS 33.203 Annex I), with the names and key sizes the Linux kernel knows them by.

Names are those of the ``alg`` and ``ealg`` parameters of Security-Client/-Server
(TS 33.203 Annex H); ``INTEGRITY`` and ``ENCRYPTION`` list them in our preference order.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AKA_KEY_BYTES",
    "ENCRYPTION",
    "INTEGRITY",
    "AlgorithmError",
    "Encryption",
    "Integrity",
    "encryption",
    "encryption_key",
    "integrity",
    "integrity_key",
]

INTEGRITY: tuple[str, ...] = ("hmac-sha-1-96", "hmac-md5-96")
ENCRYPTION: tuple[str, ...] = ("aes-cbc", "des-ede3-cbc", "null")
AKA_KEY_BYTES = 16  # IK and CK are 128 bits (TS 33.102 §6.3.2)


class AlgorithmError(ValueError):
    """An algorithm name we do not support, or an IK/CK of the wrong size."""


@dataclass(frozen=True, slots=True)
class Integrity:
    name: str  # as in sec-agree ("hmac-sha-1-96")
    kernel: str  # Linux crypto API name, used truncated ("hmac(sha1)")
    key_bytes: int  # the ESP key after Annex I expansion
    trunc_bits: int  # ICV length on the wire (RFC 2403, RFC 2404: 96)


@dataclass(frozen=True, slots=True)
class Encryption:
    name: str  # as in sec-agree ("aes-cbc")
    kernel: str  # Linux crypto API name ("cbc(aes)")
    key_bytes: int  # the ESP key after Annex I expansion (0: none)


_INTEGRITY = {
    "hmac-md5-96": Integrity("hmac-md5-96", "hmac(md5)", 16, 96),
    "hmac-sha-1-96": Integrity("hmac-sha-1-96", "hmac(sha1)", 20, 96),
}
_ENCRYPTION = {
    "aes-cbc": Encryption("aes-cbc", "cbc(aes)", 16),
    "des-ede3-cbc": Encryption("des-ede3-cbc", "cbc(des3_ede)", 24),
    "null": Encryption("null", "ecb(cipher_null)", 0),
}


def integrity(alg: str) -> Integrity:
    """The integrity algorithm named ``alg`` (case-insensitive)."""
    found = _INTEGRITY.get(alg.lower())
    if found is None:
        raise AlgorithmError(f"unknown integrity algorithm {alg!r} (known: "
                             f"{', '.join(INTEGRITY)})")
    return found


def encryption(ealg: str) -> Encryption:
    """The encryption algorithm named ``ealg`` (case-insensitive)."""
    found = _ENCRYPTION.get(ealg.lower())
    if found is None:
        raise AlgorithmError(f"unknown encryption algorithm {ealg!r} (known: "
                             f"{', '.join(ENCRYPTION)})")
    return found


def _aka_key(what: str, key: bytes) -> bytes:
    if len(key) != AKA_KEY_BYTES:
        raise AlgorithmError(f"{what} must be {AKA_KEY_BYTES} bytes, not {len(key)}")
    return bytes(key)


def integrity_key(alg: str, ik: bytes) -> bytes:
    """IK_ESP from IK (TS 33.203 Annex I): IK itself for hmac-md5-96, IK followed by 32
    zero bits for hmac-sha-1-96."""
    spec = integrity(alg)
    key = _aka_key("IK", ik)
    if spec.name == "hmac-sha-1-96":
        key += bytes(4)
    assert len(key) == spec.key_bytes
    return key


def encryption_key(ealg: str, ck: bytes) -> bytes:
    """CK_ESP from CK (TS 33.203 Annex I): CK itself for aes-cbc; for des-ede3-cbc
    CK1 || CK2 || CK1 with CK1, CK2 the first and second 64 bits of CK; nothing for null."""
    spec = encryption(ealg)
    key = _aka_key("CK", ck)
    if spec.name == "null":
        return b""
    if spec.name == "des-ede3-cbc":
        key = key[:8] + key[8:] + key[:8]
    assert len(key) == spec.key_bytes
    return key
