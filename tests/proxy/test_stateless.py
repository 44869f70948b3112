"""What the proxy core forwards without a transaction: a CANCEL that matches nothing
(RFC 3261 §16.10, §16.11) and the responses that come back for it, and what happens
to responses that match no transaction (§16.7 step 1)."""

from __future__ import annotations

from ims_core.proxy import ProxyConfig, ProxyCore, RequestContext, Target
from ims_core.sip import Request, Response
from ims_core.sip.addressing import Source

from .messages import NEXT_HOP, PROXY, UAC, dest, parse, request, response_to, source_for
from .test_core import Harness, downstream, forward_invite, upstream


class HookedCore(ProxyCore[None]):
    """A subclass whose every hook is recorded (and whose routing would send anything
    elsewhere): a stateless CANCEL must not reach any of them."""

    def __init__(self) -> None:
        super().__init__(ProxyConfig(host=PROXY[0], port=PROXY[1]))
        self.calls: list[str] = []

    def new_state(self, request: Request) -> None:
        self.calls.append(f"new_state {request.method}")

    def check_request(self, ctx: RequestContext[None]) -> Response | None:
        self.calls.append("check_request")
        return super().check_request(ctx)

    def route_request(self, ctx: RequestContext[None]) -> Target:
        self.calls.append("route_request")
        return Target(next_hop=dest(("192.0.2.99", 5099)))

    def on_forward(self, ctx: RequestContext[None], request: Request, target: Target) -> None:
        self.calls.append("on_forward")


def test_an_unmatched_cancel_follows_its_route_set_without_the_hooks() -> None:
    core = HookedCore()
    h = Harness(core)
    cancel = request("CANCEL", branch="z9hG4bKlost", max_forwards=5,
                     extra=f"Route: <sip:{PROXY[0]}:{PROXY[1]};lr>, <sip:192.0.2.30:5070;lr>\r\n")
    [(fwd, send)] = downstream(h.rx(cancel))
    assert core.calls == []
    assert send.dest == dest(("192.0.2.30", 5070)) and send.tx is None
    assert fwd.method == "CANCEL" and fwd.max_forwards == 4
    assert [str(r.uri) for r in fwd.routes()] == ["sip:192.0.2.30:5070;lr"]
    vias = fwd.vias()
    assert (vias[0].host, vias[0].port) == PROXY and vias[1].branch == "z9hG4bKlost"
    assert len(core.table) == 0 and core.get_timer() is None  # no state kept
    # A retransmission goes out the same way, under the same branch (§16.11).
    [(again, _)] = downstream(h.rx(request("CANCEL", branch="z9hG4bKlost", max_forwards=5, extra=(
        f"Route: <sip:{PROXY[0]}:{PROXY[1]};lr>, <sip:192.0.2.30:5070;lr>\r\n"))))
    assert again.top_via().branch == fwd.top_via().branch


def test_an_unmatched_cancel_without_route_goes_to_its_request_uri() -> None:
    h = Harness(HookedCore())
    cancel = request("CANCEL", uri="sip:bob@192.0.2.60:5062", branch="z9hG4bKlost2")
    [(fwd, send)] = downstream(h.rx(cancel))
    assert send.dest == dest(("192.0.2.60", 5062)) and fwd.uri_text == "sip:bob@192.0.2.60:5062"


def test_the_481_to_a_stateless_cancel_is_relayed_back_by_via() -> None:
    h = Harness(HookedCore())
    req = request("CANCEL", uri="sip:bob@192.0.2.60:5062", branch="z9hG4bKlost3",
                  via_host="10.9.9.9:5060;rport")
    [(_, send)] = downstream(h.rx(req, source_for(req, ("203.0.113.5", 40000))))
    assert len(h.core.table) == 0  # nothing to match the answer with: relayed by Via
    sends = h.rx(response_to(send.data, 481), Source("UDP", "192.0.2.60", 5062))
    [resp] = [parse(s.data) for s in sends]
    assert isinstance(resp, Response) and resp.status == 481
    assert [v.branch for v in resp.vias()] == ["z9hG4bKlost3"]  # our Via removed
    assert sends[0].dest == dest(("203.0.113.5", 40000))  # received/rport (RFC 3581)


