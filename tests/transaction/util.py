"""Builders and a fake-clock driver for transaction tests."""

from __future__ import annotations

from ims_core.sip import Headers, Request, Response, make_response
from ims_core.transaction import Event, Transaction


def request(method: str = "INVITE", branch: str | None = "z9hG4bK-abc", **extra: str) -> Request:
    via = "SIP/2.0/UDP 192.0.2.1:5060" + (f";branch={branch}" if branch else "")
    tag = extra.get("to_tag")
    headers = Headers.from_pairs(
        [
            ("Via", via),
            ("Max-Forwards", "70"),
            ("From", "<sip:alice@example.com>;tag=a1"),
            ("To", "<sip:bob@example.com>" + (f";tag={tag}" if tag else "")),
            ("Call-ID", extra.get("call_id", "call-1@192.0.2.1")),
            ("CSeq", f"{extra.get('seq', '1')} {method}"),
            ("Content-Length", "0"),
        ]
    )
    return Request(method, extra.get("uri", "sip:bob@example.com"), headers)


def response(req: Request, status: int, to_tag: str = "b1") -> Response:
    return make_response(req, status, to_tag=to_tag)


def drain_events(tx: Transaction) -> list[Event]:
    out = []
    while (ev := tx.next_event()) is not None:
        out.append(ev)
    return out


def run_until(tx: Transaction, end: float) -> list[tuple[float, int]]:
    """Fire timers up to `end`; returns (time, messages sent) at each firing."""
    fired = []
    while (deadline := tx.get_timer()) is not None and deadline <= end:
        tx.handle_timer(deadline)
        fired.append((deadline, len(tx.data_to_send())))
    return fired
