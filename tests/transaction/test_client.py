"""Client transactions (RFC 3261 §17.1, Figures 5 and 6; RFC 6026) on a fake clock."""

from __future__ import annotations

import pytest

from ims_core.sip import Request, parse_message
from ims_core.transaction import (
    InviteClientTransaction,
    NonInviteClientTransaction,
    ResponseReceived,
    State,
    TimedOut,
    TimerConfig,
    TransactionError,
    TransactionTerminated,
    TransportFailed,
    create_client_transaction,
)

from .util import drain_events, request, response, run_until


def invite_tx(reliable: bool = False, config: TimerConfig | None = None) -> InviteClientTransaction:
    tx = create_client_transaction(request("INVITE"), reliable=reliable, now=0.0, config=config)
    assert isinstance(tx, InviteClientTransaction)
    return tx


def nict(method: str = "REGISTER", reliable: bool = False) -> NonInviteClientTransaction:
    tx = create_client_transaction(request(method), reliable=reliable, now=0.0)
    assert isinstance(tx, NonInviteClientTransaction)
    return tx


# -- INVITE client, Figure 5 ---------------------------------------------------------
def test_timer_a_doubles_until_timer_b() -> None:
    tx = invite_tx()
    assert tx.state is State.CALLING
    (first,) = tx.data_to_send()
    assert first == tx.request.to_bytes()
    fired = run_until(tx, 100.0)
    # A at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 (T1 doubling, no T2 cap); B at 64*T1 = 32.
    assert fired == [(0.5, 1), (1.5, 1), (3.5, 1), (7.5, 1), (15.5, 1), (31.5, 1), (32.0, 0)]
    assert tx.state is State.TERMINATED and tx.get_timer() is None
    assert drain_events(tx) == [TimedOut("B"), TransactionTerminated()]


def test_timers_follow_config() -> None:
    tx = invite_tx(config=TimerConfig(t1=0.1))
    tx.data_to_send()
    fired = run_until(tx, 100.0)
    assert [t for t, _ in fired] == pytest.approx([0.1, 0.3, 0.7, 1.5, 3.1, 6.3, 6.4])


def test_reliable_invite_has_no_timer_a() -> None:
    tx = invite_tx(reliable=True)
    tx.data_to_send()
    assert tx.get_timer() == 32.0
    assert run_until(tx, 100.0) == [(32.0, 0)]
    assert isinstance(tx.next_event(), TimedOut)


def test_calling_proceeding_completed_terminated() -> None:
    tx = invite_tx()
    tx.data_to_send()
    tx.receive(response(tx.request, 100), 0.2)
    assert tx.state is State.PROCEEDING and tx.get_timer() is None
    tx.receive(response(tx.request, 180), 1.0)
    assert tx.state is State.PROCEEDING
    busy = response(tx.request, 486)
    tx.receive(busy, 2.0)
    assert tx.state is State.COMPLETED
    events = drain_events(tx)
    assert [e.response.status for e in events if isinstance(e, ResponseReceived)] == [100, 180, 486]
    (ack_bytes,) = tx.data_to_send()
    ack = parse_message(ack_bytes)
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.top_via().branch == "z9hG4bK-abc" and ack.to_tag == "b1"
    assert ack.cseq.seq == 1 and ack.cseq.method == "ACK"
    # Retransmitted final: ACK again, nothing for the TU (§17.1.1.2).
    tx.receive(busy, 3.0)
    assert tx.data_to_send() == [ack_bytes] and tx.next_event() is None
    tx.receive(response(tx.request, 200), 4.0)  # no entry: absorbed
    assert tx.next_event() is None
    # Timer D: 32 s on unreliable transports.
    assert tx.get_timer() == 34.0
    tx.handle_timer(33.9)
    assert tx.state is State.COMPLETED
    tx.handle_timer(34.0)
    assert tx.state is State.TERMINATED
    assert drain_events(tx) == [TransactionTerminated()]


def test_calling_straight_to_completed_reliable_timer_d_zero() -> None:
    tx = invite_tx(reliable=True)
    tx.data_to_send()
    tx.receive(response(tx.request, 404), 1.0)
    assert len(tx.data_to_send()) == 1  # the ACK
    assert tx.state is State.TERMINATED  # Timer D = 0 for reliable transports
    assert [type(e) for e in drain_events(tx)] == [ResponseReceived, TransactionTerminated]


