"""What transactions count in their table's metrics: first sends, retransmissions both
ways (RFC 3261 §17 timers, absorbed messages) and the table's kinds at scrape time."""

from __future__ import annotations

from ims_core.metrics import SipMetrics
from ims_core.transaction import Transaction, TransactionTable

from .util import request, response


def fire(table: TransactionTable, until: float) -> None:
    """Fire every timer due up to `until` (their sends are not drained)."""
    while (deadline := table.get_timer()) is not None and deadline <= until:
        table.handle_timer(deadline)


def sent(tx: Transaction) -> int:
    return len(tx.data_to_send())


def counts(metrics: SipMetrics) -> dict[str, dict[tuple[str, ...], float]]:
    return {name: getattr(metrics, name).values for name in (
        "requests_sent", "responses_sent", "retransmissions")}


def test_a_non_invite_client_counts_its_request_timer_e_and_a_repeated_final() -> None:
    table = TransactionTable()
    m = table.metrics
    tx = table.create_client(request("REGISTER"), reliable=False, now=0.0)
    assert sent(tx) == 1
    fire(table, 2.0)  # Timer E at 0.5 and 1.5 (T1, then 2*T1)
    assert sent(tx) == 2
    ok = response(tx.request, 200)
    tx.receive(ok, 2.1)
    tx.receive(ok, 2.2)  # absorbed in Completed
    assert counts(m) == {"requests_sent": {("REGISTER",): 1}, "responses_sent": {},
                         "retransmissions": {("sent",): 2, ("received",): 1}}


def test_an_invite_client_counts_timer_a_and_its_acks() -> None:
    table = TransactionTable()
    m = table.metrics
    tx = table.create_client(request("INVITE"), reliable=False, now=0.0)
    fire(table, 0.6)  # Timer A once
    busy = response(tx.request, 486)
    tx.receive(busy, 0.7)  # ACKed: a request of ours
    tx.receive(busy, 0.8)  # repeated: the same ACK again
    assert sent(tx) == 4
    assert counts(m) == {"requests_sent": {("INVITE",): 1, ("ACK",): 1}, "responses_sent": {},
                         "retransmissions": {("sent",): 2, ("received",): 1}}


def test_a_reliable_client_has_no_retransmissions() -> None:
    table = TransactionTable()
    table.create_client(request("OPTIONS"), reliable=True, now=0.0)
    fire(table, 40.0)  # Timer F only
    assert table.metrics.retransmissions.values == {}


def test_a_non_invite_server_counts_its_response_and_answers_retransmissions() -> None:
    table = TransactionTable()
    m = table.metrics
    req = request("REGISTER")
    tx = table.create_server(req, reliable=False, now=0.0)
    assert table.receive(req, 0.1) is tx  # absorbed in Trying: nothing to send
    tx.send_response(response(req, 200), 0.2)
    assert table.receive(req, 0.3) is tx  # answered with the 200 again
    assert sent(tx) == 2
    assert counts(m) == {"requests_sent": {}, "responses_sent": {("REGISTER", "2xx"): 1},
                         "retransmissions": {("sent",): 1, ("received",): 2}}


def test_an_invite_server_counts_timer_g_and_a_repeated_ack() -> None:
    table = TransactionTable()
    m = table.metrics
    invite = request("INVITE")
    tx = table.create_server(invite, reliable=False, now=0.0)
    tx.send_response(response(invite, 100), 0.0)
    tx.send_response(response(invite, 486), 0.1)
    fire(table, 0.7)  # Timer G once (at 0.6)
    ack = request("ACK")
    assert table.receive(ack, 0.8) is tx  # the ACK: Confirmed
    assert table.receive(ack, 0.9) is tx  # again: absorbed
    assert sent(tx) == 3
    assert counts(m) == {"requests_sent": {},
                         "responses_sent": {("INVITE", "1xx"): 1, ("INVITE", "4xx"): 1},
                         "retransmissions": {("sent",): 1, ("received",): 1}}


def test_a_2xx_passed_on_again_is_a_retransmission_a_forked_one_is_not() -> None:
    table = TransactionTable()
    m = table.metrics
    invite = request("INVITE")
    tx = table.create_server(invite, reliable=False, now=0.0)
    ok = response(invite, 200, to_tag="b1")
    tx.send_response(ok, 0.1)
    tx.send_response(ok, 0.6)  # the UAS's retransmission, forwarded (RFC 6026 §7.1)
    tx.send_response(response(invite, 200, to_tag="b2"), 0.7)  # another fork's dialog
    assert sent(tx) == 3
    assert counts(m) == {"requests_sent": {}, "responses_sent": {("INVITE", "2xx"): 2},
                         "retransmissions": {("sent",): 1}}


def test_transactions_active_is_read_from_the_table_by_kind() -> None:
    table = TransactionTable()
    metrics = SipMetrics.create()
    table.metrics = metrics
    metrics.transactions_active.read = table.active
    table.create_server(request("INVITE", branch="z9hG4bK-1"), reliable=False, now=0.0)
    table.create_server(request("BYE", branch="z9hG4bK-2"), reliable=False, now=0.0)
    table.create_server(request("MESSAGE", branch="z9hG4bK-3"), reliable=False, now=0.0)
    client = table.create_client(request("OPTIONS", branch="z9hG4bK-4"), reliable=True,
                                 now=0.0)
    assert dict(metrics.transactions_active.samples()) == {
        ("invite_server",): 1, ("non_invite_server",): 2, ("invite_client",): 0,
        ("non_invite_client",): 1}
    client.receive(response(client.request, 200), 0.1)  # Timer K is 0 over TCP
    fire(table, 0.1)
    assert metrics.transactions_active.value("non_invite_client") == 0
    assert metrics.requests_sent.values == {("OPTIONS",): 1}  # counted in the new set
