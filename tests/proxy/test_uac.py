"""Requests the proxy core sends as a UAC (ProxyCore.originate, RFC 3261 §8.1)."""

from __future__ import annotations

from ims_core.sip import Request, Response

from .messages import NEXT_HOP, PROXY, dest, parse, request, response_to
from .test_core import Harness, downstream


def _notify() -> Request:
    req = request("NOTIFY", f"sip:ue@{NEXT_HOP[0]}:{NEXT_HOP[1]}", to_tag="t1")
    req.headers.remove("via")
    return req


def test_originate_sends_with_our_via_and_reports_the_final_response_once() -> None:
    h = Harness()
    got: list[tuple[int, bool]] = []
    assert h.core.originate(_notify(), lambda r, now: got.append((r.status, r.generated)),
                            h.now)
    [(sent, send)] = downstream(h.core.data_to_send())
    assert send.dest == dest(NEXT_HOP)
    assert sent.vias()[0].host == PROXY[0] and len(sent.headers.get_all("via")) == 1
    assert h.rx(response_to(send.data, 100)) == []
    assert got == []  # provisional responses are not reported
    h.rx(response_to(send.data, 200))
    h.rx(response_to(send.data, 200))  # a retransmission is absorbed by the transaction
    assert got == [(200, False)]


def test_originate_timeout_reads_as_a_generated_408() -> None:
    h = Harness()
    got: list[Response] = []
    h.core.originate(_notify(), lambda r, now: got.append(r), h.now)
    sends = h.core.data_to_send()
    for _ in range(12):  # Timer E retransmissions, then Timer F (64*T1)
        sends += h.tick(4.0)
    assert len(downstream(sends)) > 1
    assert [(r.status, r.generated) for r in got] == [(408, True)]
    assert not h.core._outgoing  # the transaction ended and was forgotten


def test_a_raising_callback_does_not_escape() -> None:
    h = Harness()

    def boom(r: Response, now: float) -> None:
        raise RuntimeError("sender bug")

    h.core.originate(_notify(), boom, h.now)
    [(_, send)] = downstream(h.core.data_to_send())
    h.rx(response_to(send.data, 481))  # must not raise


def test_nowhere_to_send_returns_false() -> None:
    h = Harness()
    req = parse(b"NOTIFY tel:+1555 SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 NOTIFY\r\n"
                b"From: <sip:a@b>;tag=1\r\nTo: <tel:+1555>\r\nMax-Forwards: 70\r\n"
                b"Content-Length: 0\r\n\r\n")
    assert isinstance(req, Request)
    assert h.core.originate(req, lambda r, now: None, h.now) is False


def test_a_request_formed_for_a_strict_router_goes_to_its_request_uri() -> None:
    """RFC 3261 §8.1.2: with a strict router first (§12.2.1.1) the Request-URI is that
    router and the request goes there, not to the top Route."""
    h = Harness()
    req = _notify()
    req.headers.add("Route", "<sip:198.51.100.77:5070;lr>")
    h.core.originate(req, lambda r, now: None, h.now, strict=True)
    [(_, send)] = downstream(h.core.data_to_send())
    assert send.dest == dest(NEXT_HOP)
    h2 = Harness()
    req2 = _notify()
    req2.headers.add("Route", "<sip:198.51.100.77:5070;lr>")
    h2.core.originate(req2, lambda r, now: None, h2.now)
    [(_, send2)] = downstream(h2.core.data_to_send())
    assert send2.dest == dest(("198.51.100.77", 5070))