def test_2xx_goes_to_accepted_and_retransmissions_pass_up() -> None:
    tx = invite_tx()
    tx.data_to_send()
    ok = response(tx.request, 200)
    tx.receive(ok, 1.0)
    assert tx.state is State.ACCEPTED
    assert tx.data_to_send() == []  # the TU ACKs a 2xx, not the transaction
    tx.receive(ok, 2.0)
    tx.receive(response(tx.request, 180), 2.5)  # absorbed
    tx.receive(response(tx.request, 500), 2.6)  # absorbed
    assert [e.response.status for e in drain_events(tx) if isinstance(e, ResponseReceived)] == [
        200, 200,
    ]
    assert tx.get_timer() == 33.0  # Timer M = 64*T1
    tx.handle_timer(33.0)
    assert tx.state is State.TERMINATED


def test_2xx_from_proceeding() -> None:
    tx = invite_tx()
    tx.receive(response(tx.request, 183), 0.1)
    tx.receive(response(tx.request, 200), 0.2)
    assert tx.state is State.ACCEPTED


@pytest.mark.parametrize("state_setup", ["calling", "proceeding", "cancelled", "completed"])
def test_invite_transport_error(state_setup: str) -> None:
    """§17.1.4: reported in every state before the TU has a final response (and for
    the ACK in Completed)."""
    tx = invite_tx()
    if state_setup in ("proceeding", "cancelled"):
        tx.receive(response(tx.request, 180), 0.1)
    if state_setup == "cancelled":
        tx.cancel_sent(0.15)
    if state_setup == "completed":
        tx.receive(response(tx.request, 503), 0.1)
    drain_events(tx)
    tx.transport_error(0.2)
    assert tx.state is State.TERMINATED and tx.get_timer() is None
    assert drain_events(tx) == [TransportFailed(), TransactionTerminated()]


def test_invite_transport_error_in_accepted_is_absorbed() -> None:
    tx = invite_tx()
    tx.receive(response(tx.request, 200), 0.1)
    drain_events(tx)
    tx.transport_error(0.2)  # a late report: the TU has its 2xx; Timer M ends it
    assert tx.state is State.ACCEPTED and drain_events(tx) == []


# -- INVITE client after the TU's CANCEL (§9.1) -----------------------------------------
def proceeding_tx(reliable: bool = False) -> InviteClientTransaction:
    tx = invite_tx(reliable=reliable)
    tx.data_to_send()
    tx.receive(response(tx.request, 180), 1.0)
    assert tx.state is State.PROCEEDING and tx.get_timer() is None
    return tx


@pytest.mark.parametrize("reliable", [False, True])
def test_unanswered_cancel_times_out_after_64_t1(reliable: bool) -> None:
    tx = proceeding_tx(reliable)
    tx.cancel_sent(2.0)
    assert tx.state is State.PROCEEDING and tx.get_timer() == 34.0
    assert run_until(tx, 100.0) == [(34.0, 0)]
    assert tx.state is State.TERMINATED
    events = drain_events(tx)
    assert [type(e) for e in events] == [ResponseReceived, TimedOut, TransactionTerminated]
    assert events[1] == TimedOut("cancel")


def test_cancel_guard_follows_config_and_counts_from_the_first_cancel() -> None:
    tx = invite_tx(config=TimerConfig(t1=0.1))
    tx.receive(response(tx.request, 183), 0.5)
    tx.cancel_sent(1.0)
    tx.receive(response(tx.request, 180), 3.0)  # provisional: still waiting
    tx.cancel_sent(4.0)  # a second CANCEL does not move the deadline
    assert tx.get_timer() == pytest.approx(7.4)
    tx.handle_timer(7.4)
    assert tx.terminated


def test_487_after_cancel_stops_the_guard() -> None:
    tx = proceeding_tx()
    tx.cancel_sent(2.0)
    tx.receive(response(tx.request, 487), 3.0)
    assert tx.state is State.COMPLETED
    assert tx.get_timer() == 35.0  # Timer D only (32 s from the 487)
    assert len(tx.data_to_send()) == 1  # the ACK
    run_until(tx, 100.0)
    assert [type(e) for e in drain_events(tx)] == [
        ResponseReceived, ResponseReceived, TransactionTerminated,
    ]


