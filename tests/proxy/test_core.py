"""The sans-I/O proxy core driven with parsed messages and a fake clock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ims_core.proxy import ProxyConfig, ProxyCore, RequestContext, Send, Target
from ims_core.proxy.context import branch_finals
from ims_core.sip import Request, Response
from ims_core.sip.addressing import Destination, Source

from .messages import NEXT_HOP, PROXY, UAC, dest, parse, request, response_to, source_for


class Harness:
    def __init__(self, core: ProxyCore[Any] | None = None, **config: object) -> None:
        defaults: dict[str, object] = {
            "host": PROXY[0], "port": PROXY[1], "next_hop": Destination("", *NEXT_HOP),
        }
        defaults.update(config)
        self.core = core or ProxyCore(ProxyConfig(**defaults))  # type: ignore[arg-type]
        self.now = 100.0

    def rx(self, msg: Request | Response, source: Source | None = None) -> list[Send]:
        if source is None:
            source = source_for(msg) if isinstance(msg, Request) else Source("UDP", *NEXT_HOP)
        self.core.receive(msg, source, self.now)
        return self.core.data_to_send()

    def tick(self, seconds: float) -> list[Send]:
        self.now += seconds
        self.core.handle_timer(self.now)
        return self.core.data_to_send()


def upstream(sends: Sequence[Send]) -> list[Response]:
    out = []
    for s in sends:
        msg = parse(s.data)
        if isinstance(msg, Response):
            assert s.dest.host == UAC[0]
            out.append(msg)
    return out


def downstream(sends: Sequence[Send]) -> list[tuple[Request, Send]]:
    out = []
    for s in sends:
        msg = parse(s.data)
        if isinstance(msg, Request):
            out.append((msg, s))
    return out


def forward_invite(h: Harness, req: Request | None = None) -> tuple[Request, Send]:
    sends = h.rx(req or request())
    assert [r.status for r in upstream(sends)] == [100]  # §16.2
    [(fwd, send)] = downstream(sends)
    return fwd, send


def test_invite_is_forwarded_to_next_hop_with_our_via_and_decremented_max_forwards() -> None:
    h = Harness()
    fwd, send = forward_invite(h, request(max_forwards=10))
    assert send.dest == dest(NEXT_HOP)
    vias = fwd.vias()
    assert len(vias) == 2
    assert (vias[0].host, vias[0].port, vias[0].transport) == (PROXY[0], PROXY[1], "UDP")
    assert vias[0].branch is not None and vias[0].branch.startswith("z9hG4bK")
    assert vias[1].branch == "z9hG4bKuac1"
    assert fwd.max_forwards == 9
    assert fwd.uri_text == "sip:bob@example.com"
    assert "record-route" not in fwd.headers


def test_missing_max_forwards_is_added_as_70() -> None:
    fwd, _ = forward_invite(Harness(), request(max_forwards=None))
    assert fwd.max_forwards == 70


def test_branches_are_unique_per_forward() -> None:
    h = Harness()
    a, _ = forward_invite(h, request(branch="z9hG4bKa", call_id="c1"))
    b, _ = forward_invite(h, request(branch="z9hG4bKb", call_id="c1"))
    assert a.top_via().branch != b.top_via().branch


def test_record_route_is_inserted_when_configured() -> None:
    fwd, _ = forward_invite(Harness(record_route=True))
    [rr] = fwd.record_routes()
    assert str(rr.uri) == f"sip:{PROXY[0]}:{PROXY[1]};lr"


def test_record_route_over_tcp_names_the_transport() -> None:
    h = Harness(record_route=True)
    req = request(transport="TCP")
    sends = h.rx(req, source_for(req, transport="TCP"))
    [(fwd, send)] = downstream(sends)
    assert send.dest.transport == "TCP"
    assert fwd.record_routes()[0].uri.param("transport") == "tcp"  # type: ignore[union-attr]


def test_max_forwards_zero_is_answered_483() -> None:
    h = Harness()
    sends = h.rx(request(max_forwards=0))
    assert [r.status for r in upstream(sends)] == [483]
    assert downstream(sends) == []


def test_a_request_coming_back_unchanged_is_a_loop_482() -> None:
    h = Harness(next_hop=Destination("", *PROXY))
    fwd, _ = forward_invite(h)
    sends = h.rx(fwd, source_for(fwd, PROXY))
    statuses = [parse(s.data).status for s in sends  # type: ignore[union-attr]
                if isinstance(parse(s.data), Response)]
    assert 482 in statuses


def test_a_spiral_with_a_new_request_uri_is_not_a_loop() -> None:
    h = Harness(next_hop=Destination("", *PROXY))
    fwd, _ = forward_invite(h)
    fwd.uri = parse_uri_text("sip:carol@example.com")
    sends = h.rx(fwd, source_for(fwd, PROXY))
    assert downstream(sends), "a spiral is forwarded"


def parse_uri_text(text: str):  # type: ignore[no-untyped-def]
    from ims_core.sip import parse_uri

    return parse_uri(text)


def test_proxy_require_is_rejected_with_420_and_unsupported() -> None:
    sends = Harness().rx(request(extra="Proxy-Require: foo\r\n"))
    [resp] = upstream(sends)
    assert resp.status == 420
    assert resp.headers.get("unsupported") == "foo"


def test_own_route_is_removed_and_the_next_route_is_followed() -> None:
    h = Harness()
    req = request(extra=f"Route: <sip:{PROXY[0]}:{PROXY[1]};lr>, <sip:192.0.2.30:5070;lr>\r\n")
    _, send = forward_invite(h, req)
    fwd = parse(send.data)
    assert send.dest == dest(("192.0.2.30", 5070))
    assert [str(r.uri) for r in fwd.routes()] == ["sip:192.0.2.30:5070;lr"]


def test_strict_router_next_hop_gets_the_route_as_request_uri() -> None:
    req = request(extra="Route: <sip:192.0.2.40:5080>, <sip:192.0.2.41;lr>\r\n", to_tag="x")
    sends = Harness().rx(req)
    [(fwd, send)] = downstream(sends)
    assert fwd.uri_text == "sip:192.0.2.40:5080"  # §16.6 step 6
    assert send.dest == dest(("192.0.2.40", 5080))
    assert [str(r.uri) for r in fwd.routes()] == ["sip:192.0.2.41;lr", "sip:bob@example.com"]


def test_strict_route_fixup_restores_the_request_uri() -> None:
    # A strict router put our Record-Route URI in the Request-URI (§16.4).
    req = request(uri=f"sip:{PROXY[0]}:{PROXY[1]};lr", to_tag="x",
                  extra="Route: <sip:bob@192.0.2.50:5090>\r\n")
    [(fwd, send)] = downstream(Harness().rx(req))
    assert fwd.uri_text == "sip:bob@192.0.2.50:5090"
    assert "route" not in fwd.headers
    assert send.dest == dest(("192.0.2.50", 5090))


def test_in_dialog_request_without_route_goes_to_its_request_uri() -> None:
    req = request("BYE", uri="sip:bob@192.0.2.60:5062", to_tag="b1", cseq=2)
    [(_, send)] = downstream(Harness().rx(req))
    assert send.dest == dest(("192.0.2.60", 5062))


def test_in_dialog_request_addressed_to_us_goes_to_next_hop() -> None:
    req = request("BYE", uri=f"sip:service@{PROXY[0]}:{PROXY[1]}", to_tag="b1", cseq=2)
    [(_, send)] = downstream(Harness().rx(req))
    assert send.dest == dest(NEXT_HOP)


def test_provisional_and_2xx_are_forwarded_with_our_via_removed() -> None:
    h = Harness()
    _, send = forward_invite(h)
    assert upstream(h.rx(response_to(send.data, 100))) == []  # 100 is hop by hop
    [r180] = upstream(h.rx(response_to(send.data, 180)))
    assert r180.status == 180
    assert [v.branch for v in r180.vias()] == ["z9hG4bKuac1"]
    [r200] = upstream(h.rx(response_to(send.data, 200)))
    assert r200.status == 200
    # A retransmitted 2xx is forwarded again (RFC 6026).
    assert [r.status for r in upstream(h.rx(response_to(send.data, 200)))] == [200]


def test_response_goes_to_received_and_rport() -> None:
    h = Harness()
    req = request(via_host="10.9.9.9:5060;rport")
    sends = h.rx(req, source_for(req, ("203.0.113.5", 40000)))
    [trying] = [s for s in sends if isinstance(parse(s.data), Response)]
    assert trying.dest == Destination("UDP", "203.0.113.5", 40000)
    via = parse(trying.data).top_via()
    assert via.received == "203.0.113.5" and via.rport == 40000


class ForkingCore(ProxyCore[None]):
    def route_request(self, ctx: RequestContext[None]) -> list[Target]:
        return [Target(next_hop=dest(("192.0.2.71", 5060))),
                Target(next_hop=dest(("192.0.2.72", 5060)))]


def fork(h: Harness) -> tuple[Send, Send]:
    sends = h.rx(request())
    [(_, a), (_, b)] = downstream(sends)
    return a, b


def forking_harness() -> Harness:
    return Harness(ForkingCore(ProxyConfig(host=PROXY[0], port=PROXY[1])))


def test_best_response_is_the_lowest_class() -> None:
    h = forking_harness()
    a, b = fork(h)
    assert upstream(h.rx(response_to(a.data, 503))) == []
    [best] = upstream(h.rx(response_to(b.data, 486)))
    assert best.status == 486


def test_branch_finals_wait_for_every_branch() -> None:
    h = forking_harness()
    a, b = fork(h)
    [ctx] = h.core._contexts.values()  # an INVITE's: kept until its transaction ends
    assert branch_finals(ctx) is None
    h.rx(response_to(a.data, 503))
    assert branch_finals(ctx) is None  # b still waits
    h.rx(response_to(b.data, 486))
    assert [r.status for r in branch_finals(ctx) or []] == [503, 486]  # in branch order


def test_a_lone_503_becomes_500() -> None:
    h = Harness()
    _, send = forward_invite(h)
    [resp] = upstream(h.rx(response_to(send.data, 503)))
    assert resp.status == 500  # §16.7 step 6


def test_6xx_cancels_the_other_branches_and_wins() -> None:
    h = forking_harness()
    a, b = fork(h)
    upstream(h.rx(response_to(b.data, 180, to_tag="t2")))
    sends = h.rx(response_to(a.data, 603, to_tag="t1"))
    cancels = [(m, s) for m, s in downstream(sends) if m.method == "CANCEL"]
    assert len(cancels) == 1 and cancels[0][1].dest == b.dest
    assert cancels[0][0].top_via().branch == parse(b.data).top_via().branch
    assert upstream(sends) == []
    [final] = upstream(h.rx(response_to(b.data, 487, to_tag="t2")))
    assert final.status == 603


def test_cancel_is_answered_and_propagated() -> None:
    h = Harness()
    _, send = forward_invite(h)
    h.rx(response_to(send.data, 180))
    cancel = request("CANCEL")
    sends = h.rx(cancel)
    assert [r.status for r in upstream(sends)] == [200]
    [(down, dsend)] = downstream(sends)
    assert down.method == "CANCEL" and dsend.dest == send.dest
    assert down.top_via().branch == parse(send.data).top_via().branch  # §9.1
    assert upstream(h.rx(response_to(dsend.data, 200))) == []  # stops here
    [final] = upstream(h.rx(response_to(send.data, 487)))
    assert final.status == 487


def test_cancel_before_any_provisional_waits_for_one() -> None:
    h = Harness()
    _, send = forward_invite(h)
    sends = h.rx(request("CANCEL"))
    assert downstream(sends) == []
    sends = h.rx(response_to(send.data, 100))
    [(down, _)] = downstream(sends)
    assert down.method == "CANCEL"


def test_unmatched_cancel_is_proxied() -> None:
    sends = Harness().rx(request("CANCEL", branch="z9hG4bKother"))
    [(down, _)] = downstream(sends)
    assert down.method == "CANCEL"


def test_no_answer_over_udp_gives_408_after_timer_b() -> None:
    h = Harness()
    forward_invite(h)
    retransmits = h.tick(0.5)
    assert len(downstream(retransmits)) == 1  # Timer A
    sends: list[Send] = []
    for _ in range(70):
        sends += h.tick(0.5)
    assert 408 in [r.status for r in upstream(sends)]


def test_transport_failure_alone_gives_500() -> None:
    h = Harness()
    _, send = forward_invite(h)
    h.core.send_failed(send, h.now)
    [resp] = upstream(h.core.data_to_send())
    assert resp.status == 500  # §16.9: as if a 503 came, and §16.7 step 6 makes it 500


def test_a_503_and_a_transport_failure_on_two_branches_give_500() -> None:
    h = forking_harness()
    a, b = fork(h)
    assert upstream(h.rx(response_to(a.data, 503))) == []
    h.core.send_failed(b, h.now)
    [resp] = upstream(h.core.data_to_send())
    assert resp.status == 500 and resp.to_tag is not None


def test_ack_for_2xx_is_forwarded_statelessly() -> None:
    h = Harness()
    _, send = forward_invite(h)
    h.rx(response_to(send.data, 200))
    ack = request("ACK", uri="sip:bob@192.0.2.60:5062", to_tag="b1", branch="z9hG4bKack1")
    [(fwd, asend)] = downstream(h.rx(ack))
    assert asend.tx is None and asend.dest == dest(("192.0.2.60", 5062))
    ack2 = request("ACK", uri="sip:bob@192.0.2.60:5062", to_tag="b1", branch="z9hG4bKack1")
    [(fwd2, _)] = downstream(h.rx(ack2))
    assert fwd.top_via().branch == fwd2.top_via().branch  # §16.11: same each time


def test_ack_for_non_2xx_is_absorbed() -> None:
    h = Harness()
    _, send = forward_invite(h)
    h.rx(response_to(send.data, 486))
    ack = request("ACK", to_tag="b1")
    assert h.rx(ack) == []


def test_invite_retransmission_is_absorbed() -> None:
    h = Harness()
    forward_invite(h)
    sends = h.rx(request())
    assert downstream(sends) == []
    assert [r.status for r in upstream(sends)] == [100]  # §17.2.1 resends the last


def test_large_udp_request_switches_to_tcp() -> None:
    h = Harness()
    req = request(body=b"v=0\r\n" + b"a=x\r\n" * 250)
    [(fwd, send)] = downstream(h.rx(req))
    assert send.dest.transport == "TCP"
    assert fwd.top_via().transport == "TCP"  # §18.1.1
    assert send.tx is not None and send.data == send.tx.request.to_bytes()


def test_a_registered_flow_keeps_its_transport_past_1300_bytes() -> None:
    """RFC 5626 §5.3 / TS 24.229 §5.2.6.4: a UE registered over UDP gets its requests
    over that flow, however large (it need not listen on TCP)."""

    class FlowCore(ProxyCore[None]):
        def route_request(self, ctx: RequestContext[None]) -> Target:
            return Target(next_hop=dest(NEXT_HOP, "UDP"), flow=True)

    h = Harness(FlowCore(ProxyConfig(host=PROXY[0], port=PROXY[1])))
    req = request(body=b"v=0\r\n" + b"a=x\r\n" * 250)
    [(fwd, send)] = downstream(h.rx(req))
    assert len(send.data) > 1300
    assert send.dest.transport == "UDP" and fwd.top_via().transport == "UDP"


def test_forwarded_bytes_are_the_transactions_request() -> None:
    h = Harness()
    _, send = forward_invite(h)
    assert send.tx is not None and send.data == send.tx.request.to_bytes()
    [(_, again)] = downstream(h.tick(0.5))  # Timer A resends the very same bytes
    assert again.data is send.data


def test_deferred_routing_and_respond_later() -> None:
    contexts: list[RequestContext[None]] = []

    class Deferred(ProxyCore[None]):
        def route_request(self, ctx: RequestContext[None]) -> None:
            contexts.append(ctx)

    h = Harness(Deferred(ProxyConfig(host=PROXY[0], port=PROXY[1])))
    assert [r.status for r in upstream(h.rx(request()))] == [100]
    h.core.forward(contexts[0], Target(next_hop=dest(NEXT_HOP)), h.now)
    [(fwd, _)] = downstream(h.core.data_to_send())
    assert fwd.method == "INVITE"


def test_stray_2xx_is_forwarded_statelessly_by_via() -> None:
    req = request()
    req.push_via(f"SIP/2.0/UDP {PROXY[0]}:{PROXY[1]};branch=z9hG4bK-gone")
    sends = Harness().rx(response_to(req.to_bytes(), 200))
    [resp] = upstream(sends)  # no transaction matched: §16.7 via the next Via
    assert resp.status == 200 and sends[0].dest == dest(UAC)
    assert [v.branch for v in resp.vias()] == ["z9hG4bKuac1"]


def test_stray_response_not_for_us_is_dropped() -> None:
    assert Harness().rx(response_to(request().to_bytes(), 200)) == []


def test_timer_c_cancels_a_ringing_branch_then_gives_408() -> None:
    h = Harness(timer_c=10.0)
    _, send = forward_invite(h)
    h.rx(response_to(send.data, 180))
    h.tick(9.0)
    h.rx(response_to(send.data, 183))  # §16.7 step 2: a provisional resets Timer C
    assert h.tick(9.0) == []
    sends = h.tick(1.5)
    [(cancel, _)] = downstream(sends)
    assert cancel.method == "CANCEL"  # §16.8
    sends = []
    for _ in range(70):
        sends += h.tick(0.5)
    assert 408 in [r.status for r in upstream(sends)]


def test_timer_c_and_an_unanswered_cancel_leave_no_state_after_64_t1() -> None:
    """§16.8 + §9.1: the cancelled INVITE client transaction ends 64*T1 after the
    CANCEL (a 408 upstream), the CANCEL's by Timer F; the server side after the ACK."""
    h = Harness(timer_c=10.0)
    _, send = forward_invite(h)
    h.rx(response_to(send.data, 180))
    [(cancel, _)] = downstream(h.tick(10.0))
    assert cancel.method == "CANCEL"
    sends: list[Send] = []
    while h.now < 110.0 + 31.5:
        sends += h.tick(0.5)
    assert upstream(sends) == [] and len(h.core.table._clients) == 2
    sends = h.tick(0.5)  # 64*T1 = 32 s after the CANCEL
    [final] = upstream(sends)
    assert final.status == 408
    assert h.core.table._clients == {} and h.core._branches == {}
    h.rx(request("ACK", to_tag=final.to_tag))
    h.tick(5.0)  # Timer I = T4
    assert len(h.core.table) == 0 and h.core._contexts == {}
    assert h.core.get_timer() is None


