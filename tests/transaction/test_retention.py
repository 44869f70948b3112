"""What a transaction keeps once it has its final response (Timers D, I, J, K, L, M):
its key, flow and the bytes it may send again — never the request or a parsed message."""

from __future__ import annotations

import gc

import pytest

from ims_core.sip import Message
from ims_core.transaction import (
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    State,
    TransactionError,
    TransactionTable,
)

from .util import request, response


def reachable_messages(root: object, depth: int = 4) -> list[Message]:
    """SIP messages reachable from `root` through its attributes and containers (not
    through the table that owns it)."""
    found: list[Message] = []
    seen = {id(root)}
    layer = [root]
    for _ in range(depth):
        nxt = []
        for obj in layer:
            for ref in gc.get_referents(obj):
                if id(ref) in seen or isinstance(
                        ref, str | bytes | int | float | type | TransactionTable):
                    continue
                seen.add(id(ref))
                if isinstance(ref, Message):
                    found.append(ref)
                nxt.append(ref)
        layer = nxt
    return found


def test_the_helper_finds_a_kept_request() -> None:
    tx = NonInviteServerTransaction(request("MESSAGE"), reliable=False, now=0.0)
    assert reachable_messages(tx)  # Trying: the request is still there


def test_non_invite_server_keeps_only_the_final_response_bytes() -> None:
    req = request("REGISTER")
    tx = NonInviteServerTransaction(req, reliable=False, now=0.0)
    final = response(req, 200)
    tx.send_response(final, 0.1)
    tx.data_to_send()
    assert tx.state is State.COMPLETED and tx.released
    assert reachable_messages(tx) == []
    with pytest.raises(TransactionError):
        _ = tx.request
    tx.receive(req, 1.0)  # §17.2.2: a retransmission still gets the final response
    assert tx.data_to_send() == [final.to_bytes()]


@pytest.mark.parametrize("status", [200, 486])
def test_invite_server_lets_go_of_the_request_at_its_final_response(status: int) -> None:
    req = request("INVITE")
    tx = InviteServerTransaction(req, reliable=False, now=0.0, send_trying=True)
    assert not tx.released  # a 1xx is not final
    tx.send_response(response(req, status), 0.1)
    assert tx.released and reachable_messages(tx) == []


def test_non_invite_client_in_completed_keeps_nothing_to_send() -> None:
    req = request("REGISTER")
    tx = NonInviteClientTransaction(req, reliable=False, now=0.0)
    tx.data_to_send()
    tx.receive(response(req, 401), 0.2)
    while tx.next_event() is not None:
        pass
    assert tx.state is State.COMPLETED and tx.released
    assert reachable_messages(tx) == [] and tx._request_bytes is None
    tx.receive(response(req, 401), 0.3)  # absorbed
    assert tx.data_to_send() == [] and tx.next_event() is None


def test_invite_client_drops_its_wire_copy_once_it_stops_resending() -> None:
    req = request("INVITE")
    tx = InviteClientTransaction(req, reliable=False, now=0.0)
    tx.data_to_send()
    tx.receive(response(req, 180), 0.1)
    assert tx.state is State.PROCEEDING and tx._request_bytes is None
    tx.receive(response(req, 486), 0.2)
    assert len(tx.data_to_send()) == 1  # the ACK, built from the request it keeps


def test_a_table_of_completed_transactions_holds_no_message() -> None:
    table = TransactionTable()
    for n in range(50):
        req = request("REGISTER", branch=f"z9hG4bK-{n}")
        stx = table.create_server(req, reliable=False, now=0.0)
        stx.send_response(response(req, 200), 0.0)
        ctx = table.create_client(request("REGISTER", branch=f"z9hG4bK-c{n}"), reliable=False,
                                  now=0.0)
        ctx.receive(response(ctx.request, 200), 0.1)
        while ctx.next_event() is not None:  # the TU takes the response
            pass
    assert len(table) == 100
    assert all(reachable_messages(tx) == [] for tx in table)
    table.handle_timer(40.0)  # J = 64*T1, K = T4
    assert len(table) == 0 and table.timers.size == 0


def collected_referents(tx: object) -> list[str]:
    """What `tx` refers to that the cyclic collector tracks, by type name, leaving out
    what every transaction shares (its table, timer config, state, class) and its key."""
    shared = (type, TransactionTable, State)
    return sorted(type(r).__name__ for r in gc.get_referents(tx)
                  if gc.is_tracked(r) and not isinstance(r, shared)
                  and r is not getattr(tx, "key", None) and type(r).__name__ != "TimerConfig")


def test_drained_completed_transactions_hold_no_outbox_for_the_collector() -> None:
    # Thousands wait out Timer J / K at once; every list one held would be scanned by
    # each young collection (the nodes' longest pauses under load).
    table = TransactionTable()
    req = request("REGISTER", branch="z9hG4bK-gc1")
    stx = table.create_server(req, reliable=False, now=0.0)
    stx.send_response(response(req, 200), 0.0)
    ctx = table.create_client(request("REGISTER", branch="z9hG4bK-gc2"), reliable=False,
                              now=0.0)
    ctx.data_to_send()
    ctx.receive(response(ctx.request, 200), 0.1)
    assert stx.has_output
    stx.data_to_send()
    while ctx.next_event() is not None:
        pass
    assert not stx.has_output and ctx.next_event() is None
    assert collected_referents(stx) == [] and collected_referents(ctx) == []
    stx.receive(req, 1.0)  # a retransmission: the outbox is back, with the final response
    assert collected_referents(stx) == ["list"] and len(stx.data_to_send()) == 1
