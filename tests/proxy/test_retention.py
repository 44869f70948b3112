"""What the proxy keeps after a request is answered: a non-INVITE context and its
branches go with the final response (the transactions resend it by themselves), an
INVITE's with its server transaction; nothing finished stays in a timer heap."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from ims_core.proxy import RequestContext
from ims_core.sip.addressing import Source
from tests.pcscf.messages import SCSCF
from tests.pcscf.messages import Harness as PcscfHarness
from tests.sipmsg import answer, requests

from .messages import request, response_to
from .test_core import Harness, downstream, forward_invite, upstream


def only_context(h: Harness) -> weakref.ref[RequestContext[Any]]:
    [ctx] = h.core._contexts.values()
    return weakref.ref(ctx)


def collected(ref: weakref.ref[RequestContext[Any]]) -> bool:
    gc.collect()
    return ref() is None


def test_a_non_invite_context_goes_with_its_final_response() -> None:
    h = Harness()
    [(_, send)] = downstream(h.rx(request("MESSAGE")))
    ref = only_context(h)
    [ok] = upstream(h.rx(response_to(send.data, 200)))
    assert ok.status == 200
    assert h.core._contexts == {} and h.core._branches == {} and collected(ref)
    assert len(h.core.table) == 2  # Timers J and K still run, holding no request
    assert all(tx.released for tx in h.core.table)
    [again] = upstream(h.rx(request("MESSAGE")))  # a retransmission: the same answer
    assert again.to_bytes() == ok.to_bytes()
    h.tick(40.0)
    assert len(h.core.table) == 0 and h.core.get_timer() is None


def test_a_timed_out_non_invite_context_goes_with_its_408() -> None:
    h = Harness()
    h.rx(request("MESSAGE"))
    ref = only_context(h)
    sends = []
    for _ in range(70):
        sends += h.tick(0.5)
    assert [r.status for r in upstream(sends)] == [408]  # Timer F
    assert h.core._contexts == {} and h.core._branches == {} and collected(ref)


def test_an_invite_context_lives_until_its_transaction_ends_and_no_longer() -> None:
    h = Harness()
    _, send = forward_invite(h)
    ref = only_context(h)
    h.rx(response_to(send.data, 486))
    assert len(h.core._proxy_timers) == 0  # answered: Timer C's bound is not needed
    assert h.core._branches == {}  # its client transaction only resends the ACK now
    h.rx(request("ACK", to_tag="b1"))  # finds the context-less server transaction
    h.tick(5.0)  # Timer I
    assert h.core._contexts == {} and collected(ref)


def test_a_2xx_answered_invite_leaves_the_proxy_timers_at_once() -> None:
    h = Harness()
    _, send = forward_invite(h)
    ref = only_context(h)
    h.rx(response_to(send.data, 200))
    assert len(h.core._proxy_timers) == 0  # its bound (Timer C's length) is not needed
    h.rx(request("ACK", uri="sip:bob@192.0.2.60", to_tag="b1", branch="z9hG4bKack"))
    h.tick(40.0)  # Timers L and M
    assert len(h.core.table) == 0 and h.core._branches == {} and collected(ref)


def test_a_cancelled_invite_lets_go_of_everything() -> None:
    h = Harness()
    _, send = forward_invite(h)
    ref = only_context(h)
    h.rx(response_to(send.data, 180))
    [(cancel, cancel_send)] = downstream(h.rx(request("CANCEL")))
    assert cancel.method == "CANCEL"
    h.rx(response_to(cancel_send.data, 200))
    [r487] = upstream(h.rx(response_to(send.data, 487)))
    assert r487.status == 487
    h.rx(request("ACK", to_tag="b1"))
    h.tick(40.0)
    assert len(h.core.table) == 0 and h.core._contexts == {} and h.core._branches == {}
    assert h.core.get_timer() is None and collected(ref)


def test_pcscf_registrations_leave_no_transaction_state_behind() -> None:
    h = PcscfHarness()
    core = h.core
    refs: list[weakref.ref[RequestContext[Any]]] = []
    made = core.new_context

    def new_context(*args: Any, **kwargs: Any) -> RequestContext[Any]:
        ctx = made(*args, **kwargs)
        refs.append(weakref.ref(ctx))
        return ctx

    core.new_context = new_context  # type: ignore[method-assign]
    for n in range(20):
        impu = f"sip:user{n}@ims.mnc001.mcc001.3gppnetwork.org"
        h.register(ue=(f"198.51.100.{n + 1}", 5060), to=impu, user=f"user{n}",
                   call_id=f"reg-{n}@ue", associated=(impu,))
        [subscribe] = requests(h.after_register)  # §5.2.3, answered by the S-CSCF
        extra = f"Contact: <sip:{SCSCF[0]}:{SCSCF[1]}>\r\nExpires: 600000\r\n"
        assert h.rx(answer(subscribe.data, 200, to_tag="sc1", extra=extra),
                    Source("UDP", *SCSCF)) == []
    assert core._contexts == {} and core._branches == {} and core._outgoing == {}
    assert len(refs) >= 40 and all(collected(r) for r in refs)
    assert all(tx.released for tx in core.table)
    assert len(core.table) == 20 * 5  # 2 REGISTERs each way, 1 SUBSCRIBE: J and K run
    h.advance(40.0)
    assert len(core.table) == 0 and core.table.timers.size == 0
    assert len(core.store) == 20
