"""The transport's decisions without sockets: what bytes from an address become
(deliver / answer / drop), RFC 3261 §18.2.1, RFC 3581 §4, RFC 5626 §4.4.1."""

from __future__ import annotations

import pytest

from ims_core.sip import Limits, Request, Response, SipParseError, parse_message
from ims_core.sip.addressing import Destination, Source
from ims_core.sip.inbound import (
    KEEPALIVE,
    Answer,
    Deliver,
    Drop,
    Verdict,
    receive,
    reject,
    request_source,
)

PEER = ("203.0.113.5", 40000)


def sip_request(method: str = "OPTIONS", via: str = "SIP/2.0/UDP 10.0.0.1:5060;rport",
                extra: str = "") -> bytes:
    return (
        f"{method} sip:x@192.0.2.1 SIP/2.0\r\nVia: {via};branch=z9hG4bKin1\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\n"
        f"Call-ID: in1@t\r\nCSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
    ).encode()


def udp(data: bytes, limits: Limits | None = None) -> Verdict:
    if limits is None:
        return receive(data, "UDP", *PEER)
    return receive(data, "UDP", *PEER, limits=limits)


@pytest.mark.parametrize("data", [b"", b"\r\n", b"\r\n\r\n"])
def test_keepalives_are_dropped_quietly(data: bytes) -> None:
    verdict = udp(data)
    assert verdict is KEEPALIVE and isinstance(verdict, Drop) and verdict.quiet


def test_a_request_is_delivered_with_received_rport_and_its_reply_address() -> None:
    verdict = udp(sip_request())
    assert isinstance(verdict, Deliver) and isinstance(verdict.message, Request)
    via = verdict.message.top_via()
    assert via.received == PEER[0] and via.rport == PEER[1]
    assert verdict.source == Source("UDP", *PEER, None, Destination("UDP", *PEER))
    wire = verdict.message.to_bytes()
    assert b";rport=40000;" in wire and b";received=203.0.113.5" in wire


def test_a_request_over_tcp_answers_on_its_connection() -> None:
    conn = object()
    verdict = receive(sip_request(via="SIP/2.0/TCP 10.0.0.1:5060"), "TCP", *PEER, conn,
                      stream=True)
    assert isinstance(verdict, Deliver)
    reply_to = verdict.source.reply_to
    assert reply_to is not None and reply_to.conn is conn and reply_to.transport == "TCP"
    assert verdict.source.conn is conn


def test_a_response_is_delivered_untouched() -> None:
    data = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr\r\n" \
           b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: r@t\r\n" \
           b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    verdict = udp(data)
    assert isinstance(verdict, Deliver) and isinstance(verdict.message, Response)
    assert verdict.source == Source("UDP", *PEER) and verdict.message.to_bytes() == data


def test_an_unparseable_request_is_answered_with_the_parser_status() -> None:
    verdict = udp(sip_request().replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1))
    assert isinstance(verdict, Answer) and verdict.status == 505
    assert verdict.dest == Destination("UDP", *PEER)
    response = parse_message(verdict.data)
    assert isinstance(response, Response) and response.status == 505


def test_an_oversized_request_is_answered_513() -> None:
    verdict = udp(sip_request(extra="X-Pad: " + "a" * 2000 + "\r\n"),
                  limits=Limits(max_message_size=1000))
    assert isinstance(verdict, Answer) and verdict.status == 513


def test_a_request_without_a_usable_via_is_answered_at_its_source() -> None:
    verdict = udp(sip_request(via="SIP/2.0/UDP"))
    assert isinstance(verdict, Answer) and verdict.status == 400
    assert verdict.dest == Destination("UDP", *PEER)


@pytest.mark.parametrize("data", [
    b"\x16\x03\x01 not sip at all",  # no request line
    b"SIP/2.0 200 OK\r\nVia: broken\r\nContent-Length: x\r\n\r\n",  # a bad response
])
def test_what_cannot_be_answered_is_dropped(data: bytes) -> None:
    verdict = udp(data)
    assert isinstance(verdict, Drop) and not verdict.quiet and not verdict.close


def test_a_bad_ack_is_never_answered() -> None:
    verdict = udp(sip_request("ACK", extra="Content-Length: lots\r\n"))
    assert isinstance(verdict, Drop)


def test_a_handler_rejection_goes_to_the_reply_address() -> None:
    message = parse_message(sip_request())
    assert isinstance(message, Request)
    source = request_source(message, "UDP", *PEER)
    verdict = reject(SipParseError("Bad Max-Forwards header"), message, source)
    assert isinstance(verdict, Answer) and verdict.status == 400
    assert verdict.dest == Destination("UDP", *PEER) == source.reply_to
    response = parse_message(verdict.data)
    assert isinstance(response, Response) and response.reason == "Bad Max-Forwards header"


def test_a_handler_rejection_of_a_response_or_ack_is_a_drop() -> None:
    ack = parse_message(sip_request("ACK"))
    assert isinstance(ack, Request)
    source = request_source(ack, "UDP", *PEER)
    assert isinstance(reject(SipParseError("Bad To"), ack, source), Drop)
    response = parse_message(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKq\r\n"
                             b"Content-Length: 0\r\n\r\n")
    assert isinstance(reject(SipParseError("Bad CSeq"), response, Source("UDP", *PEER)), Drop)


def test_a_parser_failure_drops_the_message_and_closes_its_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import ims_core.sip.inbound as inbound

    def broken(*args: object, **kwargs: object) -> Request:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(inbound, "parse_message", broken)
    verdict = receive(sip_request(), "TCP", *PEER, object(), stream=True)
    assert isinstance(verdict, Drop) and verdict.close
    assert isinstance(verdict.error, RuntimeError)
