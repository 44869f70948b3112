"""docker/compose.yaml's topology with every SIP and Diameter hop given by service NAME
(as a compose file relying on Docker's embedded DNS would write them) instead of by
address: the P-CSCF's I-CSCF, the S-CSCF's I-CSCF, the I-CSCF's S-CSCF and both CSCFs'
HSS, set through ``IMS_CORE__...`` environment overrides. Names resolve through the
namespaces' hosts files (tests/docker/netns.py). SIPp registers a few UEs with IMS-AKA and
one calls another.

Its own module: the topology of test_compose_netns.py (module scope) holds the same subnet
until that module ends."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ims_core.icscf.config import IcscfConfig
from ims_core.pcscf.config import PcscfConfig
from ims_core.scscf.config import ScscfConfig
from tests.docker.compose import Project
from tests.docker.netns import SubnetInUse, Topology, leftovers, running
from tests.docker.traffic import Plan, Traffic, ensure_seeded, node_config
from tests.integration.conftest import require_tools

from .conftest import UP_TIMEOUT, compose_project, require_netns

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PLAN = Plan(registrations=5, calls=3)
SIP_PORT = 5060  # every CSCF's in the compose file


def hops_by_name(project: Project) -> tuple[Project, dict[str, str]]:
    """The project with each hop named by the service that runs the node, and the node →
    service map."""
    service_of = {svc.command[0]: name for name, svc in project.services.items()}
    pcscf = project.services[service_of["pcscf"]]
    domain = pcscf.environment["IMS_CORE__DOMAIN"]
    icscf, scscf, hss = service_of["icscf"], service_of["scscf"], service_of["hss"]
    overrides = {
        "pcscf": {"IMS_CORE__HOME_NETWORKS": f'{{"{domain}" = "{icscf}:{SIP_PORT}"}}'},
        "scscf": {"IMS_CORE__ICSCF": f"{icscf}:{SIP_PORT}",
                  "IMS_CORE__DIAMETER__HSS_HOST": hss},
        "icscf": {"IMS_CORE__SCSCF__0__ADDRESS": f"{scscf}:{SIP_PORT}",
                  "IMS_CORE__DIAMETER__HSS_HOST": hss},
    }
    services = dict(project.services)
    for node, env in overrides.items():
        svc = services[service_of[node]]
        services[svc.name] = dataclasses.replace(svc, environment={**svc.environment, **env})
    return dataclasses.replace(project, services=services), service_of


def test_register_and_call_with_hops_by_service_name(tmp_path: Path) -> None:
    require_netns()
    require_tools("sipp")
    project, service_of = hops_by_name(compose_project())
    seen: list[Topology] = []

    def prepare(topology: Topology) -> None:
        seen.append(topology)
        ensure_seeded(topology, PLAN)

    try:
        with running(project, tmp_path, extra_hosts=("ue", "ue-callee"), timeout=UP_TIMEOUT,
                     prepare=prepare) as topology:
            # The nodes run with names, not addresses, for their hops ...
            pcscf = node_config(topology, "pcscf", PcscfConfig)
            assert set(pcscf.home_networks.values()) == {f"{service_of['icscf']}:{SIP_PORT}"}
            scscf = node_config(topology, "scscf", ScscfConfig)
            assert scscf.icscf == f"{service_of['icscf']}:{SIP_PORT}"
            icscf = node_config(topology, "icscf", IcscfConfig)
            assert icscf.scscf[0].address == f"{service_of['scscf']}:{SIP_PORT}"
            for cfg in (scscf, icscf):
                assert cfg.diameter is not None
                assert cfg.diameter.hss_host == service_of["hss"]
            # ... which resolve in their namespaces as Docker's DNS would answer.
            icscf_name = service_of["icscf"]
            looked_up = topology.run_in(service_of["pcscf"], ["getent", "hosts", icscf_name])
            address = str(project.services[icscf_name].ipv4_address)
            assert looked_up.stdout.split()[:1] == [address], looked_up

            traffic = Traffic(topology, PLAN)
            register = traffic.register(topology.hosts["ue"])
            assert register.ok, f"{register.detail()}\n{topology.logs()}"
            assert register.result.successful == PLAN.registrations
            traffic.start_callee(topology.hosts["ue-callee"])
            call = traffic.call(topology.hosts["ue"])
            assert call.ok, f"{call.detail()}\n{topology.logs()}"
            assert call.result.successful == PLAN.calls + 1  # the registration, the calls
            print(f"\nhops by name: healthy in {topology.up_seconds:.1f}s; "
                  f"{register.summary()}; {call.summary()}")
    except SubnetInUse as exc:
        pytest.skip(str(exc))
    topology, = seen
    assert leftovers(topology.token) == []
    assert {name: topology.exit_codes[name] for name in project.services} == {
        name: 0 for name in project.services}, topology.logs()
