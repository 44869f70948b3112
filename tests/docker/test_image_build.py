"""docker/ checked without a Docker engine.

- The wheels the image's builder stage makes (``pip wheel .[postgres]`` from what it
  COPYs) install into a fresh venv and run there with no compiler on PATH: the auth core is
  the compiled C one and ``ims-core --help`` runs. Building the wheels uses pip's usual
  configuration (its index and cache), as the builder stage and ``make install`` do;
  installing them is offline (``--no-index``, wheels only), as in the runtime stage.
- hadolint passes on docker/Dockerfile and ``docker-compose config -q`` on the compose file
  (each skipped when the tool is missing; ``make docker-check`` installs both).
- Every deployment setting reaches the node configs from docker/.env: with another PLMN,
  no node is left with the lab's domain or a loopback address in a setting it uses.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from hss.config import HssConfig
from ims_core.config import load
from ims_core.icscf import IcscfConfig
from ims_core.pcscf.config import PcscfConfig
from ims_core.scscf.config import ScscfConfig
from tests.docker.compose import (
    Service,
    interpolate_tree,
    load_project,
    parse_env_file,
    parse_yaml,
)

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
ENV_FILE = DOCKER / ".env"
COMPILERS = ("cc", "gcc", "clang", "c++", "g++", "x86_64-linux-gnu-gcc")
# Left out of the build context by .dockerignore.
NOT_IN_CONTEXT = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.so")
STEP_TIMEOUT = 50.0

# The config class of each process the compose file runs, by its command (`ims-core <it>`).
NODE_CONFIGS: dict[str, type[Any]] = {
    "hss": HssConfig, "scscf": ScscfConfig, "icscf": IcscfConfig, "pcscf": PcscfConfig,
    "hss-api": HssConfig,
}


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=STEP_TIMEOUT,
                          check=False, **kwargs)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, (
        f"{proc.args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def builder_sources(dockerfile: str) -> list[str]:
    """What the first stage (the builder) COPYs from the build context."""
    builder = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[1]
    sources: list[str] = []
    for line in builder.splitlines():
        if line.startswith("COPY "):
            args = [a for a in line.split()[1:] if not a.startswith("--")]
            sources += args[:-1]
    return sources


def test_builder_copies_the_package_sources() -> None:
    assert builder_sources(DOCKERFILE.read_text()) == [
        "pyproject.toml", "README.md", "ims_core", "hss", "ims_lab",
    ]


@pytest.mark.timeout(60)
def test_builder_wheels_run_without_a_compiler(tmp_path: Path) -> None:
    src, wheels, venv = tmp_path / "src", tmp_path / "wheels", tmp_path / "venv"
    src.mkdir()
    for name in builder_sources(DOCKERFILE.read_text()):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=NOT_IN_CONTEXT)
        else:
            shutil.copy2(ROOT / name, src / name)
    # The builder stage's RUN, with pip's cache: the auth core is compiled here.
    ok(run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
            "--wheel-dir", str(wheels), ".[postgres]"], cwd=src))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("".join(f"{w}\n" for w in sorted(wheels.glob("*.whl"))))

    # The runtime stage: a fresh venv (no system site-packages), a PATH holding only its
    # bin directory (python and pip), no pip configuration, wheels only, no index.
    ok(run([sys.executable, "-m", "venv", str(venv)]))
    bin_dir = venv / "bin"
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "LC_ALL": "C.UTF-8",
           "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    assert [c for c in COMPILERS if shutil.which(c, path=env["PATH"])] == []
    ok(run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-index",
            "--only-binary=:all:", "--requirement", str(requirements)], env=env, cwd=tmp_path))

    # Outside the source tree, so only the installed package can be imported.
    probe = ("import ims_core, ims_core.auth as a; assert a.BACKEND == 'c', a.BACKEND; "
             "print(ims_core.__file__)")
    where = ok(run(["python", "-c", probe], env=env, cwd=tmp_path)).strip()
    assert Path(where).is_relative_to(venv), where
    usage = ok(run(["ims-core", "--help"], env=env, cwd=tmp_path))
    for command in ("hss", "pcscf", "icscf", "scscf", "subscriber"):
        assert command in usage


def tool(name: str) -> str:
    """*name* on PATH or beside this interpreter (the venv's hadolint), else skip."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (make docker-check installs it)")
    return found


def test_hadolint_passes() -> None:
    ok(run([tool("hadolint"), "--failure-threshold", "warning", str(DOCKERFILE)]))


@pytest.mark.parametrize("profiles", [(), ("sipp", "postgres"), ("monitoring",)])
def test_docker_compose_config_passes(profiles: tuple[str, ...]) -> None:
    flags = [f for p in profiles for f in ("--profile", p)]
    ok(run([tool("docker-compose"), "-f", str(COMPOSE), "--env-file", str(ENV_FILE),
            *flags, "config", "-q"], cwd=ROOT))


# -- settings from .env --------------------------------------------------------------------

OTHER_PLMN = {"MCC": "999", "MNC": "070"}
OTHER_DOMAIN = "ims.mnc070.mcc999.3gppnetwork.org"
LAB_DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"


def node_config(service: Service) -> Any:
    """The config ``service`` runs with: its ``-c`` file through its volume mounts, with its
    environment."""
    path = service.command[service.command.index("-c") + 1]
    for volume in service.volumes:
        if not volume.named and path.startswith(volume.target + "/"):
            path = volume.source + path[len(volume.target):]
    return load(NODE_CONFIGS[service.command[0]], path, environ=service.environment)


def used_settings(node: Any, skip: frozenset[str] = frozenset()) -> Iterator[str]:
    """The text settings of a config that its process uses: a table that is off
    (``enabled = false``) and the top-level tables in ``skip`` are left out."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        if getattr(node, "enabled", True) is False:
            return
        for f in dataclasses.fields(node):
            if f.name not in skip:
                yield from used_settings(getattr(node, f.name))
    elif isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from used_settings(key)
            yield from used_settings(value)
    elif isinstance(node, list | tuple | set | frozenset):
        for value in node:
            yield from used_settings(value)


def test_used_settings_skip_what_is_off() -> None:
    cfg = load(PcscfConfig, DOCKER / "config" / "pcscf.toml",
               environ={"IMS_CORE__LOG__LEVEL": "debug", "IMS_CORE__HEP__HOST": "192.0.2.9"})
    assert "debug" in set(used_settings(cfg))
    assert "192.0.2.9" not in set(used_settings(cfg))  # [hep] is off
    assert "debug" not in set(used_settings(cfg, frozenset({"log"})))


def test_every_node_takes_domain_and_addresses_from_env() -> None:
    project = load_project(COMPOSE, ENV_FILE, environ=OTHER_PLMN)
    assert {s.command[0] for s in project.services.values()} == set(NODE_CONFIGS)
    for name, service in project.services.items():
        cfg = node_config(service)
        # The [api] table is the hss-api process's only.
        used = " ".join(used_settings(cfg, frozenset(
            () if service.command[0] == "hss-api" else ("api",))))
        assert LAB_DOMAIN not in used and "127.0.0." not in used, (name, used)
        assert OTHER_DOMAIN in used, name
        if name != "hss-api":
            listen = cfg.diameter.listen_host if name == "hss" else cfg.sip.host
            assert listen == str(service.ipv4_address), name
    ip = {name: str(s.ipv4_address) for name, s in project.services.items()}
    hss = node_config(project.services["hss"])
    assert hss.diameter.origin_host == f"hss.{OTHER_DOMAIN}"
    assert set(hss.diameter.peers) == {f"icscf.{OTHER_DOMAIN}", f"scscf.{OTHER_DOMAIN}"}
    scscf = node_config(project.services["scscf"])
    assert scscf.diameter.origin_host == f"scscf.{OTHER_DOMAIN}"
    assert scscf.diameter.hss_host == ip["hss"]
    assert scscf.server_name in hss.cx.capabilities.server_names
    icscf = node_config(project.services["icscf"])
    assert [(s.name, s.address) for s in icscf.scscf] == [
        (scscf.server_name, f"{ip['scscf']}:{scscf.sip.port}")]
    pcscf = node_config(project.services["pcscf"])
    assert pcscf.home_networks == {OTHER_DOMAIN: f"{ip['icscf']}:{icscf.sip.port}"}


def all_services(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Every service, profiles included, interpolated as Compose does."""
    variables = {**parse_env_file(ENV_FILE.read_text(), environ), **environ}
    services: dict[str, dict[str, Any]] = interpolate_tree(
        parse_yaml(COMPOSE.read_text()), variables)["services"]
    return services


def test_profile_services_match_the_hss() -> None:
    services = all_services(OTHER_PLMN)
    env = {name: dict(spec.get("environment") or {}) for name, spec in services.items()}
    hss, alt = env["hss"], env["hss-postgres"]
    assert {k: v for k, v in alt.items() if not k.startswith("IMS_CORE__STORE__")} == hss
    assert alt["IMS_CORE__STORE__BACKEND"] == "postgres"
    # SIPp's injection file: the subscribers the HSS seeds, in the HSS's domain.
    sipp = env["sipp"]
    assert sipp["IMS_CORE__CX__DOMAIN"] == hss["IMS_CORE__CX__DOMAIN"] == OTHER_DOMAIN
    assert sipp["SIPP_USERS"] == hss["IMS_CORE__SEED__COUNT"]
    assert sipp["SIPP_FIRST_IMSI"] == hss["IMS_CORE__SEED__FIRST"]
    # The scenario SIPp runs is the copy sipp-register.sh rewrites to that domain.
    command = services["sipp"]["command"]
    assert command[command.index("-sf") + 1] == "/tmp/register_aka.xml"
    script = (COMPOSE.parent / "sipp-register.sh").read_text()
    assert 's/$lab/${IMS_CORE__CX__DOMAIN:?}/g' in script
