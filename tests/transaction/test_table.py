"""The transaction table: matching (§17.1.3, §17.2.3, RFC 2543 fallback), CANCEL,
the shared timer heap and clean-up."""

from __future__ import annotations

import gc
import weakref

import pytest

from ims_core.sip import make_cancel
from ims_core.transaction import (
    InviteClientTransaction,
    InviteServerTransaction,
    ResponseReceived,
    State,
    TimedOut,
    TimerConfig,
    Transaction,
    TransactionError,
    TransactionTable,
    client_key,
    server_key,
)

from .util import drain_events, request, response


def test_client_matching_by_branch_and_method() -> None:
    table = TransactionTable()
    invite = request("INVITE", branch="z9hG4bK-1")
    tx = table.create_client(invite, reliable=False, now=0.0)
    cancel_tx = table.create_client(make_cancel(invite), reliable=False, now=0.0)
    assert len(table) == 2 and set(table) == {tx, cancel_tx}
    assert client_key(invite) == ("z9hG4bK-1", "INVITE")
    ok_cancel = response(cancel_tx.request, 200)
    assert table.receive(ok_cancel, 0.1) is cancel_tx
    assert table.match_response(response(invite, 487)) is tx
    assert table.receive(response(request("INVITE", branch="z9hG4bK-other"), 200), 0.1) is None
    with pytest.raises(TransactionError):
        table.create_client(invite, reliable=False, now=0.0)
    broken = response(invite, 200)
    broken.headers.remove("via")
    assert table.match_response(broken) is None


def test_server_matching_ack_retransmission_and_cancel() -> None:
    table = TransactionTable()
    invite = request("INVITE", branch="z9hG4bK-s1")
    assert table.match_request(invite) is None
    tx = table.create_server(invite, reliable=False, now=0.0, send_trying=True)
    assert isinstance(tx, InviteServerTransaction) and len(tx.data_to_send()) == 1
    assert table.receive(invite, 0.1) is tx  # retransmission
    assert len(tx.data_to_send()) == 1  # 100 again
    cancel = make_cancel(invite)
    assert table.match_request(cancel) is None  # CANCEL is its own transaction
    assert table.match_cancel(cancel) is tx
    cancel_tx = table.create_server(cancel, reliable=False, now=0.2)
    assert table.match_request(cancel) is cancel_tx
    tx.send_response(response(invite, 487), 0.3)
    ack = request("ACK", branch="z9hG4bK-s1", to_tag="b1")
    assert server_key(ack) == server_key(invite)
    assert table.receive(ack, 0.4) is tx and tx.state is State.CONFIRMED
    # Same branch from another sent-by is another transaction (§17.2.3).
    other = request("INVITE", branch="z9hG4bK-s1")
    other.headers.set("Via", "SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bK-s1")
    assert table.match_request(other) is None
    with pytest.raises(TransactionError):
        table.create_server(invite, reliable=False, now=0.5)
    assert table.match_cancel(request("CANCEL", branch=None, call_id="x")) is None
    broken = request("OPTIONS")
    broken.headers.remove("via")
    assert table.match_request(broken) is None and table.match_cancel(broken) is None


def test_rfc2543_fallback_matching() -> None:
    table = TransactionTable()
    invite = request("INVITE", branch=None, call_id="old@192.0.2.1", seq="7")
    tx = table.create_server(invite, reliable=False, now=0.0)
    assert server_key(invite)[0] == "rfc2543"
    old = "old@192.0.2.1"
    assert table.match_request(request("INVITE", branch=None, call_id=old, seq="7")) is tx
    tx.send_response(response(invite, 404), 0.1)
    ack = request("ACK", branch=None, call_id="old@192.0.2.1", seq="7", to_tag="b1")
    assert table.receive(ack, 0.2) is tx and tx.state is State.CONFIRMED
    cancel = make_cancel(invite)
    assert table.match_cancel(cancel) is tx
    assert table.match_request(request("INVITE", branch=None, call_id=old, seq="8")) is None
    assert table.match_request(request("INVITE", branch="z9hG4bKx", call_id=old)) is None


def test_shared_timer_heap_and_cleanup() -> None:
    table = TransactionTable(TimerConfig(t1=0.5, t4=5.0))
    register = table.create_client(request("REGISTER", branch="z9hG4bK-r"), reliable=False, now=0.0)
    options = table.create_client(request("OPTIONS", branch="z9hG4bK-o"), reliable=True, now=1.0)
    server = table.create_server(request("MESSAGE", branch="z9hG4bK-m"), reliable=False, now=0.0)
    assert table.get_timer() == 0.5
    assert table.handle_timer(0.5) == [register]
    assert len(register.data_to_send()) == 2  # original + retransmission
    # The TU answers directly on the transaction; the table learns of Timer J.
    sent = register.request
    server.send_response(response(server.request, 200), 0.6)
    register.receive(response(sent, 200), 0.7)  # Timer K = T4 -> 5.7
    assert table.get_timer() == 5.7  # E's stale entry (1.5) is skipped
    fired = table.handle_timer(5.7)
    assert fired == [register] and register.terminated
    assert table.match_response(response(sent, 200)) is None
    assert len(table) == 2
    assert table.get_timer() == pytest.approx(32.6)  # J for MESSAGE
    assert table.handle_timer(32.6) == [server] and server.terminated
    assert table.handle_timer(33.0) == [options]  # F for OPTIONS at 1 + 32
    assert isinstance(drain_events(options)[0], TimedOut)
    assert len(table) == 0 and table.get_timer() is None
    assert table.handle_timer(100.0) == []


