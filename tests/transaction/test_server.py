"""Server transactions (RFC 3261 §17.2, Figures 7 and 8; RFC 6026) on a fake clock."""

from __future__ import annotations

import pytest

from ims_core.sip import Response, parse_message
from ims_core.transaction import (
    AckReceived,
    InviteServerTransaction,
    NonInviteServerTransaction,
    State,
    TimedOut,
    TransactionError,
    TransactionTerminated,
    TransportFailed,
    create_server_transaction,
)

from .util import drain_events, request, response, run_until


def ist(reliable: bool = False, send_trying: bool = False) -> InviteServerTransaction:
    tx = create_server_transaction(
        request("INVITE"), reliable=reliable, now=0.0, send_trying=send_trying
    )
    assert isinstance(tx, InviteServerTransaction)
    return tx


def nist(reliable: bool = False) -> NonInviteServerTransaction:
    tx = create_server_transaction(request("REGISTER"), reliable=reliable, now=0.0)
    assert isinstance(tx, NonInviteServerTransaction)
    return tx


# -- INVITE server, Figure 7 ---------------------------------------------------------
def test_trying_and_provisional_retransmission() -> None:
    tx = ist(send_trying=True)
    (trying,) = tx.data_to_send()
    parsed = parse_message(trying)
    assert isinstance(parsed, Response) and parsed.status == 100 and parsed.to_tag is None
    assert tx.state is State.PROCEEDING
    tx.receive(tx.request, 0.3)  # retransmitted INVITE: resend the last provisional
    assert tx.data_to_send() == [trying]
    ringing = response(tx.request, 180)
    tx.send_response(ringing, 0.4)
    assert tx.data_to_send() == [ringing.to_bytes()]
    tx.receive(tx.request, 0.5)
    assert tx.data_to_send() == [ringing.to_bytes()]
    assert tx.get_timer() is None


def test_retransmission_before_any_response_is_absorbed() -> None:
    tx = ist()
    tx.receive(tx.request, 0.1)
    assert tx.data_to_send() == [] and tx.next_event() is None


def test_timer_g_doubles_to_t2_and_h_times_out() -> None:
    tx = ist()
    final = response(tx.request, 486)
    tx.send_response(final, 0.0)
    assert tx.state is State.COMPLETED and tx.data_to_send() == [final.to_bytes()]
    fired = run_until(tx, 100.0)
    assert [t for t, _ in fired] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5, 32.0]
    assert all(n == 1 for _, n in fired[:-1]) and fired[-1][1] == 0
    assert drain_events(tx) == [TimedOut("H"), TransactionTerminated()]


def test_completed_confirmed_terminated() -> None:
    tx = ist()
    req = tx.request
    final = response(req, 404)
    tx.send_response(final, 0.0)
    tx.data_to_send()
    tx.receive(req, 0.2)  # INVITE retransmission -> final again
    assert tx.data_to_send() == [final.to_bytes()]
    tx.receive(request("ACK", to_tag="b1"), 0.6)
    assert tx.state is State.CONFIRMED
    assert tx.get_timer() == 5.6  # Timer I = T4; G and H cancelled
    tx.receive(request("ACK", to_tag="b1"), 1.0)  # absorbed
    tx.receive(req, 1.0)  # absorbed
    assert tx.data_to_send() == [] and tx.next_event() is None
    tx.handle_timer(5.6)
    assert tx.state is State.TERMINATED
    with pytest.raises(TransactionError):
        tx.send_response(response(req, 500), 6.0)


def test_reliable_no_timer_g_and_timer_i_zero() -> None:
    tx = ist(reliable=True)
    tx.send_response(response(tx.request, 603), 0.0)
    assert tx.get_timer() == 32.0  # H only
    tx.receive(request("ACK", to_tag="b1"), 0.1)
    assert tx.state is State.TERMINATED


def test_2xx_accepted_state() -> None:
    tx = ist()
    req = tx.request
    ok = response(req, 200)
    tx.send_response(ok, 0.0)
    assert tx.state is State.ACCEPTED and tx.data_to_send() == [ok.to_bytes()]
    tx.receive(req, 0.5)  # INVITE retransmission absorbed (RFC 6026 §7.1)
    assert tx.data_to_send() == []
    tx.send_response(ok, 0.6)  # 2xx retransmission from the TU/downstream is sent
    assert tx.data_to_send() == [ok.to_bytes()]
    ack = request("ACK", to_tag="b1")
    tx.receive(ack, 0.7)
    assert drain_events(tx) == [AckReceived(ack)]
    with pytest.raises(TransactionError):
        tx.send_response(response(req, 486), 0.8)
    assert tx.get_timer() == 32.0  # Timer L
    tx.handle_timer(32.0)
    assert tx.state is State.TERMINATED


