"""The compose loader without Docker or root: interpolation as Compose does it, .env
files, durations, the default profile and the service model, and refusals that name the
key."""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.docker import netns
from tests.docker.compose import (
    ComposeError,
    Healthcheck,
    interpolate,
    interpolate_tree,
    load_project,
    parse_duration,
    parse_env_file,
    parse_project,
    parse_yaml,
)
from tests.docker.netns import ENTRYPOINT, PathMap, Topology

DOCKER = Path(__file__).resolve().parents[2] / "docker"

VARS = {"SET": "value", "EMPTY": ""}


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "plain"),
    ("${SET}", "value"),
    ("$SET", "value"),
    ("$SET.suffix", "value.suffix"),
    ("a${SET}b", "avalueb"),
    ("${UNSET}", ""),
    ("${SET:-default}", "value"),
    ("${EMPTY:-default}", "default"),
    ("${UNSET:-default}", "default"),
    ("${SET-default}", "value"),
    ("${EMPTY-default}", ""),
    ("${UNSET-default}", "default"),
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${UNSET:-${SET}}", "value"),
    ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
    ("${UNSET:-a:b-c}", "a:b-c"),
    ("$$", "$"),
    ("$${SET}", "${SET}"),
    ("cost $$5", "cost $5"),
    ("$$$SET", "$value"),
    ("${UNSET:-$$}", "$"),
    ("172.22.0.0/24", "172.22.0.0/24"),
])
def test_interpolation_as_compose(text: str, expected: str) -> None:
    assert interpolate(text, VARS) == expected


def test_unset_plain_variables_are_reported_defaults_are_not() -> None:
    unset: set[str] = set()
    interpolate("${A} $B ${C:-x} ${D-y} ${SET}", VARS, unset)
    assert unset == {"A", "B"}


@pytest.mark.parametrize(("text", "error"), [
    ("${UNSET:?must be set}", "must be set"),
    ("${EMPTY:?no empty}", "no empty"),
    ("${UNSET?gone}", "gone"),
    ("a $ b", "lone '\\$'"),
    ("end$", "lone '\\$'"),
    ("${SET", "unclosed"),
    ("${1BAD}", "invalid interpolation"),
    ("${}", "invalid interpolation"),
])
def test_interpolation_errors(text: str, error: str) -> None:
    with pytest.raises(ComposeError, match=error):
        interpolate(text, VARS)


def test_required_forms_pass_when_set() -> None:
    assert interpolate("${EMPTY?x}", VARS) == ""
    assert interpolate("${SET:?x}", VARS) == "value"


def test_tree_interpolates_values_not_keys() -> None:
    tree = {"${SET}": ["$SET", {"k": "${UNSET:-d}"}], "n": None}
    assert interpolate_tree(tree, VARS) == {"${SET}": ["value", {"k": "d"}], "n": None}


def test_env_file() -> None:
    text = "\n".join([
        "# a comment",
        "",
        "PLAIN=172.22.0.10",
        "SPACED = padded value   ",
        "export EXPORTED=yes",
        "COMMENTED=value # trailing comment",
        "HASH=a#b",
        "SINGLE='literal ${PLAIN} # not a comment'",
        'DOUBLE="line\\nnext \\"q\\" ${PLAIN}"',
        'ESCAPED="\\$PLAIN"',
        "REF=${PLAIN}:5060",
        "FROM_ENV=${OUTSIDE}",
        "DEFAULTED=${NOPE:-fallback}",
        "EMPTY=",
        "BARE_PRESENT",
        "BARE_ABSENT",
    ])
    env = parse_env_file(text, {"OUTSIDE": "shell", "BARE_PRESENT": "from shell"})
    assert env == {
        "PLAIN": "172.22.0.10", "SPACED": "padded value", "EXPORTED": "yes",
        "COMMENTED": "value", "HASH": "a#b", "SINGLE": "literal ${PLAIN} # not a comment",
        "DOUBLE": 'line\nnext "q" 172.22.0.10', "ESCAPED": "$PLAIN",
        "REF": "172.22.0.10:5060", "FROM_ENV": "shell", "DEFAULTED": "fallback", "EMPTY": "",
        "BARE_PRESENT": "from shell",
    }


@pytest.mark.parametrize(("text", "error"), [
    ("KEY='open", "line 1: unterminated quote"),
    ('KEY="open', "line 1: unterminated quote"),
    ("KEY='a' b", "text after the closing quote"),
    ("1KEY=x", "not KEY=VALUE"),
    ("just words here", "not KEY=VALUE"),
])
def test_env_file_errors(text: str, error: str) -> None:
    with pytest.raises(ComposeError, match=error):
        parse_env_file(text)


