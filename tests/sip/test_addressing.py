"""The pure §18 rules: received/rport, where responses go, the size rule, URI hops."""

from __future__ import annotations

import pytest

from ims_core.sip import parse_uri, parse_via
from ims_core.sip.addressing import (
    Destination,
    choose_transport,
    destination,
    is_ip,
    mark_received,
    reply_destination,
    uri_destination,
)


def test_received_added_when_sent_by_differs() -> None:
    via = parse_via("SIP/2.0/UDP client.example.com:5060;branch=z9hG4bK1")
    assert mark_received(via, "192.0.2.1", 5060)
    assert via.received == "192.0.2.1"
    assert reply_destination(via, "UDP", None) == Destination("UDP", "192.0.2.1", 5060)


def test_no_received_when_sent_by_matches() -> None:
    via = parse_via("SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK1")
    assert not mark_received(via, "192.0.2.1", 5062)
    assert via.received is None
    assert reply_destination(via, "UDP", None) == Destination("UDP", "192.0.2.1", 5062)


def test_rport_is_filled_and_used() -> None:
    via = parse_via("SIP/2.0/UDP 192.0.2.1:5062;rport;branch=z9hG4bK1")
    assert mark_received(via, "192.0.2.1", 40001)
    assert via.rport == 40001 and via.received == "192.0.2.1"  # RFC 3581 §4
    assert str(via).endswith(";rport=40001;branch=z9hG4bK1;received=192.0.2.1")
    assert reply_destination(via, "UDP", None) == Destination("UDP", "192.0.2.1", 40001)


def test_tcp_reply_prefers_the_connection() -> None:
    via = parse_via("SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1")
    conn = object()
    assert reply_destination(via, "TCP", conn) == Destination("TCP", "192.0.2.1", 5060, conn)


def test_size_rule() -> None:
    assert choose_transport("UDP", 1300) == "UDP"
    assert choose_transport("UDP", 1301) == "TCP"
    assert choose_transport("UDP", 5000, is_request=False) == "UDP"
    assert choose_transport("TCP", 10) == "TCP"


def test_uri_destination() -> None:
    assert uri_destination(parse_uri("sip:a@h.example:5070"), "UDP") == Destination(
        "UDP", "h.example", 5070)
    assert uri_destination(parse_uri("sip:a@h;transport=tcp"), "UDP") == Destination(
        "TCP", "h", 5060)
    assert uri_destination(parse_uri("sip:a@h;maddr=192.0.2.9"), "TCP") == Destination(
        "TCP", "192.0.2.9", 5060)


@pytest.mark.parametrize(("host", "ip"), [
    ("127.0.0.1", True), ("255.255.255.255", True), ("256.1.1.1", False),
    ("01.2.3.4", False), ("1.2.3", False), ("[::1]", True), ("::1", True),
    ("[2001:db8::1]", True), ("a:b", False), ("pcscf.example", False), ("", False),
])
def test_is_ip(host: str, ip: bool) -> None:
    assert is_ip(host) is ip


def test_destination_is_shared_per_connectionless_peer() -> None:
    a = destination("UDP", "192.0.2.7", 5060)
    assert destination("UDP", "192.0.2.7", 5060) is a
    assert a == Destination("UDP", "192.0.2.7", 5060)
    assert destination("TCP", "192.0.2.7", 5060) is not a
    assert destination("UDP", "192.0.2.7", 5060, local_port=5064).local_port == 5064
    conn = object()
    with_conn = destination("TCP", "192.0.2.7", 5060, conn)
    assert with_conn.conn is conn and destination("TCP", "192.0.2.7", 5060, conn) is not with_conn
    assert a.over("UDP") is a  # over() shares too