def test_a_provisional_after_timer_c_gave_408_gets_the_branch_cancelled() -> None:
    """§16.8: without a provisional response Timer C means a 408 at once; a late one
    then gets a CANCEL, so the transaction still ends within 64*T1."""
    h = Harness(timer_c=10.0)
    req = request(transport="TCP")
    [(_, send)] = downstream(h.rx(req, source_for(req, transport="TCP")))
    [resp] = upstream(h.tick(10.0))
    assert resp.status == 408
    sends = h.rx(response_to(send.data, 180), Source("TCP", *NEXT_HOP))
    [(cancel, _)] = downstream(sends)
    assert cancel.method == "CANCEL" and upstream(sends) == []
    h.tick(32.0)
    assert h.core.table._clients == {} and h.core._branches == {}


def test_timer_c_without_provisional_is_a_408_over_tcp() -> None:
    h = Harness(timer_c=10.0)
    req = request(transport="TCP")
    h.rx(req, source_for(req, transport="TCP"))
    assert h.core.get_timer() == h.now + 10.0  # Timer B is 32 s, Timer C first
    [resp] = upstream(h.tick(10.0))
    assert resp.status == 408


def test_state_is_released_when_the_transactions_end() -> None:
    h = Harness()
    _, send = forward_invite(h)
    h.rx(response_to(send.data, 180))
    h.rx(response_to(send.data, 200))
    h.rx(request("ACK", uri="sip:bob@192.0.2.60", to_tag="b1", branch="z9hG4bKack"))
    h.tick(40.0)
    h.tick(40.0)
    assert len(h.core.table) == 0
    assert h.core._contexts == {} and h.core._branches == {}
    assert h.core.get_timer() is None


def test_a_malformed_header_is_answered_400_by_the_transaction() -> None:
    h = Harness()
    bad_route = "Route: <sip:192.0.2.99;lr\r\n"  # no closing bracket
    [resp] = upstream(h.rx(request("OPTIONS", extra=bad_route)))
    assert resp.status == 400
    again = upstream(h.rx(request("OPTIONS", extra=bad_route)))
    assert [r.status for r in again] == [400]  # the retransmission gets the same answer
    h.tick(40.0)
    assert len(h.core.table) == 0


def test_stateless_ack_to_ourselves_is_dropped() -> None:
    h = Harness(next_hop=None)
    ack = request("ACK", uri=f"sip:x@{PROXY[0]}:{PROXY[1]}", to_tag="b1", branch="z9hG4bKa9")
    assert h.rx(ack) == []
