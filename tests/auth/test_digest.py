"""HTTP digest: RFC 2617 and AKAv1-MD5 known answers, AKAv2-MD5, HA1, verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from ims_core.auth import AkaCore
from tests.conftest import load_reference

EXAMPLES: list[dict[str, Any]] = load_reference("digest_known_answers.json")["examples"]
h = bytes.fromhex


def _md5(s: bytes) -> str:
    return hashlib.md5(s).hexdigest()


@pytest.mark.parametrize("ex", EXAMPLES, ids=[e["id"] for e in EXAMPLES])
def test_known_answers(impl: AkaCore, ex: dict[str, Any]) -> None:
    i = ex["inputs"]
    if ex["kind"] == "rfc2617":
        algorithm, password = "MD5", i["password"].encode()
    else:
        assert ex["kind"] == "akav1"
        k, rand = h(i["k"]), h(i["rand"])
        opc = impl.opc(k, h(i["op"]))
        autn, xres, _ck, _ik = impl.generate_vector(k, opc, rand, h(i["sqn"]), h(i["amf"]))
        # the nonce SIPp answered was base64(RAND || AUTN) (RFC 3310 §3.1)
        assert base64.b64encode(rand + autn).decode() == i["nonce"]
        algorithm, password = "AKAv1-MD5", xres
    got = impl.digest_response(
        algorithm=algorithm,
        username=i["username"],
        realm=i["realm"],
        password=password,
        method=i["method"],
        uri=i["uri"],
        nonce=i["nonce"],
        nc=i.get("nc", ""),
        cnonce=i.get("cnonce", ""),
        qop=i.get("qop", ""),
    )
    assert got == ex["expected_response"]


def test_known_answer_ids_cover_both_kinds() -> None:
    assert {e["kind"] for e in EXAMPLES} == {"rfc2617", "akav1"}


def test_auth_int_hashes_the_body(impl: AkaCore) -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
    args = ("MD5", "alice", "ims.test", b"secret", "INVITE", "sip:bob@ims.test", "n0nce",
            "00000001", "c0ffee", "auth-int")
    got = impl.digest_response(*args, body=body)
    ha1 = _md5(b"alice:ims.test:secret")
    ha2 = _md5(b"INVITE:sip:bob@ims.test:" + _md5(body).encode())
    assert got == _md5(f"{ha1}:n0nce:00000001:c0ffee:auth-int:{ha2}".encode())
    assert got != impl.digest_response(*args, body=b"")


def test_rfc2069_form_without_qop(impl: AkaCore) -> None:
    got = impl.digest_response("MD5", "u", "r", b"p", "REGISTER", "sip:r", "nn", "ignored",
                               "ignored", "")
    ha1, ha2 = _md5(b"u:r:p"), _md5(b"REGISTER:sip:r")
    assert got == _md5(f"{ha1}:nn:{ha2}".encode())


def test_algorithm_names_case_insensitive(impl: AkaCore) -> None:
    a = impl.digest_response("akav1-md5", "u", "r", b"\x01" * 8, "REGISTER", "sip:r", "n", "1",
                             "c", "auth")
    b = impl.digest_response("AKAv1-MD5", "u", "r", b"\x01" * 8, "REGISTER", "sip:r", "n", "1",
                             "c", "auth")
    assert a == b == impl.digest_response("MD5", "u", "r", b"\x01" * 8, "REGISTER", "sip:r", "n",
                                          "1", "c", "auth")


def test_akav2_password_derivation(impl: AkaCore) -> None:
    # RFC 4169 §7: password = base64(HMAC-MD5(RES || IK || CK, "http-digest-akav2-password"))
    res, ik, ck = h("a54211d5e3ba50bf"), h("f769bcd751044604127672711c6d3441"), h(
        "b40ba9a3c58b2a05bbf0d987b21bf8cb")
    expected_pw = base64.b64encode(
        hmac.new(res + ik + ck, b"http-digest-akav2-password", "md5").digest())
    assert impl.akav2_password(res=res, ik=ik, ck=ck) == expected_pw
    got = impl.digest_response("AKAv2-MD5", "u@ims.test", "ims.test", res + ik + ck, "REGISTER",
                               "sip:ims.test", "bm9uY2U=", "00000001", "abcd", "auth")
    ha1 = _md5(b"u@ims.test:ims.test:" + expected_pw)
    ha2 = _md5(b"REGISTER:sip:ims.test")
    assert got == _md5(f"{ha1}:bm9uY2U=:00000001:abcd:auth:{ha2}".encode())


def test_ha1_and_response_from_ha1(impl: AkaCore) -> None:
    ha1 = impl.ha1(username="Mufasa", realm="testrealm@host.com", password=b"Circle Of Life")
    assert ha1 == _md5(b"Mufasa:testrealm@host.com:Circle Of Life")
    full = impl.digest_response("MD5", "Mufasa", "testrealm@host.com", b"Circle Of Life", "GET",
                                "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                                "00000001", "0a4f113b", "auth")
    assert full == "6629fae49393a05397450978507c4ef1"
    assert impl.digest_response_ha1(ha1=ha1.upper(), method="GET", uri="/dir/index.html",
                                    nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", nc="00000001",
                                    cnonce="0a4f113b", qop="auth") == full


def test_utf8_text(impl: AkaCore) -> None:
    got = impl.ha1("jürgen", "ims.test", b"pw")
    assert got == _md5("jürgen:ims.test:pw".encode())


def test_verify_response(impl: AkaCore) -> None:
    good = "6629fae49393a05397450978507c4ef1"
    assert impl.verify_response(good, good)
    assert impl.verify_response(good.upper(), good)
    assert not impl.verify_response(good[:-1] + "0", good)
    assert not impl.verify_response(good[:-1], good)
    assert not impl.verify_response("", good)
    assert not impl.verify_response("ü" * 32, good)