def test_accepted_invite_client_then_stray_2xx() -> None:
    table = TransactionTable()
    invite = request("INVITE", branch="z9hG4bK-acc")
    tx = table.create_client(invite, reliable=True, now=0.0)
    ok = response(invite, 200)
    assert table.receive(ok, 1.0) is tx
    assert table.receive(ok, 2.0) is tx  # retransmitted 2xx still passed up in Accepted
    assert [type(e) for e in drain_events(tx)] == [ResponseReceived, ResponseReceived]
    table.handle_timer(33.0)  # Timer M
    assert tx.terminated and table.receive(ok, 34.0) is None  # the TU forwards it statelessly


def test_cancelled_invite_with_no_final_response_leaves_the_table() -> None:
    """§9.1: the INVITE client transaction goes 64*T1 after the TU's CANCEL, the
    unanswered CANCEL by Timer F: nothing is left behind."""
    table = TransactionTable()
    invite = request("INVITE", branch="z9hG4bK-c")
    tx = table.create_client(invite, reliable=True, now=0.0)
    table.receive(response(invite, 180), 1.0)
    cancel_tx = table.create_client(make_cancel(invite), reliable=True, now=5.0)
    assert isinstance(tx, InviteClientTransaction)
    tx.cancel_sent(5.0)
    assert table.get_timer() == 37.0  # the guard and Timer F, both 64*T1 after 5.0
    assert table.handle_timer(36.9) == []
    assert set(table.handle_timer(37.0)) == {tx, cancel_tx}
    assert TimedOut("cancel") in drain_events(tx)
    assert len(table) == 0 and table.get_timer() is None


def test_create_client_sends_the_bytes_it_is_given() -> None:
    table = TransactionTable()
    invite = request("INVITE", branch="z9hG4bK-d")
    data = invite.to_bytes()
    tx = table.create_client(invite, reliable=False, now=0.0, data=data)
    (sent,) = tx.data_to_send()
    assert sent is data
    table.handle_timer(0.5)  # Timer A: the retransmission is the same bytes
    (again,) = tx.data_to_send()
    assert again is data
    other = table.create_client(request("OPTIONS", branch="z9hG4bK-e"), reliable=True, now=0.0)
    assert other.data_to_send() == [other.request.to_bytes()]  # serialised when not given


def test_the_timer_heap_holds_live_transactions_only() -> None:
    """One deadline per live transaction: a transaction that ends, or whose timers
    change, leaves no entry to wait for its old deadline (nor keeps itself alive)."""
    table = TransactionTable()
    ringing = table.create_client(request("INVITE", branch="z9hG4bK-ring"), reliable=False,
                                  now=0.0)
    table.receive(response(ringing.request, 180), 0.1)  # Proceeding: no timer at all
    gone: list[weakref.ref[Transaction]] = []
    for i in range(1000):
        req = request("MESSAGE", branch=f"z9hG4bK-m{i}", call_id=f"m{i}")
        server = table.create_server(req, reliable=True, now=1.0)
        client = table.create_client(req, reliable=True, now=1.0)
        client.receive(response(req, 200), 1.1)  # Timer K = 0: ends at once
        server.send_response(response(req, 200), 1.1)  # Timer J = 0 over TCP
        assert client.terminated and server.terminated
        gone += [weakref.ref(client), weakref.ref(server)]
        assert table.timers.size <= 2 * len(table) + 65
    table.create_server(request("OPTIONS", branch="z9hG4bK-live"), reliable=False, now=2.0)
    assert len(table) == 2 and table.timers.size <= 2 * 2 + 65
    assert table.get_timer() == 34.0  # the live OPTIONS's guard; nothing stale
    del server, client, req
    gc.collect()
    assert all(ref() is None for ref in gone)


def test_lookup_request_gives_the_key_create_server_then_reuses() -> None:
    table = TransactionTable()
    register = request("REGISTER", branch="z9hG4bK-k1")
    key, found = table.lookup_request(register)
    assert found is None and key == server_key(register)
    tx = table.create_server(register, reliable=False, now=0.0, key=key)
    assert tx.key == key and table.lookup_request(register) == (key, tx)
    assert table.match_request(register) is tx
    broken = request("REGISTER", branch="z9hG4bK-k2")
    broken.headers.remove("via")
    assert table.lookup_request(broken) == (None, None)
