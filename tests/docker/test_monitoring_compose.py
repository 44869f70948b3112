"""docker/compose.yaml and docker/prometheus/prometheus.yml read without Docker: every
node serves its metrics listener (not published) and is probed on /readyz; the hss-api
service runs on the HSS's config, environment and volume, published on loopback only;
Prometheus scrapes exactly the four nodes at their compose names and metrics ports; the
`monitoring` services exist only in that profile and mount what is in docker/."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

import pytest
import yaml

from hss.config import HssConfig
from tests.docker.compose import Project, Service, load_project, parse_env_file
from tests.docker.monitoring import (
    DASHBOARD,
    GRAFANA_PROVISIONING,
    PROMETHEUS_CONFIG,
    load_prometheus_config,
    scrape_targets,
)
from tests.docker.test_image_build import COMPOSE, DOCKER, ENV_FILE
from tests.docker.test_image_build import all_services as raw_services
from tests.docker.test_image_build import node_config as config_of

NODES = ("hss", "icscf", "scscf", "pcscf")
MONITORING = ("prometheus", "grafana")


def env_variables(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = environ or {}
    return {**parse_env_file(ENV_FILE.read_text(), environ), **environ}


@pytest.fixture(scope="module")
def project() -> Project:
    return load_project(COMPOSE, ENV_FILE, environ={})


def node_services(project: Project) -> dict[str, Service]:
    """node (hss, icscf, ...) → the default-profile service that runs it."""
    return {s.command[0]: s for s in project.services.values() if s.command[0] in NODES}


# -- the nodes -------------------------------------------------------------------------------


def test_every_node_serves_metrics_on_its_container_address(project: Project) -> None:
    services = raw_services({})
    nodes = node_services(project)
    assert set(nodes) == set(NODES)
    for node, service in nodes.items():
        metrics = config_of(service).metrics
        assert (metrics.enabled, metrics.host, metrics.port) == (True, "0.0.0.0", 9090), node
        published = " ".join(services[service.name].get("ports") or [])
        assert ":9090" not in published, (node, published)


@pytest.mark.parametrize("name", [*NODES, "hss-postgres"])
def test_node_healthchecks_get_readyz(project: Project, name: str) -> None:
    spec = raw_services({})[name]
    node = spec["command"][0]
    test = spec["healthcheck"]["test"]
    assert test == ["CMD", "ims-core", "health", node, "--http",
                    "http://127.0.0.1:9090/readyz"], test
    if name in project.services:  # the model the netns harness runs agrees
        hc = project.services[name].healthcheck
        assert hc is not None and hc.test == tuple(test[1:])


# -- hss-api ---------------------------------------------------------------------------------


def test_hss_api_runs_on_the_hss_config_environment_and_volume(project: Project) -> None:
    hss, api = project.services["hss"], project.services["hss-api"]
    assert api.command == ("hss-api", *hss.command[1:])
    assert api.volumes == hss.volumes
    data, = [v for v in hss.volumes if v.named]
    assert not data.read_only and data.target == config_of(hss).data_dir
    extra = {k: v for k, v in api.environment.items() if k not in hss.environment}
    assert {k: v for k, v in api.environment.items() if k in hss.environment} == dict(
        hss.environment)
    assert set(extra) == {"IMS_CORE__API__HOST", "IMS_CORE__API__PORT",
                          "IMS_CORE__API__API_KEY"}
    assert api.depends_on == {"hss": "service_healthy"}
    assert api.ipv4_address != hss.ipv4_address


def test_hss_api_listens_on_8080_published_on_loopback_with_the_env_key(project: Project) -> None:
    key = "another-key-of-the-deployment"
    cfg = config_of(load_project(COMPOSE, ENV_FILE, environ={"HSS_API_KEY": key})
                    .services["hss-api"])
    assert isinstance(cfg, HssConfig)
    assert (cfg.api.host, cfg.api.port, cfg.api.api_key) == ("0.0.0.0", 8080, key)
    demo = config_of(project.services["hss-api"]).api.api_key
    assert demo == env_variables()["HSS_API_KEY"] and len(demo) >= 16
    spec = raw_services({})["hss-api"]
    assert spec["ports"] == ["127.0.0.1:8080:8080/tcp"]
    assert spec["healthcheck"]["test"] == ["CMD", "ims-core", "health", "hss", "--http",
                                           "http://127.0.0.1:8080/readyz"]
    # The key and the API's address are the hss-api process's only.
    assert config_of(project.services["hss"]).api.api_key == ""


def test_api_key_empty_in_env_means_generated() -> None:
    cfg = config_of(load_project(COMPOSE, ENV_FILE, environ={"HSS_API_KEY": ""})
                    .services["hss-api"])
    assert cfg.api.api_key == ""


# -- Prometheus ------------------------------------------------------------------------------


def test_prometheus_scrapes_exactly_the_four_nodes(project: Project) -> None:
    config = load_prometheus_config()
    targets = scrape_targets(config)
    nodes = node_services(project)
    assert sorted(t.labels["node"] for t in targets) == sorted(NODES)
    assert {t.job for t in targets} == {"ims-core"}
    (job,) = config["scrape_configs"]
    assert job["honor_labels"] is True  # ims_node_info's own node label is kept
    for target in targets:
        service = nodes[target.labels["node"]]
        # By the name Docker's DNS answers with the node's compose address.
        assert target.host == service.name
        assert (target.port, target.path) == (config_of(service).metrics.port, "/metrics")
    # hss-postgres stands in for hss at the same address and under its name.
    postgres = raw_services({})["hss-postgres"]["networks"]["ims"]
    assert postgres["aliases"] == ["hss"]
    assert postgres["ipv4_address"] == str(nodes["hss"].ipv4_address)


def test_grafana_rate_interval_floor_is_the_scrape_interval() -> None:
    scrape = load_prometheus_config()["global"]["scrape_interval"]
    ds = yaml.safe_load((GRAFANA_PROVISIONING / "datasources" / "prometheus.yaml")
                        .read_text())["datasources"][0]
    assert ds["jsonData"]["timeInterval"] == scrape


# -- the monitoring profile ------------------------------------------------------------------


def test_monitoring_services_only_in_their_profile(project: Project) -> None:
    services = raw_services({})
    for name in MONITORING:
        assert services[name]["profiles"] == ["monitoring"], name
        assert name not in project.services
    others = {n for n, s in services.items() if "monitoring" in (s.get("profiles") or [])}
    assert others == set(MONITORING)


def test_monitoring_images_are_pinned_and_published_on_loopback() -> None:
    services = raw_services({})
    images = {n: services[n]["image"] for n in MONITORING}
    assert images["prometheus"].startswith("prom/prometheus:v")
    assert images["grafana"].startswith("grafana/grafana:")
    for name, image in images.items():
        assert not image.endswith((":latest", ":main")) and ":" in image, name
        ports = services[name]["ports"]
        assert ports and all(p.startswith("127.0.0.1:") for p in ports), (name, ports)


def test_monitoring_mounts_exist_in_docker_dir() -> None:
    services = raw_services({})
    mounts = {}
    for name in MONITORING:
        for volume in services[name]["volumes"]:
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert volume.endswith(":ro"), volume
                mounts[target] = (DOCKER / source).resolve()
    assert mounts["/etc/prometheus/prometheus.yml"] == PROMETHEUS_CONFIG
    assert mounts["/etc/grafana/provisioning"] == GRAFANA_PROVISIONING
    assert mounts["/etc/grafana/dashboards"] == DASHBOARD.parent
    assert all(path.exists() for path in mounts.values()), mounts
    grafana = services["grafana"]["environment"]
    assert grafana["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == (
        f"/etc/grafana/dashboards/{DASHBOARD.name}")
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == env_variables()["GRAFANA_ADMIN_PASSWORD"]


def test_monitoring_addresses_are_free_and_in_the_subnet(project: Project) -> None:
    services = raw_services({})
    addresses = [s["networks"]["ims"]["ipv4_address"] for n, s in services.items()
                 if n != "hss-postgres"]  # it takes hss's place
    assert len(addresses) == len(set(addresses)), addresses
    for name in MONITORING:
        address = ipaddress.IPv4Address(services[name]["networks"]["ims"]["ipv4_address"])
        assert address in project.network.subnet and address in project.reserved
