"""Differential tests: random inputs give identical outputs from the C module (both AES
paths) and the pure-Python twin."""

from __future__ import annotations

from types import ModuleType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ims_core.auth import akacore_py as py

b16 = st.binary(min_size=16, max_size=16)
b6 = st.binary(min_size=6, max_size=6)
b2 = st.binary(min_size=2, max_size=2)
text = st.text(max_size=40)
pw = st.binary(max_size=40)
# c_mod is a stateless module handle, so reusing it across examples is safe.
FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _both_paths(c: ModuleType, fn: str, *args: object) -> object:
    # the module's own path (AES-NI when the CPU has it) and the portable one
    out = [getattr(core, fn)(*args) for core in (c, c.with_aes("portable"))]
    assert out[0] == out[1], fn
    return out[0]


@FAST
@given(k=b16, op=b16, rand=b16, sqn=b6, amf=b2)
def test_milenage_matches(c_mod: ModuleType, k: bytes, op: bytes, rand: bytes, sqn: bytes,
                          amf: bytes) -> None:
    opc = py.opc(k, op)
    assert _both_paths(c_mod, "opc", k, op) == opc
    for fn, args in (
        ("f1", (k, opc, rand, sqn, amf)),
        ("f1star", (k, opc, rand, sqn, amf)),
        ("f2345", (k, opc, rand)),
        ("f5star", (k, opc, rand)),
        ("generate_vector", (k, opc, rand, sqn, amf)),
        ("make_auts", (k, opc, rand, sqn)),
    ):
        assert _both_paths(c_mod, fn, *args) == getattr(py, fn)(*args), fn


@FAST
@given(k=b16, opc=b16, rand=b16, blob=st.binary(min_size=16, max_size=16))
def test_checks_match_on_random_tokens(c_mod: ModuleType, k: bytes, opc: bytes, rand: bytes,
                                       blob: bytes) -> None:
    assert _both_paths(c_mod, "check_autn", k, opc, rand, blob) == py.check_autn(k, opc, rand,
                                                                                 blob)
    assert _both_paths(c_mod, "verify_auts", k, opc, rand, blob[:14]) == py.verify_auts(
        k, opc, rand, blob[:14])


@FAST
@given(
    alg=st.sampled_from(["MD5", "AKAv1-MD5", "akav1-md5", ""]),
    user=text, realm=text, password=pw, method=text, uri=text, nonce=text, nc=text,
    cnonce=text, qop=st.sampled_from(["", "auth", "auth-int"]), body=st.binary(max_size=200),
)
def test_digest_matches(c_mod: ModuleType, alg: str, user: str, realm: str, password: bytes,
                        method: str, uri: str, nonce: str, nc: str, cnonce: str, qop: str,
                        body: bytes) -> None:
    args = (alg, user, realm, password, method, uri, nonce, nc, cnonce, qop, body)
    assert c_mod.digest_response(*args) == py.digest_response(*args)
    ha1 = py.ha1(user, realm, password)
    assert c_mod.ha1(user, realm, password) == ha1
    rest = (method, uri, nonce, nc, cnonce, qop, body)
    assert c_mod.digest_response_ha1(ha1, *rest) == py.digest_response_ha1(ha1, *rest)


@FAST
@given(res=st.binary(min_size=4, max_size=16), ik=b16, ck=b16, nonce=text)
def test_akav2_matches(c_mod: ModuleType, res: bytes, ik: bytes, ck: bytes, nonce: str) -> None:
    assert c_mod.akav2_password(res, ik, ck) == py.akav2_password(res, ik, ck)
    args = ("AKAv2-MD5", "u", "r", res + ik + ck, "REGISTER", "sip:r", nonce, "1", "c", "auth")
    assert c_mod.digest_response(*args) == py.digest_response(*args)


@FAST
@given(a=st.text(max_size=40), b=st.text(max_size=40))
def test_verify_response_matches(c_mod: ModuleType, a: str, b: str) -> None:
    assert c_mod.verify_response(a, b) == py.verify_response(a, b)
    assert c_mod.verify_response(a, a) == py.verify_response(a, a)