def test_an_unmatched_cancel_to_ourselves_is_answered_481() -> None:
    core = HookedCore()
    h = Harness(core)
    cancel = request("CANCEL", uri=f"sip:x@{PROXY[0]}:{PROXY[1]}", branch="z9hG4bKself")
    sends = h.rx(cancel)
    assert downstream(sends) == [] and [r.status for r in upstream(sends)] == [481]
    assert upstream(sends)[0].to_tag and core.calls == []


def test_a_retransmitted_unmatched_cancel_gets_the_same_481() -> None:
    # §8.2.7: the To tag of a response sent without a transaction comes from the request,
    # so both copies of a retransmitted CANCEL get the same response; another CANCEL
    # (another branch) gets another tag.
    h = Harness(HookedCore())
    uri = f"sip:x@{PROXY[0]}:{PROXY[1]}"
    first, again = (upstream(h.rx(request("CANCEL", uri=uri, branch="z9hG4bKre")))
                    for _ in range(2))
    [other] = upstream(h.rx(request("CANCEL", uri=uri, branch="z9hG4bKother")))
    assert [r.status for r in (*first, *again)] == [481, 481]
    assert first[0].to_tag == again[0].to_tag != other.to_tag


def test_a_stateless_481_without_a_via_destination_goes_back_to_the_sender() -> None:
    # Source.responses_to, as every response of ours: the Via's §18.2.2 destination,
    # else the address the request came from.
    h = Harness(HookedCore())
    cancel = request("CANCEL", uri=f"sip:x@{PROXY[0]}:{PROXY[1]}", branch="z9hG4bKnovia")
    sends = h.rx(cancel, Source("UDP", *UAC))
    assert [r.status for r in upstream(sends)] == [481]
    assert [(s.dest.host, s.dest.port) for s in sends] == [UAC]


def test_an_unmatched_cancel_with_max_forwards_zero_is_answered_483() -> None:
    core = HookedCore()
    sends = Harness(core).rx(request("CANCEL", branch="z9hG4bKmf", max_forwards=0))
    assert downstream(sends) == [] and [r.status for r in upstream(sends)] == [483]
    assert len(core.table) == 0 and core.calls == []


def test_a_matched_cancel_still_runs_statefully() -> None:
    h = Harness()
    _, send = forward_invite(h)
    h.rx(response_to(send.data, 180))
    sends = h.rx(request("CANCEL"))
    assert [r.status for r in upstream(sends)] == [200]
    [(down, _)] = downstream(sends)
    assert down.top_via().branch == parse(send.data).top_via().branch  # §9.1


def test_a_late_non_2xx_on_one_of_our_ended_branches_stops_here() -> None:
    """The request it answers already had its final response upstream."""
    h = Harness()
    req = request(transport="TCP")
    [(_, send)] = downstream(h.rx(req, source_for(req, transport="TCP")))
    tcp = Source("TCP", *NEXT_HOP)
    assert [r.status for r in upstream(h.rx(response_to(send.data, 486), tcp))] == [486]
    h.tick(1.0)  # Timer D is 0 over TCP: the client transaction is gone
    assert h.core.table.match_response(response_to(send.data, 486)) is None
    assert h.rx(response_to(send.data, 486), tcp) == []
    assert h.rx(response_to(send.data, 487), tcp) == []


def test_a_late_2xx_to_one_of_our_invites_is_still_relayed() -> None:
    """RFC 6026: a 2xx retransmission after the transactions ended goes upstream."""
    h = Harness()
    _, send = forward_invite(h)
    h.rx(response_to(send.data, 200))
    h.tick(40.0)  # Timers L and M: both transactions end
    assert len(h.core.table) == 0
    sends = h.rx(response_to(send.data, 200))
    [resp] = upstream(sends)
    assert resp.status == 200 and sends[0].dest == dest(UAC)
