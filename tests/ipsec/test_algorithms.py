"""Algorithm names and the ESP keys of TS 33.203 Annex I, from the IK and CK of the
TS 35.208 Milenage sets."""

from __future__ import annotations

from typing import Any

import pytest

from ims_core.ipsec import (
    ENCRYPTION,
    INTEGRITY,
    AlgorithmError,
    encryption,
    encryption_key,
    integrity,
    integrity_key,
)
from tests.conftest import load_reference

SETS: list[dict[str, Any]] = load_reference("milenage_test_sets_1-6.json")["test_sets"]
h = bytes.fromhex


def test_the_test_sets_are_there() -> None:
    assert len(SETS) == 6


@pytest.mark.parametrize("ts", SETS, ids=lambda ts: f"set{ts['test_set']}")
def test_keys_expand_per_annex_i(ts: dict[str, Any]) -> None:
    ik, ck = h(ts["f4"]), h(ts["f3"])
    assert integrity_key("hmac-md5-96", ik) == ik
    assert integrity_key("hmac-sha-1-96", ik) == ik + b"\0\0\0\0"
    assert encryption_key("aes-cbc", ck) == ck
    assert encryption_key("des-ede3-cbc", ck) == ck[:8] + ck[8:] + ck[:8]
    assert encryption_key("null", ck) == b""


def test_test_set_1_known_answers() -> None:
    """Written out, so the expansion is not checked against itself."""
    ik = h("f769bcd751044604127672711c6d3441")  # f4 of TS 35.208 set 1
    ck = h("b40ba9a3c58b2a05bbf0d987b21bf8cb")  # f3
    assert integrity_key("hmac-sha-1-96", ik).hex() == (
        "f769bcd751044604127672711c6d344100000000")
    assert encryption_key("des-ede3-cbc", ck).hex() == (
        "b40ba9a3c58b2a05" "bbf0d987b21bf8cb" "b40ba9a3c58b2a05")


@pytest.mark.parametrize(("alg", "kernel", "key_bytes"), [
    ("hmac-md5-96", "hmac(md5)", 16),
    ("hmac-sha-1-96", "hmac(sha1)", 20),
])
def test_integrity_names_and_sizes(alg: str, kernel: str, key_bytes: int) -> None:
    spec = integrity(alg)
    assert (spec.name, spec.kernel, spec.key_bytes, spec.trunc_bits) == (
        alg, kernel, key_bytes, 96)
    assert len(integrity_key(alg, bytes(16))) == key_bytes


@pytest.mark.parametrize(("ealg", "kernel", "key_bytes"), [
    ("aes-cbc", "cbc(aes)", 16),
    ("des-ede3-cbc", "cbc(des3_ede)", 24),
    ("null", "ecb(cipher_null)", 0),
])
def test_encryption_names_and_sizes(ealg: str, kernel: str, key_bytes: int) -> None:
    spec = encryption(ealg)
    assert (spec.name, spec.kernel, spec.key_bytes) == (ealg, kernel, key_bytes)
    assert len(encryption_key(ealg, bytes(16))) == key_bytes


def test_the_lists_name_what_we_support() -> None:
    assert INTEGRITY == ("hmac-sha-1-96", "hmac-md5-96")
    assert ENCRYPTION == ("aes-cbc", "des-ede3-cbc", "null")
    assert [integrity(a).name for a in INTEGRITY] == list(INTEGRITY)
    assert [encryption(e).name for e in ENCRYPTION] == list(ENCRYPTION)


def test_names_are_case_insensitive() -> None:
    assert integrity("HMAC-SHA-1-96").kernel == "hmac(sha1)"
    assert encryption_key("AES-CBC", bytes(range(16))) == bytes(range(16))


@pytest.mark.parametrize("call", [
    lambda: integrity("hmac-sha-256-128"),
    lambda: encryption("aes-gcm"),
    lambda: integrity_key("hmac-md5", bytes(16)),
    lambda: encryption_key("3des", bytes(16)),
    lambda: integrity_key("hmac-md5-96", bytes(15)),
    lambda: integrity_key("hmac-sha-1-96", bytes(20)),
    lambda: encryption_key("aes-cbc", bytes(17)),
    lambda: encryption_key("null", b""),
])
def test_bad_names_and_key_sizes_raise(call: Any) -> None:
    with pytest.raises(AlgorithmError):
        call()


def test_algorithm_error_is_a_value_error_that_names_the_problem() -> None:
    with pytest.raises(ValueError, match="aes-gcm"):
        encryption("aes-gcm")
    with pytest.raises(AlgorithmError, match="IK must be 16 bytes, not 15"):
        integrity_key("hmac-md5-96", bytes(15))
