"""What the S-CSCF counts: a registration's messages and gauges, and the calls in
progress (``calls_active``: 2xx to an initial INVITE it Record-Routed, BYE, the bound on
a dialog's life)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ims_core.scscf.calls import MAX_AGE, CallTracker
from ims_core.sip import Request
from ims_core.sip.addressing import Source
from tests.sipmsg import answer, build_request

from .helpers import ICSCF, IMPU, Harness, Ue
from .test_calls import CALLEE_IMPU, PCSCF, RR_ORIG, reply, request, rx, split, subscribers


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, subscribers())  # no iFCs: nothing goes to an AS
    yield harness
    harness.close()


def gauge(h: Harness, name: str) -> float:
    return float(getattr(h.core.metrics, name).value())


def calls(h: Harness) -> float:
    return gauge(h, "calls_active")


def in_dialog(method: str, *, from_callee: bool = False, to_tag: str = "b1",
              call_id: str = "c1@ue") -> Request:
    """A request within the dialog of `request("INVITE", CALLEE_IMPU)` answered with
    To tag `to_tag`, from the caller through our Record-Route (or from the callee)."""
    ours, theirs = (f"<{IMPU}>;tag=a1", f"<{CALLEE_IMPU}>;tag={to_tag}")
    if from_callee:
        ours, theirs = theirs, ours
    via = ICSCF if from_callee else PCSCF
    return build_request(
        method, "sip:ue@192.0.2.60:5060", vias=[f"SIP/2.0/UDP {via[0]}:{via[1]};branch="
                                                  f"z9hG4bK{method}{to_tag}{from_callee}"],
        max_forwards=68, from_=ours, to=theirs, call_id=call_id, cseq=7,
        headers=[f"Route: {RR_ORIG}"])


def invite(h: Harness, call_id: str = "c1@ue") -> Request:
    [(fwd, dest)], _ = split(rx(h, request("INVITE", CALLEE_IMPU, call_id=call_id)))
    assert dest == ICSCF and fwd.headers.values("record-route") == [RR_ORIG]
    return fwd


def test_a_registration_is_counted_and_read_from_the_store(h: Harness) -> None:
    Ue().register_fully(h)
    m = h.core.metrics
    assert m.requests_received.values == {("REGISTER",): 2}
    assert m.responses_sent.values == {("REGISTER", "4xx"): 1, ("REGISTER", "2xx"): 1}
    assert m.transaction_seconds.count("REGISTER") == 2
    assert (gauge(h, "registrations_active"), gauge(h, "contacts_active")) == (1, 1)
    Ue(contact="sip:ue1b@192.0.2.51:5060", call_id="reg-2@ue").register_fully(h)
    assert (gauge(h, "registrations_active"), gauge(h, "contacts_active")) == (1, 2)
    assert gauge(h, "reg_subscriptions_active") == 0


def test_a_call_counts_from_its_2xx_to_its_bye(h: Harness) -> None:
    Ue().register_fully(h)
    fwd = invite(h)
    reply(h, fwd, 180, ICSCF)
    assert calls(h) == 0  # ringing is no call yet
    _, [ok] = split(reply(h, fwd, 200, ICSCF))
    assert ok.status == 200 and calls(h) == 1
    reply(h, fwd, 200, ICSCF)  # the 2xx again: the same call
    rx(h, in_dialog("ACK"))
    reinvite = in_dialog("INVITE")
    [(fwd2, _)], _ = split(rx(h, reinvite))
    reply(h, fwd2, 200, ICSCF)  # a re-INVITE is no new call
    assert calls(h) == 1
    [(bye, _)], _ = split(rx(h, in_dialog("BYE", from_callee=True)))  # either side ends it
    assert bye.method == "BYE" and calls(h) == 0
    rx(h, in_dialog("BYE", to_tag="b1"))  # the other leg's copy, or a retransmission
    assert calls(h) == 0


def test_each_2xx_of_a_forked_invite_is_a_call(h: Harness) -> None:
    Ue().register_fully(h)
    fwd = invite(h)
    h.core.receive(answer(fwd, 200, to_tag="b1"), Source("UDP", *ICSCF), h.now)
    h.core.receive(answer(fwd, 200, to_tag="b2"), Source("UDP", *ICSCF), h.now)
    assert calls(h) == 2
    rx(h, in_dialog("BYE", to_tag="b2"))
    assert calls(h) == 1


def test_a_call_without_a_bye_is_forgotten_after_max_age(h: Harness) -> None:
    Ue().register_fully(h)
    reply(h, invite(h), 200, ICSCF)
    h.now += MAX_AGE - 1
    h.core.handle_timer(h.now)
    assert calls(h) == 1
    h.now += 2
    h.core.handle_timer(h.now)
    assert calls(h) == 0


def test_an_unanswered_or_failed_invite_is_no_call(h: Harness) -> None:
    Ue().register_fully(h)
    reply(h, invite(h), 486, ICSCF)
    assert calls(h) == 0


def test_the_tracker_keeps_at_most_max_calls_dropping_the_oldest() -> None:
    tracker = CallTracker(max_age=100.0, max_calls=2)
    oks = []
    for n in range(3):
        req = build_request("INVITE", "sip:b@x", vias=["SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1"],
                            from_="<sip:a@x>;tag=a", to="<sip:b@x>", call_id=f"c{n}")
        oks.append(answer(req, 200, to_tag="b"))
        tracker.answered(oks[-1], float(n))
    assert len(tracker) == 2
    tracker.ended(oks[0])  # already dropped: nothing happens
    assert len(tracker) == 2
    tracker.expire(101.5)  # the one answered at 1 is past max_age, the one at 2 is not
    assert len(tracker) == 1
