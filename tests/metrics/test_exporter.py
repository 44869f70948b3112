"""The Prometheus text exposition of a Registry: exact values, cumulative buckets, the
node info and process metrics, and a failing read callback that costs only its family."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

import ims_core
from ims_core.metrics import DiameterMetrics, Registry, SipMetrics
from ims_core.metrics.exporter import COLLECT_ERRORS, CONTENT_TYPE, render
from ims_core.metrics.families import Labels


def scrape(registry: Registry, node: str = "scscf") -> dict[str, list[Sample]]:
    text = render(registry, node).decode("utf-8")
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def values(samples: Iterable[Sample], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in samples if s.name == name}


def test_content_type_is_text_format_0_0_4() -> None:
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_counters_get_total_and_exact_values() -> None:
    r = Registry()
    sip = SipMetrics.create(r)
    for _ in range(3):
        sip.requests_received.inc("REGISTER")
    sip.requests_received.inc("INVITE")
    sip.responses_sent.inc("REGISTER", "4xx")
    sip.responses_sent.add(2, "REGISTER", "2xx")
    text = render(r, "scscf").decode()
    assert "# TYPE ims_sip_requests_received_total counter" in text
    assert 'ims_sip_requests_received_total{method="REGISTER"} 3.0\n' in text
    got = scrape(r)
    assert values(got["ims_sip_requests_received"], "ims_sip_requests_received_total") == {
        (("method", "REGISTER"),): 3.0, (("method", "INVITE"),): 1.0}
    assert values(got["ims_sip_responses_sent"], "ims_sip_responses_sent_total") == {
        (("class", "4xx"), ("method", "REGISTER")): 1.0,
        (("class", "2xx"), ("method", "REGISTER")): 2.0}
    # A labelled family with nothing counted yet is there, without samples.
    assert got["ims_sip_requests_sent"] == []


def test_unlabelled_families_are_zero_until_set() -> None:
    r = Registry()
    sip = SipMetrics.create(r)
    got = scrape(r)
    assert values(got["ims_calls_active"], "ims_calls_active") == {(): 0.0}
    sip.calls_active.inc()
    sip.calls_active.inc()
    sip.calls_active.dec()
    sip.tcp_connections.set(7)
    got = scrape(r)
    assert values(got["ims_calls_active"], "ims_calls_active") == {(): 1.0}
    assert values(got["ims_sip_tcp_connections_open"], "ims_sip_tcp_connections_open") == {
        (): 7.0}


def test_gauge_read_callbacks_are_evaluated_at_each_scrape() -> None:
    r = Registry()
    sip = SipMetrics.create(r)
    table = {"a": 1, "b": 2}
    sip.registrations_active.read = lambda: [((), len(table))]
    kinds: dict[str, int] = {"invite_server": 2, "non_invite_client": 5}
    sip.transactions_active.read = lambda: [((k,), n) for k, n in kinds.items()]
    got = scrape(r)
    assert values(got["ims_registrations_active"], "ims_registrations_active") == {(): 2.0}
    table["c"] = 3
    kinds["invite_server"] = 0
    got = scrape(r)
    assert values(got["ims_registrations_active"], "ims_registrations_active") == {(): 3.0}
    assert values(got["ims_sip_transactions_active"], "ims_sip_transactions_active") == {
        (("kind", "invite_server"),): 0.0, (("kind", "non_invite_client"),): 5.0}


def test_histogram_buckets_are_cumulative_with_inf_sum_and_count() -> None:
    r = Registry()
    h = r.histogram("ims_test_seconds", "test", ("method",), buckets=(0.1, 0.5, 1.0))
    for v in (0.05, 0.1, 0.3, 0.5, 0.7, 2.0, 30.0):  # 0.1 and 0.5: on a bound, le counts it
        h.observe(v, "INVITE")
    h.observe(0.2, "BYE")
    got = scrape(r)["ims_test_seconds"]
    assert values(got, "ims_test_seconds_bucket") == {
        (("le", "0.1"), ("method", "INVITE")): 2.0,
        (("le", "0.5"), ("method", "INVITE")): 4.0,
        (("le", "1.0"), ("method", "INVITE")): 5.0,
        (("le", "+Inf"), ("method", "INVITE")): 7.0,
        (("le", "0.1"), ("method", "BYE")): 0.0,
        (("le", "0.5"), ("method", "BYE")): 1.0,
        (("le", "1.0"), ("method", "BYE")): 1.0,
        (("le", "+Inf"), ("method", "BYE")): 1.0,
    }
    assert values(got, "ims_test_seconds_count") == {
        (("method", "INVITE"),): 7.0, (("method", "BYE"),): 1.0}
    sums = values(got, "ims_test_seconds_sum")
    assert sums[(("method", "INVITE"),)] == 0.05 + 0.1 + 0.3 + 0.5 + 0.7 + 2.0 + 30.0
    assert sums[(("method", "BYE"),)] == 0.2
    text = render(r, "x").decode()
    assert 'ims_test_seconds_bucket{le="+Inf",method="INVITE"} 7.0\n' in text


def test_an_unlabelled_histogram_shows_empty_buckets() -> None:
    r = Registry()
    r.histogram("ims_empty_seconds", "nothing yet", buckets=(1.0,))
    got = scrape(r)["ims_empty_seconds"]
    assert values(got, "ims_empty_seconds_bucket") == {(("le", "1.0"),): 0.0,
                                                       (("le", "+Inf"),): 0.0}
    assert values(got, "ims_empty_seconds_count") == {(): 0.0}


def test_diameter_group_labels() -> None:
    r = Registry()
    dia = DiameterMetrics.create(r)
    dia.requests.inc("server", "MAR", "base", "2001")
    dia.requests.inc("server", "MAR", "base", "2001")
    dia.requests.inc("client", "SAR", "timeout", "")
    dia.peers_open.set(1, "hss.example")
    got = scrape(r, "hss")
    assert values(got["ims_cx_requests"], "ims_cx_requests_total") == {
        (("command", "MAR"), ("result", "2001"), ("result_kind", "base"),
         ("role", "server")): 2.0,
        (("command", "SAR"), ("result", ""), ("result_kind", "timeout"),
         ("role", "client")): 1.0,
    }
    assert values(got["ims_diameter_peer_open"], "ims_diameter_peer_open") == {
        (("peer", "hss.example"),): 1.0}


def test_node_info_process_and_platform_metrics() -> None:
    got = scrape(Registry(), "pcscf")
    assert values(got["ims_node_info"], "ims_node_info") == {
        (("node", "pcscf"), ("version", ims_core.__version__)): 1.0}
    assert values(got["process_resident_memory_bytes"], "process_resident_memory_bytes")[()] > 0
    assert "process_cpu_seconds" in got and "process_open_fds" in got
    assert "python_info" in got


def test_label_values_are_escaped() -> None:
    r = Registry()
    c = r.counter("ims_odd", "odd labels", ("peer",))
    c.inc('a"b\\c\nd')
    got = scrape(r)
    assert values(got["ims_odd"], "ims_odd_total") == {(("peer", 'a"b\\c\nd'),): 1.0}


def test_a_failing_read_callback_costs_only_its_family() -> None:
    r = Registry()
    sip = SipMetrics.create(r)
    sip.requests_received.inc("BYE")
    calls = 0

    def broken() -> Iterable[tuple[Labels, float]]:
        nonlocal calls
        calls += 1
        raise RuntimeError("the table went away")

    sip.contacts_active.read = broken
    sip.reg_subscriptions_active.read = lambda: [(("extra",), 1)]  # a label too many
    bad_value: list[tuple[Labels, float]] = [((), "many")]  # type: ignore[list-item]
    sip.registrations_active.read = lambda: bad_value
    for scrape_number in (1, 2):
        got = scrape(r)
        assert "ims_contacts_active" not in got
        assert "ims_reg_subscriptions_active" not in got
        assert "ims_registrations_active" not in got
        assert values(got["ims_sip_requests_received"], "ims_sip_requests_received_total") == {
            (("method", "BYE"),): 1.0}
        assert values(got["ims_calls_active"], "ims_calls_active") == {(): 0.0}
        errors = values(got[COLLECT_ERRORS], f"{COLLECT_ERRORS}_total")
        assert errors == {(("family", "ims_contacts_active"),): scrape_number,
                          (("family", "ims_reg_subscriptions_active"),): scrape_number,
                          (("family", "ims_registrations_active"),): scrape_number}
    assert calls == 2
