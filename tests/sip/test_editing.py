"""The proxy's edits: only the touched header changes; everything else stays byte-exact."""

from __future__ import annotations

import pytest

from ims_core.sip import (
    Headers,
    NameAddr,
    Request,
    Response,
    SipError,
    SipUri,
    Via,
    make_ack,
    make_cancel,
    make_response,
    parse_message,
    parse_uri,
)

from .corpus import wire

WEIRD = "X-Weird:   keep   this   spacing  "
INVITE = wire(
    f"""
INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa, SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKzzz
Max-Forwards: 70
Route: <sip:pcscf.example.com;lr>, <sip:scscf.example.com;lr>
From: "Alice" <sip:alice@example.com>;tag=fff
To: <sip:bob@example.com>
Call-ID: c1@192.0.2.1
CSeq: 42 INVITE
Contact: <sip:alice@192.0.2.1>
{WEIRD}
Content-Type: application/sdp
Content-Length: {{cl}}
""",
    b"v=0\r\n",
)


def parsed() -> Request:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    return msg


def untouched(out: bytes) -> None:
    for line in (WEIRD.encode(), b'From: "Alice" <sip:alice@example.com>;tag=fff'):
        assert line in out


def test_push_and_pop_via() -> None:
    msg = parsed()
    msg.push_via(Via("UDP", "10.0.0.1", 5060, [("branch", "z9hG4bKnew")]))
    assert msg.top_via().branch == "z9hG4bKnew"
    out = msg.to_bytes()
    assert out.index(b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnew\r\n") < out.index(
        b"Via: SIP/2.0/UDP 192.0.2.1"
    )
    untouched(out)
    popped = msg.pop_via()
    assert popped is not None and popped.branch == "z9hG4bKnew"
    assert msg.to_bytes() == INVITE
    popped = msg.pop_via()  # first value of a two-value field
    assert popped is not None and popped.branch == "z9hG4bKaaa"
    assert b"Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKzzz\r\n" in msg.to_bytes()
    assert [v.branch for v in msg.vias()] == ["z9hG4bKzzz"]
    msg.pop_via()
    assert msg.pop_via() is None


def test_set_top_via_received_rport() -> None:
    msg = parsed()
    via = msg.top_via()
    via.set_param("received", "203.0.113.5")
    via.set_param("rport", "5062")
    msg.set_top_via(via)
    assert msg.top_via().received == "203.0.113.5" and msg.top_via().rport == 5062
    assert len(msg.vias()) == 2
    with pytest.raises(SipError):
        Request("OPTIONS", "sip:a@b").set_top_via(via)


def test_route_record_route_path() -> None:
    msg = parsed()
    own = msg.pop_address("Route")
    assert own is not None and own.sip_uri is not None and own.sip_uri.host == "pcscf.example.com"
    assert [r.sip_uri.host for r in msg.routes() if r.sip_uri] == ["scscf.example.com"]
    msg.push_address("Record-Route", "<sip:pcscf.example.com;lr>")
    msg.push_address("record-route", NameAddr(SipUri("p2.example.com", params=[("lr", None)])))
    assert [str(r.uri) for r in msg.record_routes()] == [
        "sip:p2.example.com;lr", "sip:pcscf.example.com;lr",
    ]
    msg.push_address("Path", "<sip:term@pcscf.example.com;lr>")
    assert msg.paths()[0].sip_uri is not None
    untouched(msg.to_bytes())
    assert b"Record-Route: <sip:p2.example.com;lr>\r\n" in msg.to_bytes()


def test_max_forwards_request_uri_headers() -> None:
    msg = parsed()
    assert msg.decrement_max_forwards() == 69
    assert b"Max-Forwards: 69\r\n" in msg.to_bytes()
    msg.uri = parse_uri("sip:bob@192.0.2.50:5080;transport=tcp")
    assert msg.to_bytes().startswith(b"INVITE sip:bob@192.0.2.50:5080;transport=tcp SIP/2.0\r\n")
    msg.headers.set("max-forwards", "0")
    with pytest.raises(SipError):
        msg.decrement_max_forwards()
    msg.headers.remove("Max-Forwards")
    assert msg.decrement_max_forwards() == 70
    msg.headers.set("P-Charging-Vector", "icid-value=1")
    msg.headers.add("P-Charging-Vector", "icid-value=2")
    msg.headers.set("P-Charging-Vector", "icid-value=3")
    assert msg.headers.get_all("p-charging-vector") == ["icid-value=3"]
    assert msg.headers.remove("p-charging-vector") == 1
    msg.set_body(b"new body", "text/plain")
    out = parse_message(msg.to_bytes())
    assert out.body == b"new body" and out.headers.get("content-type") == "text/plain"
    untouched(msg.to_bytes())


def test_copy_is_independent() -> None:
    msg = parsed()
    copy = msg.copy()
    copy.push_via("SIP/2.0/TCP p.example.com;branch=z9hG4bKc")
    assert msg.to_bytes() == INVITE
    assert copy.to_bytes() != INVITE


def test_make_response_copies_bytes() -> None:
    msg = parsed()
    resp = make_response(msg, 180, to_tag="ttt")
    assert resp.reason == "Ringing"
    out = resp.to_bytes()
    assert out.startswith(b"SIP/2.0 180 Ringing\r\n")
    assert b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa, SIP/2.0/UDP" in out
    assert b'From: "Alice" <sip:alice@example.com>;tag=fff\r\n' in out
    assert resp.to_tag == "ttt" and resp.cseq.method == "INVITE"
    assert b"Route" not in out and b"Content-Length: 0\r\n" in out
    trying = make_response(msg, 100, to_tag="ttt")
    assert trying.to_tag is None
    parse_message(out).validate(full=True)
    custom = make_response(msg, 499, "Custom")
    assert custom.start_line() == "SIP/2.0 499 Custom"


def test_make_cancel_and_ack() -> None:
    msg = parsed()
    cancel = make_cancel(msg)
    cancel.validate(full=True)
    assert cancel.method == "CANCEL" and cancel.cseq.seq == 42 and cancel.cseq.method == "CANCEL"
    assert len(cancel.vias()) == 1 and cancel.top_via().branch == "z9hG4bKaaa"
    assert len(cancel.routes()) == 2 and str(cancel.uri) == "sip:bob@example.com"
    resp = make_response(msg, 486, to_tag="busy")
    ack = make_ack(msg, resp)
    ack.validate(full=True)
    assert ack.method == "ACK" and ack.cseq.method == "ACK" and ack.to_tag == "busy"
    assert len(ack.vias()) == 1 and ack.top_via().branch == "z9hG4bKaaa"
    assert ack.from_tag == "fff" and len(ack.routes()) == 2


def test_build_from_scratch() -> None:
    headers = Headers.from_pairs(
        [
            ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1"),
            ("From", "<sip:a@example.com>;tag=1"),
            ("To", "<sip:b@example.com>"),
            ("Call-ID", "x@y"),
            ("CSeq", "1 MESSAGE"),
            ("Max-Forwards", "70"),
        ]
    )
    req = Request("MESSAGE", "sip:b@example.com", headers)
    req.set_body(b"hi", "text/plain")
    again = parse_message(req.to_bytes())
    again.validate(full=True)
    assert again.body == b"hi" and "content-length" in again.headers
    resp = Response(200, headers=Headers.from_pairs([("Content-Length", "0")]))
    assert resp.to_bytes() == b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    assert repr(req) == "<Request MESSAGE sip:b@example.com>" and "200" in repr(resp)
    assert bytes(resp) == resp.to_bytes()
