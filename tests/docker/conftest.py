"""The compose topology stood up as network namespaces (module scope): docker/compose.yaml
and docker/.env read as Compose reads them, each default-profile service run with the
venv's ``ims-core`` in its own namespace at its compose address on a private bridge, plus
two UE hosts at free addresses of the same subnet (SIPp and our UE). Needs root and
iproute2 (skipped otherwise) and SIPp."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ims_core.config import ConfigError
from tests.docker.compose import Project, load_project, probing_every
from tests.docker.netns import (
    Host,
    SubnetInUse,
    Topology,
    TopologyError,
    compose_environ,
    missing_requirements,
)
from tests.docker.traffic import Plan, Traffic, ensure_seeded
from tests.integration.conftest import require_tools

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE = DOCKER / "compose.yaml"
PLAN = Plan(registrations=20, calls=10)
UP_TIMEOUT = 40.0  # seconds for the whole topology to be healthy


def require_netns() -> None:
    reason = missing_requirements()
    if reason is not None:
        pytest.skip(f"the compose topology as network namespaces: {reason}")


def compose_project() -> Project:
    if not COMPOSE.exists():
        pytest.fail(f"{COMPOSE} is missing")
    # Probed every second while starting: the topology is up sooner, as in a Docker with
    # `start_interval: 1s` (tests/vm/ipsec_lab.py does the same).
    return probing_every(load_project(COMPOSE, environ=compose_environ()), 1.0)


@dataclass
class NetnsLab:
    topology: Topology
    traffic: Traffic
    ue: Host  # SIPp registrations, the caller, our UE
    callee_host: Host  # the SIPp callee
    seeding: str

    def logs(self) -> str:
        return self.topology.logs()


@pytest.fixture(scope="module")
def netns_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsLab]:
    require_netns()
    require_tools("sipp")
    topology = Topology(compose_project(), tmp_path_factory.mktemp("netns"))
    try:
        try:
            try:
                topology.create_network()
            except SubnetInUse as exc:
                pytest.skip(str(exc))
            ue, callee = topology.add_host("ue"), topology.add_host("ue-callee")
            seeding = ensure_seeded(topology, PLAN)
            topology.up(UP_TIMEOUT)
            traffic = Traffic(topology, PLAN)
        except (TopologyError, ConfigError) as exc:
            pytest.fail(f"the compose topology did not come up: {exc}\n{topology.logs()}")
        yield NetnsLab(topology, traffic, ue, callee, seeding)
    finally:
        topology.down()
