"""Draining for a graceful stop (`ims_core.cscf.drain`, `CscfCore.start_draining`): new
requests outside dialogs get 503 with Retry-After (RFC 3261 §21.5.4), what is under way
finishes, and the drain ends when nothing is left or the grace runs out."""

from __future__ import annotations

import asyncio

import pytest

from ims_core.cscf import DOMAIN, CscfConfig, CscfCore
from ims_core.cscf.drain import DEFAULT_STOP_GRACE, Drain, drain, stop_grace
from ims_core.proxy import ProxyConfig, Send
from ims_core.sip import Request, Response, parse_message
from ims_core.sip.addressing import Destination, Source
from ims_core.sip.inbound import request_source
from tests.sipmsg import answer, build_request

UE = ("10.0.0.1", 5060)
NEXT = Destination("UDP", "10.0.0.2", 5060)


def req(method: str = "REGISTER", call_id: str = "c1", to_tag: str = "") -> Request:
    via = f"SIP/2.0/UDP {UE[0]}:{UE[1]};rport;branch=z9hG4bK{call_id}"
    to = f"<sip:u@{DOMAIN}>" + (f";tag={to_tag}" if to_tag else "")
    return build_request(method, f"sip:u@{DOMAIN}", vias=[via], from_=f"<sip:u@{DOMAIN}>;tag=1",
                         to=to, call_id=call_id, headers=["Contact: <sip:u@10.0.0.1>"])


class Node:
    def __init__(self) -> None:
        self.core: CscfCore[None] = CscfCore(ProxyConfig(host="127.0.0.9", next_hop=NEXT))
        self.now = 100.0

    def rx(self, msg: Request | Response) -> list[Send]:
        source = (request_source(msg, "UDP", *UE) if isinstance(msg, Request)
                  else Source("UDP", NEXT.host, NEXT.port))
        self.core.receive(msg, source, self.now)
        return self.core.data_to_send()


def only(sends: list[Send]) -> tuple[Request | Response, Destination]:
    [send] = sends
    return parse_message(send.data), send.dest


def test_new_requests_get_503_with_retry_after_while_draining() -> None:
    n = Node()
    n.core.start_draining()
    for method in ("REGISTER", "INVITE", "MESSAGE", "OPTIONS"):
        msgs = [parse_message(s.data) for s in n.rx(req(method, call_id=f"{method}-1"))]
        finals = [m for m in msgs if isinstance(m, Response) and m.status >= 200]
        assert [(m.status, m.headers.get("retry-after")) for m in finals] == [(503, "30")]
        assert "shutting down" in (finals[0].headers.get("reason") or "")
    assert n.core.in_flight == 0


def test_transactions_under_way_and_in_dialog_requests_carry_on() -> None:
    n = Node()
    fwd, dest = only(n.rx(req("MESSAGE", call_id="before")))
    assert dest == NEXT and isinstance(fwd, Request)
    assert n.core.in_flight == 1
    n.core.start_draining()
    bye, dest = only(n.rx(req("BYE", call_id="dialog", to_tag="t1")))
    assert isinstance(bye, Request) and dest.host == DOMAIN  # forwarded by its Request-URI
    assert n.core.in_flight == 2
    ok, dest = only(n.rx(answer(fwd, 200)))
    assert isinstance(ok, Response) and ok.status == 200 and dest.host == UE[0]
    only(n.rx(answer(bye, 200)))
    assert n.core.in_flight == 0


def test_a_node_that_is_not_draining_forwards() -> None:
    n = Node()
    fwd, dest = only(n.rx(req("REGISTER")))
    assert isinstance(fwd, Request) and dest == NEXT


@pytest.mark.parametrize(("in_flight", "now", "outcome"), [
    (0, 10.0, "idle"),
    (3, 10.0, None),
    (3, 14.99, None),
    (3, 15.0, "grace expired"),
    (0, 99.0, "idle"),
])
def test_the_drain_ends_when_idle_or_at_the_grace(in_flight: int, now: float,
                                                  outcome: str | None) -> None:
    assert Drain(started=10.0, grace=5.0).outcome(in_flight, now) == outcome


def test_stop_grace_default_and_setting() -> None:
    assert stop_grace(CscfConfig()) == DEFAULT_STOP_GRACE == 5.0


async def test_drain_returns_at_once_when_idle_and_at_the_grace_otherwise() -> None:
    n = Node()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await drain(n.core, 5.0) == "idle"
    assert loop.time() - t0 < 0.5 and n.core.draining
    m = Node()
    m.rx(req("MESSAGE"))  # never answered
    t0 = loop.time()
    assert await drain(m.core, 0.2) == "grace expired"
    assert 0.15 <= loop.time() - t0 < 1.0
