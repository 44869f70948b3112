"""docker/compose.yaml's default topology as real hosts without Docker (see
tests/docker/netns.py): HSS, S-CSCF, I-CSCF and P-CSCF each in a network namespace at its
compose address, started in depends_on order as their healthchecks allow; then, from UE
namespaces on the same bridge, SIPp registers demo subscribers with IMS-AKA and calls
between two registered SIPp UEs, and our UE registers like a softphone (MD5). Each node
answers /readyz with 200 once up and its /metrics is scraped from the host side as the
compose file's Prometheus would (its targets, by service name), counting what the traffic
did; the HSS's provisioning API (hss-api) is up on the HSS's store. Every process stops
with 0 on SIGTERM and nothing of the network is left behind, also when a service fails to
start."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ims_lab.plan import imsi
from tests.docker.monitoring import http_get
from tests.docker.netns import Topology, TopologyError, leftovers, running
from tests.docker.scrape import NodeScrape, scrape_nodes

from .conftest import PLAN, UP_TIMEOUT, NetnsLab, compose_project, require_netns

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_a_failing_service_leaves_nothing_behind(tmp_path: Path) -> None:
    """The HSS cannot read its config (exit 2): up() says so with its log, and the
    namespaces, veths and bridge are gone afterwards."""
    require_netns()
    project = compose_project()
    hss = project.services["hss"]
    broken = dataclasses.replace(hss, command=("hss", "-c", "/etc/ims-core/missing.toml"))
    project = dataclasses.replace(project, services={**project.services, "hss": broken})
    seen: list[Topology] = []
    with pytest.raises(TopologyError, match="hss exited with 2") as failure, \
            running(project, tmp_path, prepare=seen.append):
        pass
    assert "missing.toml" in str(failure.value)
    topology, = seen
    assert topology.hosts == {}
    assert leftovers(topology.token) == []
    assert list(topology.exit_codes) == ["hss"]


def test_topology_comes_up_healthy(netns_lab: NetnsLab) -> None:
    topology = netns_lab.topology
    assert topology.project.unset_variables == frozenset()
    assert set(topology.services) == {"hss", "hss-api", "scscf", "icscf", "pcscf"}
    order = list(topology.services)  # as started
    for name, run in topology.services.items():
        assert all(order.index(dep) < order.index(name) for dep in run.service.depends_on)
    for name, run in topology.services.items():
        assert run.healthy, name
        assert run.child.proc.poll() is None, f"{name} exited\n{netns_lab.logs()}"
    assert topology.up_seconds < UP_TIMEOUT
    print(f"\ntopology healthy in {topology.up_seconds:.1f}s; {netns_lab.seeding}")


def scraped(netns_lab: NetnsLab) -> dict[str, NodeScrape]:
    scrapes = scrape_nodes(netns_lab.topology)
    return {s.node: s for s in scrapes}


def test_nodes_ready_and_metrics_scraped_from_the_host(netns_lab: NetnsLab) -> None:
    scrapes = scraped(netns_lab)
    assert set(scrapes) == {"hss", "icscf", "scscf", "pcscf"}
    for node, s in scrapes.items():
        assert (s.ready.status, s.ready.body.strip()) == (200, "ready"), s.summary()
        assert s.metrics.status == 200, s.summary()
        assert s.metrics.content_type.startswith("text/plain; version=0.0.4"), s.summary()
        assert s.value("ims_node_info", node=node) == 1, s.summary()
        assert s.value("process_resident_memory_bytes") > 0, s.summary()
    for node in ("icscf", "scscf", "pcscf"):
        assert "ims_sip_tcp_connections_open" in scrapes[node].samples, node
    # Diameter: each CSCF's connection to the HSS is open, the HSS has both CSCFs.
    for node in ("icscf", "scscf"):
        assert scrapes[node].value("ims_diameter_peer_open") == 1, scrapes[node].samples.get(
            "ims_diameter_peer_open")
    assert scrapes["hss"].value("ims_diameter_peer_open") == 2
    assert scrapes["hss"].value("ims_hss_subscribers") >= PLAN.subscribers
    print("\n" + "\n".join(s.summary() for s in scrapes.values()))


def test_hss_api_serves_the_hss_store_with_the_env_key(netns_lab: NetnsLab) -> None:
    """hss-api is ready, refuses a request without its key and, with the key of the
    compose environment, shows a subscriber the HSS seeded into the shared volume."""
    topology = netns_lab.topology
    api = topology.project.services["hss-api"]
    base = f"http://{api.ipv4_address}:{api.environment['IMS_CORE__API__PORT']}"
    ready = http_get(f"{base}/readyz")
    assert ready.status == 200, f"{ready}\n{topology.logs()}"
    subscriber = f"{base}/api/v1/subscribers/{imsi(1)}"
    assert http_get(subscriber).status == 401
    key = {"X-API-Key": api.environment["IMS_CORE__API__API_KEY"]}
    found = http_get(subscriber, headers=key)
    assert found.status == 200 and imsi(1) in found.body, found


def test_sipp_registers_demo_subscribers_with_ims_aka(netns_lab: NetnsLab) -> None:
    run = netns_lab.traffic.register(netns_lab.ue)
    assert run.ok, f"{run.detail()}\n{netns_lab.logs()}"
    assert run.result.successful == PLAN.registrations


def test_calls_between_two_registered_sipp_ues(netns_lab: NetnsLab) -> None:
    netns_lab.traffic.start_callee(netns_lab.callee_host)
    run = netns_lab.traffic.call(netns_lab.ue)
    assert run.ok, f"{run.detail()}\n{netns_lab.logs()}"
    assert run.result.successful == PLAN.calls + 1  # the registration, then the calls


def test_softphone_registers_with_md5_without_initial_authorization(
        netns_lab: NetnsLab) -> None:
    outcome = netns_lab.traffic.softphone_register(netns_lab.ue)
    assert outcome.code == 0, f"{outcome.output}\n{netns_lab.logs()}"
    assert outcome.status == 200, outcome.output


def test_metrics_count_a_registration(netns_lab: NetnsLab) -> None:
    """Our UE registers (two REGISTERs: challenged, then answered): each hop's counters
    move by at least that much between two scrapes."""
    before = scraped(netns_lab)
    outcome = netns_lab.traffic.softphone_register(netns_lab.ue)
    assert outcome.code == 0, f"{outcome.output}\n{netns_lab.logs()}"
    after = scraped(netns_lab)

    def delta(node: str, name: str, **labels: str) -> float:
        return after[node].value(name, **labels) - before[node].value(name, **labels)

    for node in ("pcscf", "icscf", "scscf"):
        assert delta(node, "ims_sip_requests_received_total", method="REGISTER") >= 2, node
    assert delta("pcscf", "ims_sip_transaction_seconds_count", method="REGISTER") >= 2
    assert delta("pcscf", "ims_sip_responses_sent_total", method="REGISTER",
                 **{"class": "2xx"}) >= 1
    # Every REGISTER at the I-CSCF asks the HSS which S-CSCF serves the user (UAR).
    assert delta("icscf", "ims_cx_requests_total", role="client", command="UAR") >= 2
    assert delta("icscf", "ims_cx_latency_seconds_count", role="client", command="UAR") >= 2
    assert delta("hss", "ims_cx_requests_total", role="server", command="UAR") >= 2


def test_teardown_stops_every_process_and_removes_the_network(netns_lab: NetnsLab) -> None:
    topology = netns_lab.topology
    assert topology.down() == []
    assert leftovers(topology.token) == []
    assert {name: topology.exit_codes[name] for name in topology.services} == {
        name: 0 for name in topology.services}, topology.logs()
