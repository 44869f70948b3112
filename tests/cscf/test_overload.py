"""Overload control: the latency-driven token bucket on a fake clock, and the 503 with
Retry-After it makes a P-CSCF and an S-CSCF send while protected requests pass."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ims_core.config import ConfigError
from ims_core.cscf.overload import (
    DEEPEST,
    FLOOR,
    MAX_COOLDOWN,
    MAX_DECREASE,
    MIN_LOAD,
    SURGE_AFTER,
    Decision,
    LoadMonitor,
    OverloadConfig,
    decide,
)
from ims_core.pcscf import PcscfCore
from ims_core.proxy import Send
from ims_core.sip import Response
from tests.pcscf.messages import (
    DOMAIN,
    ICSCF,
    IMPU,
    UE,
    Harness,
    config,
    register,
    request,
    source_for,
)
from tests.scscf import helpers as scscf
from tests.sipmsg import answer, requests, responses

TARGET = 0.1  # seconds: the target_latency_ms of `monitor()`


class Loaded(LoadMonitor):
    """A monitor whose node always shows load: its bucket refuses from the start (the
    no-load rule has tests of its own)."""

    def _loaded(self, now: float) -> bool:
        return True


def monitor(loaded: bool = True, **settings: object) -> LoadMonitor:
    values: dict[str, object] = {"enabled": True, "initial_rate": 100.0, "min_rate": 10.0,
                                 "max_rate": 400.0, "rate_step": 20.0, "burst_seconds": 0.1,
                                 "target_latency_ms": 1000 * TARGET, "adjust_period": 0.5}
    values.update(settings)
    return (Loaded if loaded else LoadMonitor)(OverloadConfig(**values))  # type: ignore[arg-type]


def admit_all(mon: LoadMonitor, now: float, bound: int = 100_000) -> int:
    """How many unprotected requests `mon` admits at `now` before the first refusal."""
    n = 0
    while n < bound and mon.admit(now):
        n += 1
    return n


def feed(mon: LoadMonitor, latency: float, start: float, seconds: float,
         per_second: int = 100) -> float:
    """`per_second` requests offered over `seconds` from `start`, each admitted one
    answered after `latency`; returns the time after them."""
    now = start
    for _ in range(int(seconds * per_second)):
        now += 1 / per_second
        if mon.admit(now):
            mon.record(latency, now)
    return now


# -- the controller ------------------------------------------------------------------------
def test_token_bucket_admits_at_the_rate() -> None:
    mon = monitor()  # 100/s, a bucket of 10
    assert admit_all(mon, 0.0) == 10
    assert admit_all(mon, 0.05) == 5  # 50 ms at 100/s
    assert admit_all(mon, 10.0) == 10  # a long pause fills the bucket, no more
    assert mon.admitted == 25  # and each admit_all above ended on one refusal


def test_latency_over_target_shrinks_the_rate_in_proportion_bounded() -> None:
    mon = monitor()
    feed(mon, 1.25 * TARGET, 0.0, 0.6)
    assert mon.smoothed == pytest.approx(1.25 * TARGET)
    assert mon.rate == pytest.approx(100 * (1 / 1.25) ** 0.5)  # sqrt(target/latency)
    mon = monitor()
    feed(mon, 2 * TARGET, 0.0, 0.6)
    assert mon.rate == pytest.approx(100 * 0.5 ** 0.5)  # about a quarter off at twice it
    mon = monitor()
    feed(mon, 30 * TARGET, 0.0, 0.6)
    assert mon.rate == pytest.approx(100 * MAX_DECREASE)  # at most 30 % off per period


def test_no_decrease_without_load() -> None:
    """A few slow answers at light load (an HSS hiccup) do not cut the rate: under
    MIN_LOAD admitted per period, HOLD."""
    mon = monitor()
    feed(mon, 10 * TARGET, 0.0, 2.0, MIN_LOAD)  # MIN_LOAD/s: half that per period
    assert mon.rate == 100.0 and mon.signal > TARGET
    feed(mon, 10 * TARGET, 2.0, 0.6, 4 * MIN_LOAD)  # a real load: cut
    assert mon.rate < 100.0


def test_decrease_starts_from_the_admitted_rate_when_lower() -> None:
    mon = monitor(initial_rate=400.0)
    feed(mon, 4 * TARGET, 0.0, 0.6, 100)  # 100/s admitted, far below the rate
    assert 65.0 < mon.rate < 75.0  # 0.7 of the admitted rate, not of 400


def test_rate_stays_within_bounds() -> None:
    mon = monitor(min_rate=40.0, burst_seconds=0.05)
    now = feed(mon, 10.0, 0.0, 5.0)
    assert mon.rate == 40.0  # min_rate
    assert admit_all(mon, now + 1.0) == 2  # the bucket shrank with the rate
    for _ in range(100):  # latency fine and the bucket limiting: additive increase
        now += 0.5
        admit_all(mon, now)
        mon.record(0.001, now)
    assert mon.rate == 400.0  # max_rate


def test_recovers_additively_once_latency_drops_and_only_when_limited() -> None:
    mon = monitor()
    now = feed(mon, 4 * TARGET, 0.0, 0.6)
    assert mon.rate == pytest.approx(70.0)
    now = feed(mon, 0.001, now, 2.0, 20)  # the EWMA comes down; the bucket never limited
    assert mon.smoothed < TARGET
    assert mon.rate == pytest.approx(70.0)  # HOLD
    admit_all(mon, now)  # demand beyond the bucket
    rate = mon.rate
    mon.record(0.001, now + 0.6)
    assert mon.rate == pytest.approx(rate + 20.0)  # INCREASE by rate_step


def test_decision_table() -> None:
    assert decide(0.2, 0.1, False) is Decision.DECREASE
    assert decide(0.2, 0.1, True) is Decision.DECREASE
    assert decide(0.1, 0.1, True) is Decision.INCREASE
    assert decide(0.05, 0.1, True) is Decision.INCREASE
    assert decide(0.025, 0.1, True) is Decision.INCREASE
    assert decide(0.024, 0.1, True) is Decision.SURGE
    assert decide(0.05, 0.1, False) is Decision.HOLD
    assert decide(0.0, 0.1, False) is Decision.HOLD


def test_increase_is_gentle_near_target_and_fast_far_below() -> None:
    near, half, far = (monitor(initial_rate=3200.0, max_rate=8000.0) for _ in range(3))
    for mon, latency in ((near, 0.8 * TARGET), (half, 0.5 * TARGET), (far, 0.1 * TARGET)):
        admit_all(mon, 0.0)  # the bucket limits
        mon.record(latency, 0.0)
        admit_all(mon, 0.3)
        assert mon.record(latency, 0.6) in (Decision.INCREASE, Decision.SURGE)
    # INCREASE: rate/32 scaled by the headroom left under target, at least the step
    assert near.rate == pytest.approx(3220.0)  # 100 * 0.2 = 20, the step
    assert half.rate == pytest.approx(3250.0)  # 100 * 0.5
    assert far.rate == pytest.approx(3600.0)  # SURGE: rate/8 = 400


def test_load_onset_cuts_under_what_was_served_not_what_was_admitted() -> None:
    """Load starts at twice what the node serves: everything offered is admitted (the
    rate is far above it) while only half completes. The first cut goes under what
    completed; from the admitted rate it would still admit more than is served."""
    mon = monitor(initial_rate=400.0)
    decision = None
    for i in range(1, 200):  # 200/s offered, all admitted; 100/s answered, 0.3 s late
        now = i / 200
        assert mon.admit(now)
        if i % 2 == 0:
            decision = mon.record(3 * TARGET, now)
        if decision is not None:
            break
    assert decision is Decision.DECREASE
    # min(admitted 200/s, answered 100/s) * 0.7; the 30 % bound of the admitted rate
    # alone would have left 140/s
    assert mon.rate == pytest.approx(100 * MAX_DECREASE, rel=0.05)


def test_a_period_in_which_nothing_completes_counts_deepest_as_served() -> None:
    """A pause (nothing answered for a period) is no measure of what is served: the cut
    counts DEEPEST of the admitted rate as served."""
    mon = monitor()
    mon.record(0.5, 0.0)  # one slow answer; then 100/s admitted, none answered
    now = 0.0
    while now < 0.5:
        now += 0.01
        mon.admit(now)
    assert mon.queued(0.0, 0.5) is Decision.DECREASE
    assert mon.rate == pytest.approx(100 * DEEPEST * MAX_DECREASE, rel=0.05)


def test_a_decrease_waits_for_the_last_one_to_show() -> None:
    """After a cut the backlog behind the signal still drains: the next cut waits as
    long as the signal was (at most MAX_COOLDOWN), else the rate would collapse."""
    mon = monitor()
    slow = 15 * TARGET  # 1.5 s: the wait is capped at MAX_COOLDOWN
    mon.record(slow, 0.0)
    feed(mon, slow, 0.0, 0.49)  # 100/s admitted: the cut starts from the rate
    assert mon.record(slow, 0.5) is Decision.DECREASE
    assert mon.rate == pytest.approx(70.0, rel=0.05)
    feed(mon, slow, 0.5, 0.49)
    assert mon.record(slow, 1.0) is Decision.HOLD  # 0.5 s after the cut: not yet
    assert mon.rate == pytest.approx(70.0, rel=0.05)
    feed(mon, slow, 1.0, 0.49)
    assert mon.record(slow, 1.0 + MAX_COOLDOWN / 2) is Decision.DECREASE
    assert mon.rate < 70.0


def test_a_spike_after_good_service_cuts_no_lower_than_the_floor() -> None:
    """A period served well under load (signal under half the target) proves a rate; a
    spike in the period right after it cuts to no less than FLOOR of that rate, so the
    node is not left refusing a load it just served. A signal that rises over periods,
    or stays high, is load: no floor."""
    mon = monitor(initial_rate=400.0, max_rate=1000.0)
    now = feed(mon, 0.1 * TARGET, 0.0, 0.55, 300)  # 300/s served fast, the bucket unused
    now = feed(mon, 20 * TARGET, now, 0.5, 300)  # a spike (2 s latencies) closes a period
    assert mon.rate == pytest.approx(FLOOR * 300, rel=0.02)  # not 0.7 * 300
    assert mon.rate > MAX_DECREASE * 300 * 1.2
    rising = monitor(initial_rate=400.0, max_rate=1000.0)
    now = feed(rising, 0.1 * TARGET, 0.0, 0.55, 300)
    now = feed(rising, 0.6 * TARGET, now, 0.5, 300)  # under target, over half of it
    assert rising.rate == 400.0
    now = feed(rising, 20 * TARGET, now, 0.5, 300)
    assert rising.rate == pytest.approx(MAX_DECREASE * 300, rel=0.02)
    later = monitor(initial_rate=400.0, max_rate=1000.0)
    now = feed(later, 0.1 * TARGET, 0.0, 0.55, 300)
    now = feed(later, 3 * TARGET, now, SURGE_AFTER + 1.5, 300)  # overloaded for longer
    assert later.rate < MAX_DECREASE * 300  # cuts go on


def test_the_nodes_own_queue_counts_even_when_no_request_completes() -> None:
    def probed(delay: float) -> LoadMonitor:
        mon = monitor(initial_rate=400.0)
        for i in range(60):  # 20 ms probes; 4 requests admitted between two; none answered
            for _ in range(4):
                mon.admit(i * 0.02)
            mon.queued(delay, i * 0.02)
        return mon

    slow = probed(3 * TARGET)  # 300 ms of backlog
    assert slow.queue == pytest.approx(3 * TARGET, rel=0.01)
    assert slow.signal == slow.queue and slow.rate < 400.0  # DECREASE, from the queue alone
    assert probed(0.001).rate == 400.0  # a short queue: HOLD


def test_request_latency_and_queue_delay_add_up() -> None:
    mon = monitor(burst_seconds=1.0)
    mon.record(0.6 * TARGET, 0.0)
    mon.queued(0.6 * TARGET, 0.01)
    assert mon.signal == pytest.approx(0.6 * TARGET + 0.25 * 0.6 * TARGET)
    decisions = []
    for i in range(30):
        mon.admit(0.02 + i * 0.02)
        decisions.append(mon.queued(0.6 * TARGET, 0.02 + i * 0.02))
    assert Decision.DECREASE in decisions  # each alone is under target, not their sum
    assert mon.rate < 100.0


def test_protected_requests_pass_an_empty_bucket_and_leave_it_in_debt() -> None:
    mon = monitor()  # bucket of 10
    assert admit_all(mon, 0.0) == 10
    asked: list[bool] = []

    def protected() -> bool:
        asked.append(True)
        return True

    assert all(mon.admit(0.0, protected) for _ in range(30))
    assert len(asked) == 30 and mon.tokens == -10.0  # debt bounded by one bucket
    assert not mon.admit(0.05)  # 5 tokens refilled, still in debt: unprotected refused
    assert mon.admit(0.11)
    assert mon.admit(1.0, lambda: pytest.fail("asked with a token left"))


def test_disabled_admits_everything() -> None:
    mon = monitor(enabled=False)
    assert all(mon.admit(0.0) for _ in range(1000))
    assert mon.admitted == 1000


@pytest.mark.parametrize("settings", [
    {"min_rate": 0.0}, {"initial_rate": 500.0}, {"min_rate": 200.0},
    {"target_latency_ms": 0.0}, {"adjust_period": -1.0}, {"retry_after": -1},
    {"probe_interval_ms": -1.0},
])
def test_bad_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        monitor(**settings)


def test_no_refusal_while_the_node_shows_no_load() -> None:
    """A bucket learnt at a lighter load does not refuse a heavier one served in time:
    the requests pass (in debt) and the rate rises; it refuses once the signal reaches
    half the target, or a quarter within SURGE_AFTER of a cut."""
    mon = monitor(loaded=False)
    assert admit_all(mon, 0.0, 50) == 50  # a bucket of 10, nothing refused
    mon.record(0.1 * TARGET, 0.0)
    assert admit_all(mon, 0.6, 50) == 50
    mon.record(TARGET, 0.7)  # the EWMA: 0.1 + (1 - 0.1)/8 of TARGET, still under half
    assert mon.rate > 100.0  # the period closed limited, far under target: SURGE
    assert mon.admit(0.7)
    for t in range(8):
        mon.record(TARGET, 0.71 + t * 0.001)
    assert mon.signal >= TARGET / 2
    assert admit_all(mon, 0.72, 50) < 50  # now the bucket refuses
    cut = monitor(loaded=False)
    feed(cut, 10 * TARGET, 0.0, 0.6)  # a DECREASE at 0.5
    while cut.signal > 0.3 * TARGET:
        cut.record(0.28 * TARGET, 0.6)  # the signal falls to under a third of target...
    assert TARGET / 4 < cut.signal < TARGET / 2
    assert admit_all(cut, 1.0, 50) < 50  # ...and a cut was just made: still refused
    assert admit_all(cut, 0.5 + SURGE_AFTER + 0.1, 500) == 500  # not any more
    while cut.signal > 0.1 * TARGET:
        cut.record(0.0, 3.7)  # the load dropped: at once nothing is refused
    drop = monitor(loaded=False)
    feed(drop, 10 * TARGET, 0.0, 0.6)
    while drop.signal > 0.2 * TARGET:
        drop.record(0.0, 0.6)
    assert admit_all(drop, 0.7, 50) == 50


def test_defaults_admit_a_normal_load() -> None:
    mon = LoadMonitor(OverloadConfig(enabled=True))
    now = 0.0
    for _ in range(10 * 1400):  # 1400 requests/s for 10 s, answered in 5 ms
        now += 1 / 1400
        assert mon.admit(now)
        mon.record(0.005, now)
    assert mon.rate > 1400  # the rate followed the load up


# -- through a P-CSCF ----------------------------------------------------------------------
NEW_UE = ("198.51.100.9", 5070)


def empty_bucket(core: PcscfCore, now: float) -> None:
    core.overload = Loaded(OverloadConfig(
        enabled=True, initial_rate=10.0, min_rate=10.0, burst_seconds=0.1))  # a bucket of 1
    admit_all(core.overload, now)


def shed(sends: list[Send]) -> Response:
    [response] = responses(sends)
    assert response.status == 503
    retry = int(response.headers.get("retry-after") or "-1")
    assert 5 <= retry <= 10
    assert "overloaded" in (response.headers.get("reason") or "")
    return response


def test_pcscf_sheds_new_initial_requests_and_passes_protected_ones() -> None:
    h = Harness()
    assert h.register().status == 200
    empty_bucket(h.core, h.now)
    rejected = h.core.metrics.overload_rejected
    assert rejected.values == {}

    new = register(ue=NEW_UE, call_id="new@ue")
    shed(h.rx(new, source_for(new, NEW_UE)))
    invite = request("INVITE", call_id="inv@ue", branch="z9hG4bKinv")
    shed(h.rx(invite))

    refresh = register(call_id="reg-1@ue", cseq=3)  # the registered flow and identity
    [fwd] = requests(h.rx(refresh))
    assert (fwd.dest.host, fwd.dest.port) == ICSCF
    bye = request("BYE", call_id="dlg@ue", branch="z9hG4bKbye", to_tag="callee")
    assert all(r.status != 503 for r in responses(h.rx(bye)))
    assert rejected.values == {("REGISTER",): 1, ("INVITE",): 1}  # the two 503s, by method

    h.advance(1.0)  # the load dropped: the bucket refilled
    again = register(ue=NEW_UE, call_id="new@ue", cseq=2)
    [fwd2] = requests(h.rx(again, source_for(again, NEW_UE)))
    assert (fwd2.dest.host, fwd2.dest.port) == ICSCF


def test_a_shed_non_invite_leaves_no_transaction_and_its_resend_gets_the_same_503() -> None:
    """RFC 3261 §16.11: the refusal is stateless (nothing kept for Timer J), its To tag
    derived from the request (§8.2.7): the same for a retransmission, new for another."""
    h = Harness()
    empty_bucket(h.core, h.now)
    before = len(h.core.table)
    new = register(ue=NEW_UE, call_id="new@ue")
    first = shed(h.rx(new, source_for(new, NEW_UE)))
    assert len(h.core.table) == before and h.core._contexts == {}
    h.advance(0.5)  # the UE's Timer E: the same request again, before the bucket refills
    empty_bucket(h.core, h.now)
    again = shed(h.rx(new, source_for(new, NEW_UE)))
    assert again.headers.get("to") == first.headers.get("to") and ";tag=" in (
        first.headers.get("to") or "")
    other = register(ue=NEW_UE, call_id="other@ue")
    assert shed(h.rx(other, source_for(other, NEW_UE))).headers.get("to") != first.headers.get(
        "to")
    assert len(h.core.table) == before


def test_a_shed_invite_keeps_its_transaction_which_absorbs_the_ack() -> None:
    h = Harness()
    empty_bucket(h.core, h.now)
    invite = request("INVITE", call_id="inv@ue", branch="z9hG4bKinv")
    r503 = shed(h.rx(invite))
    assert len(h.core.table) == 1
    ack = request("ACK", call_id="inv@ue", branch="z9hG4bKinv",
                  to_tag=(r503.headers.get("to") or "").split("tag=")[1])
    assert h.rx(ack) == []  # §17.2.1: the transaction takes it; nothing goes on


def test_pcscf_passes_a_register_answering_a_challenge() -> None:
    h = Harness()
    empty_bucket(h.core, h.now)
    answering = register(ue=NEW_UE, call_id="new@ue", cseq=2, auth=False, extra=(
        f'Authorization: Digest username="x", realm="{DOMAIN}", nonce="bm9uY2U=", '
        f'uri="sip:{DOMAIN}", response="00112233445566778899aabbccddeeff"\r\n'))
    [fwd] = requests(h.rx(answering, source_for(answering, NEW_UE)))
    assert (fwd.dest.host, fwd.dest.port) == ICSCF


def test_pcscf_same_address_other_identity_is_not_a_refresh() -> None:
    h = Harness()
    assert h.register().status == 200
    empty_bucket(h.core, h.now)
    other = register(to=IMPU.replace("0001@", "0002@"), call_id="other@ue")
    shed(h.rx(other, source_for(other, UE)))


def test_pcscf_latency_samples_exclude_its_503s() -> None:
    h = Harness(PcscfCore(config(overload=OverloadConfig(enabled=True))))
    first = register(call_id="lat@ue")
    [fwd] = requests(h.rx(first))
    h.now += 0.04
    [r401] = responses(h.rx(answer(fwd.data, 401)))
    assert r401.status == 401
    assert h.core.overload.smoothed == pytest.approx(0.04)  # arrival → final response
    empty_bucket(h.core, h.now)
    new = register(ue=NEW_UE, call_id="new@ue")
    shed(h.rx(new, source_for(new, NEW_UE)))
    assert h.core.overload.smoothed == 0.0  # the fresh monitor saw no sample


def test_pcscf_overload_disabled_never_sheds() -> None:
    h = Harness(PcscfCore(config(overload=OverloadConfig(enabled=False))))
    h.core.overload.tokens = 0.0
    new = register(ue=NEW_UE, call_id="new@ue")
    assert requests(h.rx(new, source_for(new, NEW_UE)))


# -- through an S-CSCF ---------------------------------------------------------------------
@pytest.fixture
def sh(tmp_path: Path) -> Iterator[scscf.Harness]:
    harness = scscf.Harness(tmp_path)
    yield harness
    harness.close()


def test_scscf_sheds_initial_registrations_but_not_a_registered_impu(
        sh: scscf.Harness) -> None:
    ue = scscf.Ue()
    assert ue.register_fully(sh).status == 200
    sh.core.overload = Loaded(OverloadConfig(
        enabled=True, initial_rate=10.0, min_rate=10.0, burst_seconds=0.1))
    admit_all(sh.core.overload, sh.now)
    mars = len(sh.hss.requests)
    other = scscf.Ue(impi="001010000000002@" + scscf.DOMAIN,
                     impu="sip:001010000000002@" + scscf.DOMAIN)
    r503 = sh.send(other.register(authorization=other.empty_authorization()))
    assert r503.status == 503 and r503.headers.get("retry-after")
    assert len(sh.hss.requests) == mars  # shed before any Cx question
    r401 = sh.send(ue.register(authorization=ue.empty_authorization()))
    assert r401.status == 401  # the registered IMPU's re-registration goes on


def test_scscf_completes_a_registration_it_challenged(sh: scscf.Harness) -> None:
    ue = scscf.Ue()
    r401 = sh.send(ue.register(authorization=ue.empty_authorization()))
    assert r401.status == 401
    sh.core.overload = Loaded(OverloadConfig(
        enabled=True, initial_rate=10.0, min_rate=10.0, burst_seconds=0.1))
    admit_all(sh.core.overload, sh.now)
    ok = sh.send(ue.register(authorization=ue.answer(scscf.challenge_of(r401))))
    assert ok.status == 200  # the second half of a registration is not shed
