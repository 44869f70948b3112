"""Routing helpers (§16.4-§16.6), branches and loop hashes, best-response selection."""

from __future__ import annotations

import re

import pytest

from ims_core.proxy import (
    ProxyConfig,
    best_response,
    is_local,
    is_looped,
    loop_hash,
    new_branch,
    preprocess_routes,
    record_route_value,
    request_destination,
    stateless_branch,
)
from ims_core.sip import Response, parse_uri
from ims_core.sip.addressing import Destination

from .messages import request

NAMES = ProxyConfig(host="192.0.2.10", port=5060, aliases=("proxy.example.com",
                                                           "10.1.1.1:5070")).names


@pytest.mark.parametrize(("uri", "local"), [
    ("sip:192.0.2.10", True),
    ("sip:192.0.2.10:5060;lr", True),
    ("sip:x@PROXY.example.com;lr", True),
    ("sip:10.1.1.1:5070", True),
    ("sip:10.1.1.1", False),
    ("sip:192.0.2.10:5061", False),
    ("sip:other.example.com;maddr=192.0.2.10", True),
    ("tel:+123", False),
])
def test_is_local(uri: str, local: bool) -> None:
    assert is_local(parse_uri(uri), NAMES) is local


def test_preprocess_removes_every_own_route_on_top() -> None:
    req = request(extra="Route: <sip:192.0.2.10;lr>\r\nRoute: <sip:proxy.example.com;lr>, "
                        "<sip:192.0.2.99;lr>\r\n")
    preprocess_routes(req, NAMES)
    assert [str(r.uri) for r in req.routes()] == ["sip:192.0.2.99;lr"]


def test_preprocess_leaves_other_routes_alone() -> None:
    req = request(extra="Route: <sip:192.0.2.99;lr>\r\n")
    raw = req.to_bytes()
    preprocess_routes(req, NAMES)
    assert req.to_bytes() == raw


def test_request_destination_prefers_route_and_its_transport() -> None:
    req = request(extra="Route: <sip:192.0.2.99:5080;transport=tcp;lr>\r\n")
    assert request_destination(req, "UDP") == Destination("TCP", "192.0.2.99", 5080)
    assert request_destination(request(uri="sip:b@192.0.2.5"), "UDP") == Destination(
        "UDP", "192.0.2.5", 5060)
    assert request_destination(request(uri="tel:+4912345"), "UDP") is None


def test_record_route_value() -> None:
    assert record_route_value("192.0.2.10", 5060, "UDP") == "<sip:192.0.2.10:5060;lr>"
    assert record_route_value("h", 5, "TCP") == "<sip:h:5;transport=tcp;lr>"


def test_loop_hash_ignores_the_top_via_but_sees_the_request_uri() -> None:
    a = request(branch="z9hG4bK1")
    b = request(branch="z9hG4bK2", via_host="192.0.2.1")
    c = request(uri="sip:carol@example.com")
    assert loop_hash(a) == loop_hash(b) != loop_hash(c)
    assert re.fullmatch(r"[0-9a-f]{12}", loop_hash(a))  # §16.6 step 8: fits a branch token


def test_loop_hash_reads_the_first_of_each_single_header_and_every_route() -> None:
    """From, To, Call-ID and the CSeq number count as the first field of each names them
    (compact forms too); Route and Proxy-Require with every field, in order; anything else,
    and the CSeq method, not at all."""
    base = request(extra="Route: <sip:r1@example.com;lr>\r\n")
    same = request(extra="Route: <sip:r1@example.com;lr>\r\nSubject: x\r\n"
                         "f: <sip:later@example.com>;tag=9\r\n")
    assert loop_hash(base) == loop_hash(same)
    other_cseq_method = request(extra="Route: <sip:r1@example.com;lr>\r\n")
    other_cseq_method.headers.set("CSeq", "1 BYE")
    assert loop_hash(other_cseq_method) == loop_hash(base)
    for extra in ("Route: <sip:r1@example.com;lr>\r\nRoute: <sip:r2@example.com;lr>\r\n",
                  "Route: <sip:r1@example.com;lr>\r\nProxy-Require: foo\r\n",
                  "Route: <sip:r2@example.com;lr>\r\n"):
        assert loop_hash(request(extra=extra)) != loop_hash(base), extra
    assert loop_hash(request(cseq=2, extra="Route: <sip:r1@example.com;lr>\r\n")) != (
        loop_hash(base))


def test_our_branch_marks_a_loop() -> None:
    req = request()
    lh = loop_hash(req)
    req.push_via(f"SIP/2.0/UDP 192.0.2.10;branch={new_branch(lh, 'a1', 1)}")
    assert is_looped(req, lh, "a1")
    assert not is_looped(req, loop_hash(request(uri="sip:x@y")), "a1")
    assert not is_looped(req, lh, "b2")  # another proxy instance's branch


def test_branches_have_the_magic_cookie_and_are_unique() -> None:
    branches = {new_branch("abc", "a1", n) for n in range(1000)}
    assert len(branches) == 1000
    assert all(b.startswith("z9hG4bK") for b in branches)
    ack = request("ACK", to_tag="t")
    assert stateless_branch(ack) == stateless_branch(request("ACK", to_tag="t"))
    assert stateless_branch(ack).startswith("z9hG4bK")


def r(status: int) -> Response:
    return Response(status)


def test_best_response_prefers_6xx_then_lowest_class_then_auth() -> None:
    assert best_response([r(486), r(603), r(200)]).status == 603
    assert best_response([r(503), r(486), r(302)]).status == 302
    assert best_response([r(404), r(407), r(486)]).status == 407
    first = r(480)
    assert best_response([first, r(486)]) is first
    with pytest.raises(ValueError):
        best_response([r(180)])
