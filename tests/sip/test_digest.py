"""Authorization / WWW-Authenticate views, including the IMS-AKA parameters."""

from __future__ import annotations

import pytest

from ims_core.sip import AuthHeader, SipParseError, parse_auth

CHALLENGE = (
    'Digest realm="ims.example.org", nonce="3q2+7wAAAAAAAAAAAAAAAAAAAAA=",'
    ' algorithm=AKAv1-MD5, qop="auth,auth-int", ck="00112233445566778899aabbccddeeff",'
    ' ik="ffeeddccbbaa99887766554433221100"'
)


def test_challenge_with_ck_ik_and_strip() -> None:
    ch = parse_auth(CHALLENGE)
    assert ch.is_digest and ch.realm == "ims.example.org"
    assert ch.algorithm == "AKAv1-MD5" and ch.qop == "auth,auth-int"
    assert ch.ck == "00112233445566778899aabbccddeeff"
    assert ch.ik == "ffeeddccbbaa99887766554433221100"
    ch.remove("ck")
    ch.remove("IK")
    text = str(ch)
    assert "ck=" not in text and "ik=" not in text
    assert text == (
        'Digest realm="ims.example.org",nonce="3q2+7wAAAAAAAAAAAAAAAAAAAAA=",'
        'algorithm=AKAv1-MD5,qop="auth,auth-int"'
    )
    assert parse_auth(text).nonce == ch.nonce


def test_credentials_with_auts() -> None:
    cred = parse_auth(
        'Digest username="001010000000001@ims.example.org", realm="ims.example.org",'
        ' nonce="abc", uri="sip:ims.example.org", response="", auts="AAECAwQFBgcICQoLDA0=",'
        ' integrity-protected="yes", nc=00000001, cnonce="x\\"y", opaque="o", stale=FALSE'
    )
    assert cred.username == "001010000000001@ims.example.org" and cred.response == ""
    assert cred.auts == "AAECAwQFBgcICQoLDA0=" and cred.integrity_protected == "yes"
    assert cred.nc == "00000001" and cred.cnonce == 'x"y' and cred.opaque == "o"
    assert cred.stale == "FALSE" and cred.uri == "sip:ims.example.org"
    assert cred.get("missing") is None
    assert parse_auth(str(cred)) == cred


def test_build_and_set() -> None:
    h = AuthHeader("Digest")
    assert str(h) == "Digest"
    h.set("realm", "r")
    h.set("algorithm", "MD5")
    h.set("nonce", "n")
    h.set("nonce", "n2")
    h.set("opaque", "tok", quoted=False)
    assert str(h) == 'Digest realm="r",algorithm=MD5,nonce="n2",opaque=tok'


@pytest.mark.parametrize(
    "text", ["", "Digest,", 'Digest realm="x" nonce="y"', 'Digest realm="x', "Digest realm"]
)
def test_bad_auth(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_auth(text)
