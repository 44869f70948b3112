"""Header edits: ck/ik stripping byte for byte, option tags, P-Charging-Vector."""

from __future__ import annotations

import pytest

from ims_core.pcscf.pheaders import (
    add_option_tag,
    charging_vector,
    icid_of,
    strip_aka_keys,
    strip_auth_params,
)
from ims_core.sip import Response, SipParseError, parse_message

from .messages import register


@pytest.mark.parametrize(("given", "expected"), [
    ('Digest realm="r", nonce="n", ck="c", ik="i"', 'Digest realm="r", nonce="n"'),
    ('Digest ck="c",realm="r" ,ik=i,  qop="auth"', 'Digest realm="r",  qop="auth"'),
    ('Digest CK="c", IK="i", nonce="n,ck=x"', 'Digest nonce="n,ck=x"'),
    ('Digest realm="r",nonce="n",algorithm=AKAv1-MD5',
     'Digest realm="r",nonce="n",algorithm=AKAv1-MD5'),
    ('Digest ck="c", ik="i"', "Digest"),
    ("Digest", "Digest"),
])
def test_strip_auth_params_keeps_everything_else(given: str, expected: str) -> None:
    assert strip_auth_params(given) == expected


def test_strip_auth_params_rejects_garbage() -> None:
    with pytest.raises(SipParseError):
        strip_auth_params('Digest realm="unterminated')


def test_every_www_authenticate_field_is_stripped_in_order() -> None:
    text = ("SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
            "From: <sip:a@d>;tag=1\r\nTo: <sip:a@d>;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"
            'WWW-Authenticate: Digest realm="d", nonce="a", ck="1", ik="2"\r\n'
            "Server: x\r\n"
            'www-authenticate: Digest realm="d", nonce="b", algorithm=MD5\r\n'
            'WWW-Authenticate: Digest realm="d", nonce="c", ik="2"\r\n'
            "Content-Length: 0\r\n\r\n")
    msg = parse_message(text.encode())
    assert isinstance(msg, Response)
    assert strip_aka_keys(msg)
    assert msg.headers.get_all("www-authenticate") == [
        'Digest realm="d", nonce="a"', 'Digest realm="d", nonce="b", algorithm=MD5',
        'Digest realm="d", nonce="c"']
    assert b"\r\nServer: x\r\n" in msg.to_bytes()
    assert not strip_aka_keys(msg)


def test_option_tags_are_added_once_in_a_field_of_their_own() -> None:
    req = register(extra="Supported: sec-agree, PATH\r\n")
    add_option_tag(req, "Supported", "path")
    assert req.headers.get_all("supported") == ["sec-agree, PATH"]
    add_option_tag(req, "Require", "path")
    add_option_tag(req, "Require", "path")
    assert req.headers.get_all("require") == ["path"]


def test_charging_vector_and_icid() -> None:
    assert charging_vector("ab", "10.0.0.1", "visited.net") == \
        "icid-value=ab;icid-generated-at=10.0.0.1;orig-ioi=visited.net"
    assert charging_vector("ab", "h", 'not a "token"') == "icid-value=ab;icid-generated-at=h"
    req = register(extra='P-Charging-Vector: icid-generated-at=x; icid-value="q1"\r\n')
    assert icid_of(req) == "q1"
    assert icid_of(register()) is None
