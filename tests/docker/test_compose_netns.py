"""docker/compose.yaml's default topology as real hosts without Docker (see
tests/docker/netns.py): HSS, S-CSCF, I-CSCF and P-CSCF each in a network namespace at its
compose address, started in depends_on order as their healthchecks allow; then, from UE
namespaces on the same bridge, SIPp registers demo subscribers with IMS-AKA and calls
between two registered SIPp UEs, and our UE registers like a softphone (MD5). Every
process stops with 0 on SIGTERM and nothing of the network is left behind, also when a
service fails to start."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.docker.netns import Topology, TopologyError, leftovers, running

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
    assert set(topology.services) == {"hss", "scscf", "icscf", "pcscf"}
    order = list(topology.services)  # as started
    for name, run in topology.services.items():
        assert all(order.index(dep) < order.index(name) for dep in run.service.depends_on)
    for name, run in topology.services.items():
        assert run.healthy, name
        assert run.child.proc.poll() is None, f"{name} exited\n{netns_lab.logs()}"
    assert topology.up_seconds < UP_TIMEOUT
    print(f"\ntopology healthy in {topology.up_seconds:.1f}s; {netns_lab.seeding}")


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


def test_teardown_stops_every_process_and_removes_the_network(netns_lab: NetnsLab) -> None:
    topology = netns_lab.topology
    assert topology.down() == []
    assert leftovers(topology.token) == []
    assert {name: topology.exit_codes[name] for name in topology.services} == {
        name: 0 for name in topology.services}, topology.logs()
