"""What the proxy core counts in its `metrics` (exact values for whole exchanges), the
exchange line per server transaction, and how a node hands its metrics to the server."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from ims_core import log
from ims_core.config import LogConfig
from ims_core.metrics import Registry, SipMetrics
from ims_core.proxy import ProxyConfig, ProxyCore
from ims_core.proxy.server import ProxyServer
from ims_core.sip import Request
from ims_core.sip.addressing import Source
from ims_core.transport import TransportConfig

from .messages import NEXT_HOP, PROXY, request, response_to
from .test_core import Harness, downstream, forward_invite, upstream

Values = dict[tuple[str, ...], float]


def counters(metrics: SipMetrics) -> dict[str, Values]:
    """The counters that have counted something."""
    names = ("requests_received", "responses_received", "requests_sent", "responses_sent",
             "retransmissions", "parse_errors", "overload_rejected")
    return {n: dict(getattr(metrics, n).values) for n in names if getattr(metrics, n).values}


def histogram(metrics: SipMetrics, method: str) -> tuple[int, float]:
    h = metrics.transaction_seconds.values.get((method,))
    return (0, 0.0) if h is None else (h.count, h.sum)


def active(metrics: SipMetrics) -> dict[str, float]:
    return {labels[0]: v for labels, v in metrics.transactions_active.samples() if v}


def register(branch: str = "z9hG4bKreg1") -> Request:
    return request("REGISTER", "sip:example.com", branch=branch, call_id="reg-1@uac")


def test_a_register_through_the_proxy() -> None:
    h = Harness()
    m = h.core.metrics
    [(fwd, send)] = downstream(h.rx(register()))
    h.now += 0.25
    [ok] = upstream(h.rx(response_to(send.data, 200)))
    assert ok.status == 200 and fwd.method == "REGISTER"
    assert counters(m) == {
        "requests_received": {("REGISTER",): 1},
        "requests_sent": {("REGISTER",): 1},
        "responses_received": {("REGISTER", "2xx"): 1},
        "responses_sent": {("REGISTER", "2xx"): 1},
    }
    assert histogram(m, "REGISTER") == pytest.approx((1, 0.25))
    # Both transactions wait in Completed for retransmissions (Timers J and K), then go.
    assert active(m) == {"non_invite_server": 1, "non_invite_client": 1}
    h.tick(40.0)
    assert active(m) == {}


def test_an_invite_a_retransmitted_2xx_and_the_ack() -> None:
    h = Harness()
    m = h.core.metrics
    _, send = forward_invite(h)  # and our 100 Trying
    assert active(m) == {"invite_server": 1, "invite_client": 1}
    h.rx(response_to(send.data, 100))  # hop by hop: stops here
    h.rx(response_to(send.data, 180))
    h.now += 1.5
    [first] = upstream(h.rx(response_to(send.data, 200)))
    [again] = upstream(h.rx(response_to(send.data, 200)))  # the UAS's retransmission
    assert first.to_bytes() == again.to_bytes()
    ack = request("ACK", uri="sip:bob@192.0.2.60:5062", to_tag="b1")
    [(fwd_ack, _)] = downstream(h.rx(ack))
    assert fwd_ack.method == "ACK"
    assert counters(m) == {
        "requests_received": {("INVITE",): 1, ("ACK",): 1},
        "requests_sent": {("INVITE",): 1, ("ACK",): 1},
        "responses_received": {("INVITE", "1xx"): 2, ("INVITE", "2xx"): 2},
        "responses_sent": {("INVITE", "1xx"): 2, ("INVITE", "2xx"): 1},
        "retransmissions": {("sent",): 1},
    }
    assert histogram(m, "INVITE") == pytest.approx((1, 1.5))  # once, at the first 2xx


def test_retransmissions_both_ways() -> None:
    h = Harness()
    m = h.core.metrics
    req = register()
    [(_, send)] = downstream(h.rx(req))
    assert h.rx(req) == []  # absorbed: no answer yet
    [(again, _)] = downstream(h.tick(0.5))  # Timer E
    assert again.method == "REGISTER"
    h.rx(response_to(send.data, 200))
    assert h.rx(response_to(send.data, 200)) == []  # absorbed by the client transaction
    [repeat] = upstream(h.rx(req))  # the 200 again, from the server transaction
    assert repeat.status == 200
    assert counters(m)["retransmissions"] == {("received",): 3, ("sent",): 2}
    assert counters(m)["requests_received"] == {("REGISTER",): 3}  # every one reaching us
    assert counters(m)["requests_sent"] == {("REGISTER",): 1}  # never a retransmission
    assert counters(m)["responses_sent"] == {("REGISTER", "2xx"): 1}


def test_a_non_2xx_to_an_invite_is_acked_hop_by_hop() -> None:
    h = Harness()
    m = h.core.metrics
    _, send = forward_invite(h)
    [up] = upstream(h.rx(response_to(send.data, 486)))
    assert up.status == 486
    [(ack, _)] = downstream(h.rx(response_to(send.data, 486)))  # repeated: our ACK again
    assert ack.method == "ACK"
    c = counters(m)
    assert c["requests_sent"] == {("INVITE",): 1, ("ACK",): 1}
    assert c["responses_sent"] == {("INVITE", "1xx"): 1, ("INVITE", "4xx"): 1}
    assert c["retransmissions"] == {("received",): 1, ("sent",): 1}


def test_what_goes_without_a_transaction_is_counted_too() -> None:
    h = Harness()
    m = h.core.metrics
    cancel = request("CANCEL", uri="sip:bob@192.0.2.60:5062", branch="z9hG4bKlost")
    [(_, send)] = downstream(h.rx(cancel))  # relayed statelessly (§16.11)
    [resp] = upstream(h.rx(response_to(send.data, 481), Source("UDP", "192.0.2.60", 5062)))
    assert resp.status == 481
    mine = request("CANCEL", uri=f"sip:x@{PROXY[0]}:{PROXY[1]}", branch="z9hG4bKself")
    [own] = upstream(h.rx(mine))  # to ourselves: answered statelessly
    assert own.status == 481
    assert counters(m) == {
        "requests_received": {("CANCEL",): 2},
        "requests_sent": {("CANCEL",): 1},
        "responses_received": {("CANCEL", "4xx"): 1},
        "responses_sent": {("CANCEL", "4xx"): 2},
    }
    assert histogram(m, "CANCEL") == (0, 0.0)  # no server transaction


def test_the_metrics_can_be_replaced_before_the_server_is_built() -> None:
    core: ProxyCore[None] = ProxyCore(ProxyConfig(host=PROXY[0], port=PROXY[1]))
    registry = Registry()
    core.metrics = SipMetrics.create(registry)
    server = ProxyServer(core, TransportConfig(host="127.0.0.1", port=0))
    assert server.transport.metrics is core.metrics is core.table.metrics
    assert registry.get("ims_sip_transactions_active") is core.metrics.transactions_active
    Harness(core).rx(register())
    assert core.metrics.requests_received.value("REGISTER") == 1
    assert core.metrics.transactions_active.value("non_invite_server") == 1
    assert core.metrics.tcp_connections.samples() == [((), 0)]


# -- the exchange line ---------------------------------------------------------------------
@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    log.setup(LogConfig(format="json"), node="proxy", stream=out)
    yield out
    log.setup(LogConfig(), stream=io.StringIO())


def test_one_exchange_line_per_server_transaction(json_log: io.StringIO) -> None:
    h = Harness()
    [(_, send)] = downstream(h.rx(register()))
    h.now += 0.01234
    h.rx(response_to(send.data, 200))
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    [line] = [x for x in lines if x["event"] == "sip_transaction"]
    assert {k: line[k] for k in ("call_id", "method", "status", "peer", "latency_ms",
                                 "branch", "level")} == {
        "call_id": "reg-1@uac", "method": "REGISTER", "status": 200,
        "peer": "udp:198.51.100.1:5060", "latency_ms": 12.3, "branch": "z9hG4bKreg1",
        "level": "info"}


def test_no_exchange_line_nor_its_fields_when_they_are_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    log.setup(LogConfig(), stream=out)  # console at info: exchange lines are debug
    assert not log.exchanges_enabled()

    def built(*args: object, **fields: object) -> None:
        raise AssertionError("exchange fields built while the lines are off")

    monkeypatch.setattr(log, "exchange", built)
    h = Harness()
    [(_, send)] = downstream(h.rx(register()))
    h.rx(response_to(send.data, 200), Source("UDP", *NEXT_HOP))
    assert "sip_transaction" not in out.getvalue()
    assert h.core.metrics.transaction_seconds.count("REGISTER") == 1
