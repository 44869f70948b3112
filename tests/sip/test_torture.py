"""RFC 4475 torture tests (our own renderings of the RFC's messages)."""

from __future__ import annotations

import pytest

from ims_core.identity import uri_equal
from ims_core.sip import (
    AbsoluteUri,
    Limits,
    Request,
    Response,
    SipParseError,
    SipUri,
    error_response,
    parse_message,
)

from .corpus import DBLREQ, SDP, VALID, Case
from .corpus_invalid import INVALID


def _parse_valid(case: Case) -> Request | Response:
    msg = parse_message(case.data)
    msg.validate(full=True)
    return msg


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
def test_valid_parses_and_round_trips(case: Case) -> None:
    msg = _parse_valid(case)
    out = msg.to_bytes()
    if case.name == "dblreq":
        assert out == DBLREQ[: len(out)] and len(out) < len(DBLREQ)
    else:
        assert out == case.data
    again = parse_message(out)
    assert again.to_bytes() == out


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.name)
def test_invalid_rejected_with_status(case: Case) -> None:
    with pytest.raises(SipParseError) as info:
        _parse_valid(case)
    assert info.value.status == case.status
    assert info.value.can_respond is case.can_respond


def _valid(name: str) -> Request | Response:
    return _parse_valid(next(c for c in VALID if c.name == name))


def test_wsinv_typed_views() -> None:
    msg = _valid("wsinv")
    assert isinstance(msg, Request)
    assert msg.to_tag == "1918181833n"
    assert msg.from_addr.display_name == 'J Rosenberg \\"'
    assert msg.from_tag == "98asjd8"
    assert msg.max_forwards == 68
    assert msg.cseq.seq == 9 and msg.cseq.method == "INVITE"
    vias = msg.vias()
    assert [v.transport for v in vias] == ["UDP", "TCP", "UDP"]
    assert vias[0].has_param("rport") and vias[0].rport is None
    assert vias[1].branch == "z9hG4bK9ikj8" and vias[2].branch == "z9hG4bK30239"
    assert vias[2].host == "192.168.255.111"
    assert msg.headers.get("subject") == ""
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    (contact,) = msg.contacts()
    assert contact.display_name == 'Quoted string ""'
    assert contact.param("newparam") == "newvalue"
    assert contact.has_param("secondparam") and contact.param("q") == "0.33"
    (route,) = msg.routes()
    assert isinstance(route.uri, SipUri) and route.uri.lr
    assert msg.body == SDP and msg.content_length == len(SDP)


def test_intmeth_unusual_tokens() -> None:
    msg = _valid("intmeth")
    assert isinstance(msg, Request)
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert isinstance(msg.uri, SipUri)
    assert msg.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert msg.to_addr.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.from_addr.display_name == "token1~` token2'+_ token3*%!.-"
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.top_via().branch == "z9hG4bK-.!%66*_+`'~"


def test_escapes_kept_and_decodable() -> None:
    msg = _valid("esc01")
    assert isinstance(msg, Request) and isinstance(msg.uri, SipUri)
    assert msg.uri.user == "sips%3Auser%40example.com"
    (contact,) = msg.contacts()
    uri = contact.sip_uri
    assert uri is not None and uri.params[0] == ("%6C%72", None)
    assert uri_equal(SipUri("host5.example.net", "caller"),
                     SipUri("host5.example.net", "cal%6Cer"))
    assert _valid("escnull").headers.count("contact") == 2
    esc02 = _valid("esc02")
    assert isinstance(esc02, Request) and esc02.method == "RE%47IST%45R"
    assert esc02.to_addr.display_name == "%Z%45"


def test_semiuri_user_with_semicolon() -> None:
    msg = _valid("semiuri")
    assert isinstance(msg, Request) and isinstance(msg.uri, SipUri)
    assert msg.uri.user == "user;par=u%40example.net" and msg.uri.params == []
    assert len(msg.headers.values("accept")) == 6


def test_transports_and_responses() -> None:
    msg = _valid("transports")
    assert [v.transport for v in msg.vias()] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    unreason = _valid("unreason")
    assert isinstance(unreason, Response) and unreason.status == 200
    assert unreason.reason.startswith("= 2**3 * 5**2 но")
    noreason = _valid("noreason")
    assert isinstance(noreason, Response) and noreason.reason == ""


def test_application_level_cases_parse() -> None:
    unkscm = _valid("unkscm")
    assert isinstance(unkscm, Request) and isinstance(unkscm.uri, AbsoluteUri)
    novelsc = _valid("novelsc")
    assert isinstance(novelsc, Request) and novelsc.uri.scheme == "soap.beep"
    assert isinstance(_valid("unksm2").to_addr.uri, AbsoluteUri)
    assert _valid("bext01").headers.values("require") == [
        "nothingSupportsThis", "nothingSupportsThisEither",
    ]
    assert _valid("bcast").vias()[1].host == "255.255.255.255"
    assert _valid("zeromf").max_forwards == 0
    (auth,) = _valid("regaut01").auth_headers("authorization")
    assert auth.scheme == "NoOneKnowsThisScheme" and auth.get("opaque-data") == "here"
    inv = _valid("inv2543")
    assert inv.top_via().branch is None and not inv.top_via().has_magic_cookie
    assert len(_valid("longreq").vias()) == 34
    (escrt,) = _valid("regescrt").contacts()
    assert escrt.sip_uri is not None and escrt.sip_uri.headers == [
        ("Route", "%3Csip:sip.example.com%3E")
    ]
    (cparam,) = _valid("cparam02").contacts()
    assert cparam.sip_uri is not None and cparam.sip_uri.has_param("unknownparam")
    assert _valid("invut").headers.get("c") == "application/unknownformat"
    mpart = _valid("mpart01")
    assert b"\x00\x01\x02" in mpart.body


def test_error_response_for_bad_request() -> None:
    case = next(c for c in INVALID if c.name == "clerr")
    with pytest.raises(SipParseError) as info:
        parse_message(case.data)
    response = error_response(info.value)
    assert response is not None and response.status == 400
    assert response.headers.get("call-id") == "clerr.0ha0isndaksdjweiafasdk3"
    case = next(c for c in INVALID if c.name == "mismatch01")
    with pytest.raises(SipParseError) as info:
        _parse_valid(case)
    assert error_response(info.value) is not None
    case = next(c for c in INVALID if c.name == "bigcode")
    with pytest.raises(SipParseError) as info:
        parse_message(case.data)
    assert error_response(info.value) is None


@pytest.mark.parametrize(
    ("name", "status"),
    [("badvers", 505), ("lwsstart", 400), ("escruri", 400), ("ltgtruri", 400), ("trws", 400)],
)
def test_start_line_errors_can_still_be_answered(name: str, status: int) -> None:
    case = next(c for c in INVALID if c.name == name)
    with pytest.raises(SipParseError) as info:
        parse_message(case.data)
    response = error_response(info.value)
    assert response is not None and response.status == status
    assert response.headers.get("cseq") is not None and len(response.vias()) == 1


def test_too_large_request_can_be_answered() -> None:
    data = next(c for c in VALID if c.name == "longreq").data
    with pytest.raises(SipParseError) as info:
        parse_message(data, Limits(max_message_size=1000))
    response = error_response(info.value)
    assert response is not None and response.status == 513