@pytest.mark.parametrize(("text", "seconds"), [
    ("2s", 2.0), ("500ms", 0.5), ("1m30s", 90.0), ("1.5s", 1.5), ("1h", 3600.0), ("0", 0.0),
    ("100us", 1e-4),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "2", "s", "2x", "1m 30s", "-1s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ComposeError, match="not a duration"):
        parse_duration(text)


def test_yaml_scalars_stay_strings_as_in_yaml_1_2() -> None:
    data = parse_yaml("a: on\nb: 5060:5060\nc: 0123\nd: ~\ne:\nf: true\n"
                      "base: &b {x: '1'}\ng:\n  <<: *b\n  y: '2'\n")
    assert data == {"a": "on", "b": "5060:5060", "c": "0123", "d": None, "e": None,
                    "f": "true", "base": {"x": "1"}, "g": {"x": "1", "y": "2"}}


def test_yaml_errors() -> None:
    with pytest.raises(ComposeError, match="not valid YAML"):
        parse_yaml("a: [")
    with pytest.raises(ComposeError, match="must be a mapping"):
        parse_yaml("- a")


COMPOSE = """
name: lab
x-env: &env
  IMS_CORE__DOMAIN: ${DOMAIN}
services:
  hss:
    image: ims-core:${TAG:-latest}
    command: ["hss", "-c", "/etc/ims-core/hss.toml"]
    environment:
      <<: *env
      IMS_CORE__DIAMETER__LISTEN_HOST: ${HSS_IP}
      IMS_CORE__DATA_DIR: /var/lib/ims-core
      IMS_CORE__SEED__COUNT: 1000
      PRICE: "$$5"
      FROM_SHELL:
    volumes:
      - ./config:/etc/ims-core:ro
      - hss-data:/var/lib/ims-core
    networks:
      ims:
        ipv4_address: ${HSS_IP}
    healthcheck:
      test: ["CMD", "ims-core", "health", "hss", "-c", "/etc/ims-core/hss.toml"]
      interval: 2s
      timeout: 3s
      retries: 5
      start_period: 1s
      start_interval: 500ms
    restart: unless-stopped
    stop_grace_period: 3s
  pcscf:
    image: ims-core:latest
    command: pcscf -c /etc/ims-core/pcscf.toml
    environment:
      - IMS_CORE__SIP__HOST=${PCSCF_IP}
      - FROM_SHELL
    volumes: ["./config:/etc/ims-core:ro"]
    ports: ["5060:5060/udp", 5060:5060/tcp]
    networks: {ims: {ipv4_address: "${PCSCF_IP}"}}
    healthcheck:
      test: ims-core health pcscf
    depends_on:
      hss:
        condition: service_healthy
  sipp:
    profiles: [sipp]
    image: sipp
    command: ["-sn", "uac"]
    networks: {ims: {ipv4_address: 172.22.0.100}}
networks:
  ims:
    driver: bridge
    ipam:
      config:
        - subnet: ${TEST_NETWORK:-172.22.0.0/24}
volumes:
  hss-data:
"""
ENV = {"DOMAIN": "ims.example", "HSS_IP": "172.22.0.10", "PCSCF_IP": "172.22.0.40",
       "FROM_SHELL": "shell"}


def test_project_default_profile_and_services(tmp_path: Path) -> None:
    project = parse_project(parse_yaml(COMPOSE), tmp_path, ENV)
    assert list(project.services) == ["hss", "pcscf"]  # sipp is in a profile
    assert project.network.subnet == ipaddress.IPv4Network("172.22.0.0/24")
    assert project.network.gateway == ipaddress.IPv4Address("172.22.0.1")
    assert project.named_volumes == ("hss-data",)
    assert project.unset_variables == frozenset()
    hss, pcscf = project.services["hss"], project.services["pcscf"]
    assert hss.command == ("hss", "-c", "/etc/ims-core/hss.toml")
    assert dict(hss.environment) == {
        "IMS_CORE__DOMAIN": "ims.example", "IMS_CORE__DIAMETER__LISTEN_HOST": "172.22.0.10",
        "IMS_CORE__DATA_DIR": "/var/lib/ims-core", "IMS_CORE__SEED__COUNT": "1000",
        "PRICE": "$5", "FROM_SHELL": "shell"}
    assert hss.ipv4_address == ipaddress.IPv4Address("172.22.0.10")
    config, data = hss.volumes
    assert (config.source, config.target, config.read_only, config.named) == (
        str(tmp_path / "config"), "/etc/ims-core", True, False)
    assert (data.source, data.target, data.read_only, data.named) == (
        "hss-data", "/var/lib/ims-core", False, True)
    assert hss.healthcheck == Healthcheck(
        ("ims-core", "health", "hss", "-c", "/etc/ims-core/hss.toml"), interval=2.0,
        timeout=3.0, retries=5, start_period=1.0, start_interval=0.5)
    assert hss.depends_on == {}
    assert (hss.stop_grace_period, pcscf.stop_grace_period) == (3.0, 10.0)
    assert pcscf.command == ("pcscf", "-c", "/etc/ims-core/pcscf.toml")
    assert dict(pcscf.environment) == {"IMS_CORE__SIP__HOST": "172.22.0.40",
                                       "FROM_SHELL": "shell"}
    assert pcscf.healthcheck == Healthcheck(("/bin/sh", "-c", "ims-core health pcscf"))
    assert pcscf.depends_on == {"hss": "service_healthy"}
    assert project.start_order() == ["hss", "pcscf"]
    assert project.reserved == {ipaddress.IPv4Address(a)
                                for a in ("172.22.0.10", "172.22.0.40", "172.22.0.100")}


def test_project_reports_unset_variables_and_subnet_override(tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if k != "DOMAIN"} | {"TEST_NETWORK": "10.9.0.0/16",
                                                               "HSS_IP": "10.9.0.10",
                                                               "PCSCF_IP": "10.9.0.40"}
    project = parse_project(parse_yaml(COMPOSE), tmp_path, env)
    assert project.unset_variables == {"DOMAIN"}
    assert project.network.subnet == ipaddress.IPv4Network("10.9.0.0/16")


def _one_service(extra: str, network: str = "", top: str = "") -> str:
    return (f"services:\n  a:\n    command: [hss]\n    networks: {{n: {{ipv4_address: "
            f"10.0.0.5}}}}\n{extra}networks:\n  n:\n    ipam: {{config: [{{subnet: "
            f"10.0.0.0/24{network}}}]}}\n{top}")


@pytest.mark.parametrize(("extra", "network", "top", "error"), [
    ("    entrypoint: [sh]\n", "", "", "services.a: key.*entrypoint"),
    ("    working_dir: /x\n    env_file: .env\n", "", "", "env_file, working_dir"),
    ("    volumes: [data:/data]\n", "", "", "named volume 'data' is not declared"),
    ("    volumes: [{type: bind, source: ., target: /x}]\n", "", "", "short syntax"),
    ("    volumes: ['./c:relative']\n", "", "", "must be an absolute path"),
    ("    depends_on: {b: {condition: service_healthy}}\n", "", "", "b not in the default"),
    ("    depends_on: {a: {condition: service_ready}}\n", "", "", "condition"),
    ("    healthcheck: {test: [CMD]}\n", "", "", "healthcheck.test"),
    ("    healthcheck: {test: [CMD, x], retries: many}\n", "", "", "retries"),
    ("    healthcheck: {test: [CMD, x], interval: 2}\n", "", "", "not a duration"),
    ("", ", gateway: 10.1.0.1", "", "gateway 10.1.0.1 is not in"),
    ("    environment: {A: [1]}\n", "", "", "environment.A: expected a string"),
])
def test_refusals_name_the_key(tmp_path: Path, extra: str, network: str, top: str,
                               error: str) -> None:
    with pytest.raises(ComposeError, match=error):
        parse_project(parse_yaml(_one_service(extra, network, top)), tmp_path, {})


def test_more_refusals(tmp_path: Path) -> None:
    no_command = "services:\n  a:\n    networks: {n: {ipv4_address: 10.0.0.5}}\n" \
                 "networks: {n: {ipam: {config: [{subnet: 10.0.0.0/24}]}}}\n"
    with pytest.raises(ComposeError, match="no command"):
        parse_project(parse_yaml(no_command), tmp_path, {})
    outside = _one_service("").replace("10.0.0.5", "10.0.1.5")
    with pytest.raises(ComposeError, match=r"10\.0\.1\.5 is not in 10\.0\.0\.0/24"):
        parse_project(parse_yaml(outside), tmp_path, {})
    two = _one_service("").replace("services:\n", "services:\n  b:\n    command: [x]\n"
                                   "    networks: {n: {ipv4_address: 10.0.0.5}}\n")
    with pytest.raises(ComposeError, match=r"share 10\.0\.0\.5"):
        parse_project(parse_yaml(two), tmp_path, {})
    cycle = two.replace("10.0.0.5}}\n", "10.0.0.6}}\n    depends_on: [a]\n", 1).replace(
        "command: [hss]\n", "command: [hss]\n    depends_on: [b]\n")
    with pytest.raises(ComposeError, match="cycle"):
        parse_project(parse_yaml(cycle), tmp_path, {})


def test_disabled_healthcheck_and_list_depends_on(tmp_path: Path) -> None:
    text = _one_service("    healthcheck: {disable: true}\n").replace(
        "services:\n", "services:\n  b:\n    command: [x]\n    depends_on: [a]\n"
        "    healthcheck: {test: [NONE]}\n    networks: {n: {ipv4_address: 10.0.0.6}}\n")
    project = parse_project(parse_yaml(text), tmp_path, {})
    assert project.services["a"].healthcheck is None
    assert project.services["b"].healthcheck is None
    assert project.services["b"].depends_on == {"a": "service_started"}
    assert project.start_order() == ["a", "b"]


def test_load_project_shell_wins_over_env_file(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / ".env").write_text("DOMAIN=from.env\nHSS_IP=172.22.0.10\n"
                                   "PCSCF_IP=172.22.0.40\n")
    project = load_project(tmp_path / "compose.yaml", environ={"DOMAIN": "from.shell"})
    assert project.services["hss"].environment["IMS_CORE__DOMAIN"] == "from.shell"
    assert "FROM_SHELL" not in project.services["hss"].environment  # unset everywhere
    assert project.directory == tmp_path.resolve()


def test_path_map_replaces_whole_paths_only() -> None:
    paths = PathMap((("/etc/ims-core", "/repo/docker/config"),
                     ("/var/lib/ims-core", "/tmp/v/hss-data")))
    assert paths.apply("/etc/ims-core/hss.toml") == "/repo/docker/config/hss.toml"
    assert paths.apply("/etc/ims-core") == "/repo/docker/config"
    assert paths.apply("data_dir=/var/lib/ims-core") == "data_dir=/tmp/v/hss-data"
    assert paths.apply("/etc/ims-core-other/x") == "/etc/ims-core-other/x"
    assert paths.apply("/opt/etc/ims-core/x") == "/opt/etc/ims-core/x"
    assert paths.apply("hss") == "hss"


def test_the_repository_compose_file_is_understood() -> None:
    """docker/compose.yaml and docker/.env as the netns test reads them: four nodes and
    the HSS's API on one subnet, all variables set, each ``ims-core <service> -c
    /etc/ims-core/<node>.toml`` with a healthcheck, and no mounted config naming a path only
    the container has."""
    project = load_project(DOCKER / "compose.yaml", environ={})
    assert project.unset_variables == frozenset()
    assert set(project.services) == {"hss", "hss-api", "scscf", "icscf", "pcscf"}
    assert project.start_order()[0] == "hss"
    for name, service in project.services.items():
        assert service.command[:1] == (name,), name
        assert service.healthcheck is not None, name
        assert service.healthcheck.test[:2] == (ENTRYPOINT, "health"), name
        assert service.ipv4_address in project.network.subnet
        assert all(c == "service_healthy" for c in service.depends_on.values()), name
        Topology.refuse_unmapped(service, PathMap(tuple(
            (v.target, v.source) for v in service.volumes)))


def test_the_image_entrypoint_is_what_the_harness_runs() -> None:
    """The harness runs a service's command after the venv's ``ims-core``, as the image's
    ENTRYPOINT does."""
    assert f'ENTRYPOINT ["{ENTRYPOINT}"]' in (DOCKER / "Dockerfile").read_text()


def test_health_probe_schedule_as_docker() -> None:
    hc = Healthcheck(("x",), interval=5.0, start_period=10.0, start_interval=1.0)
    assert (hc.delay(0.0), hc.delay(9.9), hc.delay(10.0)) == (1.0, 1.0, 5.0)
    assert Healthcheck(("x",)).delay(0.0) == 30.0  # no start period: the interval


@pytest.mark.skipif(sys.platform != "linux", reason="the netns harness is Linux only")
def test_the_harness_says_why_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert netns.missing_requirements() == "network namespaces and a bridge need root"
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert netns.missing_requirements() == "the 'ip' command (iproute2) is not installed"
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/sbin/{name}")
    assert netns.missing_requirements() is None
