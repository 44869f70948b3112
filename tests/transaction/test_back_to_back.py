"""A client table and a server table wired back to back over a lossy fake UDP network."""

from __future__ import annotations

from ims_core.sip import Request, make_response, parse_message
from ims_core.transaction import (
    ResponseReceived,
    TimedOut,
    Transaction,
    TransactionTable,
)

from .util import request


class Network:
    """Delivers each side's output to the other after 10 ms, dropping chosen sends."""

    def __init__(self, drop: set[int]) -> None:
        self.drop = drop
        self.sent = 0
        self.in_flight: list[tuple[float, str, bytes]] = []

    def collect(self, side: str, tx: Transaction, now: float) -> None:
        for data in tx.data_to_send():
            self.sent += 1
            if self.sent not in self.drop:
                self.in_flight.append((now + 0.01, side, data))


def run_invite(drop: set[int], final: int) -> tuple[Transaction, Transaction, Network]:
    uac, uas = TransactionTable(), TransactionTable()
    net = Network(drop)
    ctx = uac.create_client(request("INVITE", branch="z9hG4bK-b2b"), reliable=False, now=0.0)
    net.collect("uac", ctx, 0.0)
    stx: Transaction | None = None
    now = 0.0
    while now < 40.0:
        deadlines = [d for d in (uac.get_timer(), uas.get_timer()) if d is not None]
        deadlines += [t for t, _, _ in net.in_flight]
        if not deadlines:
            break
        now = min(deadlines)
        for tx in uac.handle_timer(now):
            net.collect("uac", tx, now)
        for tx in uas.handle_timer(now):
            net.collect("uas", tx, now)
        due = [m for m in net.in_flight if m[0] <= now]
        net.in_flight = [m for m in net.in_flight if m[0] > now]
        for _, side, data in due:
            msg = parse_message(data)
            if side == "uac":
                assert isinstance(msg, Request)
                matched = uas.receive(msg, now)
                if matched is None and msg.method == "INVITE":
                    stx = uas.create_server(msg, reliable=False, now=now, send_trying=True)
                    stx.send_response(make_response(msg, final, to_tag="srv"), now)
                    matched = stx
                if matched is not None:
                    net.collect("uas", matched, now)
            else:
                matched = uac.receive(msg, now)
                if matched is not None:
                    net.collect("uac", matched, now)
    assert stx is not None
    return ctx, stx, net


def test_clean_exchange_486() -> None:
    ctx, stx, net = run_invite(set(), 486)
    assert ctx.terminated and stx.terminated
    assert net.sent == 4  # INVITE, 100, 486, ACK
    statuses = []
    while (ev := ctx.next_event()) is not None:
        if isinstance(ev, ResponseReceived):
            statuses.append(ev.response.status)
    assert statuses == [100, 486]


def test_lost_invite_and_lost_ack_are_recovered() -> None:
    # Drop the first INVITE (Timer A retransmits) and the first ACK (Timer G resends the
    # 486, the client's Completed state re-ACKs).
    ctx, stx, net = run_invite({1, 5}, 486)
    assert ctx.terminated and stx.terminated
    events = []
    while (ev := stx.next_event()) is not None:
        events.append(ev)
    assert not any(isinstance(e, TimedOut) for e in events)  # ended via ACK + Timer I
    assert net.sent == 7  # INVITE x2, 100, 486, ACK (lost), 486 (Timer G), ACK


def test_2xx_exchange_reaches_accepted_then_terminates() -> None:
    ctx, stx, net = run_invite(set(), 200)
    assert ctx.terminated and stx.terminated  # Timers M and L after 64*T1
    assert net.sent == 3  # INVITE, 100, 200 (the 2xx ACK is end to end, not ours)