@pytest.mark.parametrize("completed", [False, True])
def test_invite_server_transport_error(completed: bool) -> None:
    tx = ist()
    if completed:
        tx.send_response(response(tx.request, 480), 0.0)
    tx.transport_error(0.1)
    assert drain_events(tx) == [TransportFailed(), TransactionTerminated()]


# -- non-INVITE server, Figure 8 -----------------------------------------------------
def test_non_invite_trying_proceeding_completed() -> None:
    tx = nist()
    req = tx.request
    assert tx.state is State.TRYING
    tx.receive(req, 0.1)  # absorbed in Trying
    assert tx.data_to_send() == []
    trying = response(req, 100)
    tx.send_response(trying, 0.2)
    assert tx.state is State.PROCEEDING
    tx.receive(req, 0.3)
    assert tx.data_to_send() == [trying.to_bytes(), trying.to_bytes()]
    tx.send_response(response(req, 183), 0.35)
    tx.data_to_send()
    final = response(req, 200)
    tx.send_response(final, 0.4)
    assert tx.state is State.COMPLETED and tx.last_status == 200
    tx.receive(req, 1.0)
    assert tx.data_to_send() == [final.to_bytes(), final.to_bytes()]
    with pytest.raises(TransactionError):
        tx.send_response(response(req, 500), 1.1)
    assert tx.get_timer() == pytest.approx(32.4)  # Timer J = 64*T1
    tx.handle_timer(32.4)
    assert tx.state is State.TERMINATED


def test_non_invite_final_from_trying_reliable_j_zero() -> None:
    tx = nist(reliable=True)
    tx.send_response(response(tx.request, 401), 0.0)
    assert tx.state is State.TERMINATED
    assert drain_events(tx) == [TransactionTerminated()]


@pytest.mark.parametrize("state", ["proceeding", "completed"])
def test_non_invite_server_transport_error(state: str) -> None:
    tx = nist()
    tx.send_response(response(tx.request, 100 if state == "proceeding" else 200), 0.0)
    tx.transport_error(0.1)
    assert drain_events(tx) == [TransportFailed(), TransactionTerminated()]


def test_ack_creates_no_server_transaction() -> None:
    with pytest.raises(ValueError):
        create_server_transaction(request("ACK"), reliable=False, now=0.0)


def test_non_invite_guard_asks_the_tu_then_the_transaction_ends() -> None:
    """A request the TU never answers: TimedOut("guard") at 64*T1, Terminated 64*T1
    later (no transaction lives forever without a final response)."""
    tx = nist()
    assert tx.get_timer() == 32.0
    tx.receive(tx.request, 10.0)  # retransmissions change nothing
    tx.handle_timer(31.9)
    assert drain_events(tx) == []
    tx.handle_timer(32.0)
    assert drain_events(tx) == [TimedOut("guard")] and tx.state is State.TRYING
    assert tx.get_timer() == 64.0
    tx.handle_timer(64.0)
    assert drain_events(tx) == [TransactionTerminated()]


def test_non_invite_guard_lets_the_tu_answer_when_it_fires() -> None:
    tx = nist()
    tx.send_response(response(tx.request, 100), 1.0)
    tx.handle_timer(32.0)
    assert drain_events(tx) == [TimedOut("guard")] and tx.state is State.PROCEEDING
    final = response(tx.request, 500)
    tx.send_response(final, 32.0)
    assert tx.state is State.COMPLETED and tx.data_to_send()[-1] == final.to_bytes()
    assert tx.get_timer() == 64.0  # Timer J only: the guards are gone
    tx.handle_timer(64.0)
    assert tx.terminated


def test_non_invite_answered_in_time_never_sees_the_guard() -> None:
    tx = nist(reliable=True)
    tx.send_response(response(tx.request, 200), 5.0)
    assert drain_events(tx) == [TransactionTerminated()] and tx.get_timer() is None
