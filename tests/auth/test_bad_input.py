"""Wrong lengths raise ValueError and wrong types TypeError (ArgumentTypeError is both),
from both implementations, and never crash."""

from __future__ import annotations

from typing import Any

import pytest

from ims_core.auth import AkaCore

K, OPC, RAND, SQN, AMF = bytes(16), bytes(16), bytes(16), bytes(6), b"\x80\x00"

GOOD: dict[str, tuple[Any, ...]] = {
    "opc": (K, OPC),
    "f1": (K, OPC, RAND, SQN, AMF),
    "f1star": (K, OPC, RAND, SQN, AMF),
    "f2345": (K, OPC, RAND),
    "f5star": (K, OPC, RAND),
    "generate_vector": (K, OPC, RAND, SQN, AMF),
    "check_autn": (K, OPC, RAND, bytes(16)),
    "make_auts": (K, OPC, RAND, SQN),
    "verify_auts": (K, OPC, RAND, bytes(14)),
    "akav2_password": (bytes(8), bytes(16), bytes(16)),
}
DIGEST_GOOD: tuple[Any, ...] = ("MD5", "u", "r", b"p", "REGISTER", "sip:r", "n", "1", "c", "auth")


def _cases() -> list[tuple[str, int]]:
    return [(name, i) for name, args in GOOD.items() for i in range(len(args))]


@pytest.mark.parametrize(("func", "pos"), _cases())
def test_wrong_length(impl: AkaCore, func: str, pos: int) -> None:
    for delta in (-1, 1):
        args = list(GOOD[func])
        args[pos] = bytes(len(args[pos]) + delta) if len(args[pos]) + delta > 0 else b""
        if func == "akav2_password" and pos == 0 and 4 <= len(args[pos]) <= 16:
            continue  # RES may be 4..16 octets
        with pytest.raises(ValueError):
            getattr(impl, func)(*args)


@pytest.mark.parametrize(("func", "pos"), _cases())
@pytest.mark.parametrize("bad", ["0" * 16, None, 16, [0] * 16])
def test_wrong_type(impl: AkaCore, func: str, pos: int, bad: object) -> None:
    args = list(GOOD[func])
    args[pos] = bad
    with pytest.raises(TypeError) as info:
        getattr(impl, func)(*args)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, impl.ArgumentTypeError)


def test_missing_and_unknown_keywords(impl: AkaCore) -> None:
    with pytest.raises(TypeError):
        impl.opc(K)
    with pytest.raises(TypeError):
        impl.opc(k=K, op=OPC, extra=1)
    with pytest.raises(TypeError):
        impl.opc(K, OPC, k=K)


@pytest.mark.parametrize("pos", range(10))
def test_digest_wrong_types(impl: AkaCore, pos: int) -> None:
    args = list(DIGEST_GOOD)
    args[pos] = "text" if isinstance(args[pos], bytes) else b"bytes"
    with pytest.raises(TypeError):
        impl.digest_response(*args)


def test_digest_body_must_be_bytes(impl: AkaCore) -> None:
    with pytest.raises(TypeError):
        impl.digest_response(*DIGEST_GOOD, body="not bytes")


@pytest.mark.parametrize(
    ("field", "value"),
    [(0, "SHA-256"), (0, "MD5-sess-x"), (9, "auth-conf"), (9, "AUTH")],
)
def test_digest_unsupported_values(impl: AkaCore, field: int, value: str) -> None:
    args = list(DIGEST_GOOD)
    args[field] = value
    with pytest.raises(ValueError):
        impl.digest_response(*args)


@pytest.mark.parametrize("size", [0, 8, 35, 49])
def test_akav2_password_length(impl: AkaCore, size: int) -> None:
    args = list(DIGEST_GOOD)
    args[0], args[3] = "AKAv2-MD5", bytes(size)
    with pytest.raises(ValueError):
        impl.digest_response(*args)


def test_ha1_for_response_must_be_32_chars(impl: AkaCore) -> None:
    with pytest.raises(ValueError):
        impl.digest_response_ha1("abc", "REGISTER", "sip:r", "n", "1", "c", "auth")


def test_lone_surrogate_is_a_value_error(impl: AkaCore) -> None:
    with pytest.raises(ValueError):
        impl.ha1("\udcff", "r", b"p")
