"""Every request gets a final response and finished work leaves memory: the non-INVITE
guard, the INVITE context bound, Timer C over 3 minutes, and O(live) state behind a
call that rings for minutes (RFC 3261 §16.6 step 11, §16.8, §17.2.2)."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from ims_core.proxy import ProxyConfig, ProxyCore, RequestContext, Send, Target
from ims_core.sip import Request, Response
from ims_core.sip.addressing import Source

from .messages import NEXT_HOP, PROXY, dest, request, response_to, source_for
from .test_core import Harness, downstream, forward_invite, upstream


class Silent(ProxyCore[None]):
    """Decides later (route_request returns None) and then never does."""

    def route_request(self, ctx: RequestContext[None]) -> None:
        return None


def silent() -> Harness:
    return Harness(Silent(ProxyConfig(host=PROXY[0], port=PROXY[1], timer_c=185.0)))


def test_timer_c_defaults_to_more_than_three_minutes() -> None:
    assert ProxyConfig().timer_c > 180  # §16.6 step 11
    h = Harness()
    _, send = forward_invite(h)
    h.rx(response_to(send.data, 180))
    assert h.core.get_timer() == h.now + ProxyConfig().timer_c


def test_a_non_invite_nobody_answers_gets_500_after_64_t1_and_leaves() -> None:
    h = silent()
    assert h.rx(request("MESSAGE")) == []
    assert h.core.get_timer() == h.now + 32.0  # the server transaction's guard
    assert upstream(h.tick(31.9)) == []
    [resp] = upstream(h.tick(0.1))
    assert resp.status == 500  # not 408: RFC 4320 §4.2
    h.tick(32.0)  # Timer J
    assert len(h.core.table) == 0 and h.core._contexts == {}
    assert h.core.get_timer() is None


def test_a_forwarded_non_invite_is_answered_by_its_branch_not_the_guard() -> None:
    """At 64*T1 the guard and the branch's Timer F fire together: the branch's 408
    (§16.7 step 10) is the answer, and nothing is left."""
    h = Harness()
    h.rx(request("OPTIONS"))
    sends: list[Send] = []
    for _ in range(70):
        sends += h.tick(0.5)
    assert [r.status for r in upstream(sends)] == [408]
    h.tick(40.0)
    assert len(h.core.table) == 0 and h.core._contexts == {} and h.core._branches == {}


def test_a_late_forward_keeps_its_branch_answer() -> None:
    """Forwarded 10 s late (after some outside question): the guard at 32 s sees a
    branch awaiting its response and leaves the answer to it (a 200 at 35 s)."""
    h = silent()
    h.rx(request("MESSAGE"))
    h.tick(10.0)
    [ctx] = h.core._contexts.values()
    h.core.forward(ctx, Target(next_hop=dest(NEXT_HOP)), h.now)
    [(_, send)] = downstream(h.core.data_to_send())
    assert upstream(h.tick(22.0)) == []  # the guard fired: no answer of its own
    [resp] = upstream(h.rx(response_to(send.data, 200)))
    assert resp.status == 200


def test_an_invite_nobody_answers_gets_500_after_timer_c() -> None:
    h = silent()
    assert [r.status for r in upstream(h.rx(request()))] == [100]
    assert h.core.get_timer() == h.now + 185.0
    [resp] = upstream(h.tick(185.0))
    assert resp.status == 500
    h.rx(request("ACK", to_tag=resp.to_tag))
    h.tick(5.0)
    assert len(h.core.table) == 0 and h.core._contexts == {} and h.core.get_timer() is None


def test_an_invite_taken_over_and_dropped_gets_500() -> None:
    """A subclass took over the failed branch (on_branch_final) and never acted."""

    class TakeOver(ProxyCore[None]):
        def on_branch_final(self, ctx: RequestContext[None], branch: Any,
                            response: Response, now: float) -> bool:
            return True

    h = Harness(TakeOver(ProxyConfig(host=PROXY[0], port=PROXY[1],
                                     next_hop=dest(NEXT_HOP), timer_c=185.0)))
    _, send = forward_invite(h)
    assert upstream(h.rx(response_to(send.data, 486))) == []
    [resp] = upstream(h.tick(185.0))
    assert resp.status == 500


def test_a_call_ringing_past_timer_c_with_fresh_provisionals_is_not_cut() -> None:
    """§16.7 step 2: each provisional restarts Timer C; the context bound waits for the
    branch rather than answering 500 while it is alive."""
    h = Harness()
    _, send = forward_invite(h)
    for _ in range(4):
        h.rx(response_to(send.data, 180))
        assert upstream(h.tick(120.0)) == []
    [resp] = upstream(h.rx(response_to(send.data, 200)))
    assert resp.status == 200


class Recording(ProxyCore[None]):
    """Keeps a weak reference to every context it makes."""

    def __init__(self, config: ProxyConfig) -> None:
        super().__init__(config)
        self.made: list[weakref.ref[RequestContext[None]]] = []

    def new_context(self, request: Request, source: Source, server_tx: Any, now: float,
                    loop: str = "") -> RequestContext[None]:
        ctx = super().new_context(request, source, server_tx, now, loop)
        self.made.append(weakref.ref(ctx))
        return ctx


def heap_sizes(core: ProxyCore[Any]) -> tuple[int, int]:
    return core.table.timers.size, core._proxy_timers.size


def one_call(h: Harness, i: int) -> None:
    """INVITE/180/200/ACK and BYE/200 through the proxy, then a MESSAGE/200."""
    call = f"call-{i}@uac"
    [(_, invite)] = downstream(h.rx(request(branch=f"z9hG4bKinv{i}", call_id=call)))
    h.rx(response_to(invite.data, 180))
    assert [r.status for r in upstream(h.rx(response_to(invite.data, 200)))] == [200]
    uas = "sip:bob@192.0.2.60:5062"
    downstream(h.rx(request("ACK", uri=uas, to_tag="b1", branch=f"z9hG4bKack{i}", call_id=call)))
    [(_, bye)] = downstream(h.rx(request("BYE", uri=uas, to_tag="b1", cseq=2,
                                         branch=f"z9hG4bKbye{i}", call_id=call)))
    h.rx(response_to(bye.data, 200))
    [(_, msg)] = downstream(h.rx(request("MESSAGE", branch=f"z9hG4bKmsg{i}",
                                         call_id=f"msg-{i}@uac")))
    h.rx(response_to(msg.data, 200))


def test_finished_calls_leave_no_state_behind_a_ringing_one() -> None:
    core = Recording(ProxyConfig(host=PROXY[0], port=PROXY[1], next_hop=dest(NEXT_HOP)))
    h = Harness(core)
    ringing_req = request(branch="z9hG4bKring", call_id="ringing@uac")
    [(_, ringing)] = downstream(h.rx(ringing_req, source_for(ringing_req)))
    h.rx(response_to(ringing.data, 180))  # Timer C armed: 185 s
    ringing_ctx = core.made[0]
    for i in range(1000):
        one_call(h, i)
        h.tick(0.1)
        tx_heap, our_heap = heap_sizes(core)
        assert tx_heap <= 2 * len(core.table) + 65  # O(live), whatever ended meanwhile
        assert our_heap <= 2 * (len(core._branches) + len(core._contexts)) + 65
    h.tick(40.0)  # Timers J, K, L, M: every finished transaction ends
    assert h.now < 100.0 + 185.0  # the ringing call's Timer C has not fired
    assert len(core.table) == 2  # its INVITE server and client transactions
    assert len(core._contexts) == 1 and len(core._branches) == 1
    tx_heap, our_heap = heap_sizes(core)
    assert tx_heap <= 2 * 2 + 65 and our_heap <= 2 * 2 + 65
    assert len(core._proxy_timers) == 2  # the ringing branch's Timer C, its context's bound
    gc.collect()
    alive = [ref() for ref in core.made if ref() is not None]
    assert alive == [ringing_ctx()]  # no finished call's context is reachable
    [resp] = upstream(h.rx(response_to(ringing.data, 200)))
    assert resp.status == 200


class Faulty(ProxyCore[None]):
    """A routing decision that fails with an error of ours, not the request's."""

    def route_request(self, ctx: RequestContext[None]) -> None:
        raise RuntimeError("a bug in routing")


def test_a_fault_in_routing_is_answered_500_at_once_not_left_to_the_guards() -> None:
    h = Harness(Faulty(ProxyConfig(host=PROXY[0], port=PROXY[1])))
    [resp] = upstream(h.rx(request("MESSAGE")))
    assert resp.status == 500 and resp.reason == "Server Internal Error"
    [trying, final] = upstream(h.rx(request("INVITE", branch="z9hG4bK-faulty-invite")))
    assert (trying.status, final.status) == (100, 500)
    assert all(ctx.final_sent for ctx in h.core._contexts.values())
