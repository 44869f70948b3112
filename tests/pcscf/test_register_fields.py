"""What the P-CSCF reads from a REGISTER's and its 2xx's Contact and P-Associated-URI
fields (`listed_contacts`, `associated_uris`): kept by the fields' text, since every
refresh brings the same ones back, and exactly what parsing them says."""

from __future__ import annotations

import pytest

from ims_core.identity import uri_key
from ims_core.pcscf import register as reg_mod
from ims_core.pcscf.register import associated_uris, listed_contacts
from ims_core.sip import Response, SipParseError, parse_message

DOMAIN = "home.test"


def _ok(contact: str, associated: str = "") -> Response:
    extra = f"P-Associated-URI: {associated}\r\n" if associated else ""
    msg = parse_message((
        "SIP/2.0 200 OK\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
        f"From: <sip:user@{DOMAIN}>;tag=1\r\nTo: <sip:user@{DOMAIN}>;tag=2\r\n"
        "Call-ID: c1\r\nCSeq: 2 REGISTER\r\n"
        f"Contact: {contact}\r\n{extra}Content-Length: 0\r\n\r\n").encode())
    assert isinstance(msg, Response)
    return msg


def test_contacts_read_as_their_parse() -> None:
    contact = ('<sip:User@192.0.2.9:5061;transport=UDP>;expires=600, '
               '<sip:user@192.0.2.9:5062>;+sip.instance="<urn:x>"')
    got = listed_contacts(_ok(contact))
    assert got == (
        ("sip:User@192.0.2.9:5061;transport=UDP", uri_key("sip:User@192.0.2.9:5061;transport=UDP"),
         "600"),
        ("sip:user@192.0.2.9:5062", uri_key("sip:user@192.0.2.9:5062"), None))
    assert listed_contacts(_ok(contact)) is got  # the same fields again: not parsed again


def test_associated_uris_in_order_and_kept() -> None:
    value = f"<sip:user@{DOMAIN}>, <sip:+1555@{DOMAIN};user=phone>, <tel:+1555>"
    got = associated_uris(_ok("<sip:u@192.0.2.9>", value))
    assert got == (f"sip:user@{DOMAIN}", f"sip:+1555@{DOMAIN};user=phone", "tel:+1555")
    assert associated_uris(_ok("<sip:other@192.0.2.8>", value)) is got
    assert associated_uris(_ok("<sip:u@192.0.2.9>")) == ()


def test_fields_that_do_not_parse_raise_every_time_and_are_not_kept() -> None:
    bad = _ok("<sip:u@192.0.2.9", "<sip:broken")
    for _ in range(2):
        with pytest.raises(SipParseError):
            listed_contacts(bad)
        with pytest.raises(SipParseError):
            associated_uris(bad)
    assert ("<sip:u@192.0.2.9",) not in reg_mod._LISTED
    assert ("<sip:broken",) not in reg_mod._ASSOCIATED


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reg_mod, "_READ_MAX", 3)
    monkeypatch.setattr(reg_mod, "_LISTED", {})
    for n in range(10):
        listed_contacts(_ok(f"<sip:u{n}@192.0.2.9>"))
        assert len(reg_mod._LISTED) <= 3
    assert listed_contacts(_ok("<sip:u9@192.0.2.9>"))[0][0] == "sip:u9@192.0.2.9"