def test_2xx_after_cancel_stops_the_guard() -> None:
    tx = proceeding_tx()
    tx.cancel_sent(2.0)
    tx.receive(response(tx.request, 200), 3.0)
    assert tx.state is State.ACCEPTED and tx.get_timer() == 35.0  # Timer M only
    run_until(tx, 100.0)
    assert TimedOut("cancel") not in drain_events(tx)


@pytest.mark.parametrize(("status", "reliable", "state"), [
    (None, False, State.CALLING),
    (486, False, State.COMPLETED),
    (200, False, State.ACCEPTED),
    (486, True, State.TERMINATED),  # Timer D = 0
])
def test_cancel_is_only_for_a_proceeding_invite(
    status: int | None, reliable: bool, state: State
) -> None:
    """§9.1: no CANCEL before a provisional response, nor after a final one."""
    tx = invite_tx(reliable=reliable)
    if status is not None:
        tx.receive(response(tx.request, status), 1.0)
    assert tx.state is state
    with pytest.raises(TransactionError):
        tx.cancel_sent(2.0)
    assert tx.state is state


# -- non-INVITE client, Figure 6 -----------------------------------------------------
def test_timer_e_doubles_to_t2_and_f_times_out() -> None:
    tx = nict()
    assert tx.state is State.TRYING and len(tx.data_to_send()) == 1
    fired = run_until(tx, 100.0)
    times = [t for t, _ in fired]
    # E: 0.5, +1, +2, +4, then every T2=4 s; F at 32.
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5, 32.0]
    assert all(n == 1 for _, n in fired[:-1]) and fired[-1][1] == 0
    assert drain_events(tx) == [TimedOut("F"), TransactionTerminated()]


def test_proceeding_resets_e_to_t2() -> None:
    tx = nict()
    tx.data_to_send()
    tx.handle_timer(0.5)  # E -> next at 1.5
    tx.receive(response(tx.request, 100), 0.6)
    assert tx.state is State.PROCEEDING
    tx.receive(response(tx.request, 100), 0.7)
    assert tx.get_timer() == 1.5
    fired = run_until(tx, 10.0)
    assert [t for t, _ in fired] == [1.5, 5.5, 9.5]  # then every T2
    tx.receive(response(tx.request, 200), 10.0)
    assert tx.state is State.COMPLETED
    assert [e.response.status for e in drain_events(tx) if isinstance(e, ResponseReceived)] == [
        100, 100, 200,
    ]


def test_timer_f_in_proceeding() -> None:
    tx = nict()
    tx.receive(response(tx.request, 100), 0.1)
    drain_events(tx)
    run_until(tx, 32.0)
    assert tx.state is State.TERMINATED
    assert drain_events(tx) == [TimedOut("F"), TransactionTerminated()]


def test_completed_absorbs_and_timer_k() -> None:
    tx = nict()
    req = tx.request
    tx.data_to_send()
    tx.receive(response(req, 401), 1.0)
    assert tx.state is State.COMPLETED and tx.get_timer() == 6.0  # K = T4
    tx.receive(response(req, 401), 2.0)
    tx.receive(response(req, 100), 2.0)
    assert [type(e) for e in drain_events(tx)] == [ResponseReceived]
    assert tx.data_to_send() == []
    tx.handle_timer(6.0)
    assert tx.state is State.TERMINATED


def test_reliable_non_invite() -> None:
    tx = nict(reliable=True)
    tx.data_to_send()
    assert tx.get_timer() == 32.0  # no E, only F
    tx.receive(response(tx.request, 100), 1.0)
    tx.receive(response(tx.request, 200), 2.0)
    assert tx.state is State.TERMINATED  # K = 0


@pytest.mark.parametrize("provisional", [False, True])
def test_non_invite_transport_error(provisional: bool) -> None:
    tx = nict()
    if provisional:
        tx.receive(response(tx.request, 100), 0.1)
    drain_events(tx)
    tx.transport_error(0.2)
    assert drain_events(tx) == [TransportFailed(), TransactionTerminated()]


def test_ack_has_no_client_transaction() -> None:
    with pytest.raises(ValueError):
        create_client_transaction(request("ACK"), reliable=False, now=0.0)
    assert "Trying" in repr(nict())
