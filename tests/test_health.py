"""``ims-core health``: real nodes on 127.0.0.91-94, probed as a container's HEALTHCHECK
would. A P-CSCF answers its OPTIONS; an S-CSCF answers 503 until its HSS is up, then 200,
connecting from its own SIP address; an HSS answers the CER (3010: the probe is no peer)
and is unhealthy once its store is gone, which the probe does not recreate."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hss.config import DiameterConfig as HssDiameter
from hss.config import HssConfig
from hss.server import HssServer
from ims_lab import cli, health, readyz
from ims_lab.addresses import Addresses
from ims_lab.plan import write_node_configs
from ims_lab.procs import IMS_CORE, Processes, free_port, wait_listening

pytestmark = pytest.mark.integration

PCSCF, ICSCF, SCSCF, HSS = "127.0.0.91", "127.0.0.92", "127.0.0.93", "127.0.0.94"
JSON_INFO = {"IMS_CORE__LOG__FORMAT": "json", "IMS_CORE__LOG__LEVEL": "info"}


@pytest.fixture
def plan() -> Addresses:
    return Addresses(pcscf=PCSCF, icscf=ICSCF, scscf=SCSCF, hss=HSS,
                     sip_port=free_port(SCSCF), diameter_port=free_port(HSS))


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    p = Processes(tmp_path)
    try:
        yield p
    finally:
        p.stop_all()


def ims_health(node: str, config: Path, *sets: str, env: dict[str, str] | None = None
               ) -> tuple[int, str]:
    """``ims-core health`` as a process: (exit status, its one line)."""
    out = subprocess.run([*IMS_CORE, "health", node, "-c", str(config), "--timeout", "2",
                          *(a for s in sets for a in ("--set", s))],
                         capture_output=True, text=True, env={**os.environ, **(env or {})},
                         timeout=30)
    return out.returncode, out.stdout.strip()


def eventually_healthy(node: str, config: Path, seconds: float) -> readyz.Verdict:
    """Probe in-process until healthy (the node reconnects with backoff) or time is up."""
    deadline = time.monotonic() + seconds
    while True:
        verdict = health.probe(node, str(config), (), {}, 1.0)
        if verdict.healthy or time.monotonic() > deadline:
            return verdict
        time.sleep(0.3)


def test_a_pcscf_is_healthy_and_a_wrong_port_is_not(tmp_path: Path, plan: Addresses,
                                                    procs: Processes) -> None:
    configs = write_node_configs(tmp_path / "cfg", plan)
    # Advertised under a name (no DNS for it here): the probe sends to the bound address,
    # for the URI the node knows as its own.
    env = {"IMS_CORE__SIP__ADVERTISE": "pcscf.ims.example"}
    child = procs.start("pcscf", [*IMS_CORE, "pcscf", "-c", str(configs["pcscf"])], env=env)
    wait_listening(PCSCF, plan.sip_port, proc=child.proc)
    status, line = ims_health("pcscf", configs["pcscf"], env=env)
    assert status == 0 and line.startswith("healthy: pcscf: OPTIONS answered 200 OK"), line
    # The probe reads the config as the node does: --set and IMS_CORE__* move it too.
    other = str(free_port(PCSCF))
    status, line = ims_health("pcscf", configs["pcscf"], f"sip.port={other}", env=env)
    assert status == 1 and line.startswith("unhealthy: pcscf:") and other in line, line
    status, line = ims_health("pcscf", configs["pcscf"],
                              env={**env, "IMS_CORE__SIP__PORT": other})
    assert status == 1 and other in line, line


def test_a_scscf_is_unhealthy_until_its_hss_is_up(tmp_path: Path, plan: Addresses,
                                                  procs: Processes) -> None:
    configs = write_node_configs(tmp_path / "cfg", plan)
    data = tmp_path / "hss-data"
    hss_env = {"IMS_CORE__DATA_DIR": str(data), "IMS_CORE__SEED__COUNT": "3", **JSON_INFO}
    scscf = procs.start("scscf", [*IMS_CORE, "scscf", "-c", str(configs["scscf"])])
    wait_listening(SCSCF, plan.sip_port, proc=scscf.proc)

    status, line = ims_health("scscf", configs["scscf"])
    assert status == 1 and "503 Service Unavailable" in line, line
    assert "Retry-After" in line and "no Diameter connection to the HSS" in line

    hss = procs.start("hss", [*IMS_CORE, "hss", "-c", str(configs["hss"])], env=hss_env)
    wait_listening(HSS, plan.diameter_port, proc=hss.proc)
    verdict = eventually_healthy("scscf", configs["scscf"], 40)
    assert verdict.healthy and "200 OK" in verdict.reason, verdict.reason + scscf.output()
    status, line = ims_health("scscf", configs["scscf"])
    assert status == 0, line

    # The HSS saw the S-CSCF connect from the address its CER advertises (its SIP host).
    events = [json.loads(x) for x in hss.output().splitlines() if x.startswith("{")]
    ups = [e for e in events if e["event"] == "diameter_peer_up"]
    assert any(e["peer"] == plan.identity("scscf") and e["address"] == SCSCF for e in ups), ups
    assert any(e["event"] == "hss_seeded" and e["subscribers"] == 3 for e in events)

    # The HSS itself: the CER is answered (3010, the probe is no peer) and the store read.
    status, line = ims_health("hss", configs["hss"], env={"IMS_CORE__DATA_DIR": str(data)})
    assert status == 0 and "CEA 3010" in line and "readable" in line, line
    shutil.rmtree(data)  # the volume is gone
    status, line = ims_health("hss", configs["hss"], env={"IMS_CORE__DATA_DIR": str(data)})
    assert status == 1 and "no SQLite database" in line, line
    assert not data.exists()  # probing created nothing
    assert procs.stop(scscf) == 0 and procs.stop(hss) == 0  # SIGTERM: exit 0


def test_no_hss_listening_is_unhealthy(tmp_path: Path, plan: Addresses) -> None:
    configs = write_node_configs(tmp_path / "cfg", plan)
    verdict = health.probe("hss", str(configs["hss"]), (), {}, 1.0)
    assert not verdict.healthy and verdict.reason.startswith("hss: no Diameter on"), verdict


def test_a_bad_config_is_unhealthy_not_status_2(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Docker reserves HEALTHCHECK status 2: a config the probe cannot read is 1."""
    config = tmp_path / "pcscf.toml"
    config.write_text("")
    assert cli.main(["health", "pcscf", "-c", str(config), "--set", "sip.port=abc"]) == 1
    assert capsys.readouterr().out.strip() == (
        "unhealthy: pcscf: bad config: --set sip.port: expected int, got str")
    assert cli.main(["health", "hss", "-c", str(tmp_path / "missing.toml")]) == 1
    assert "config file not found" in capsys.readouterr().out


async def test_an_hss_that_accepts_the_probe_is_left_with_dpr(tmp_path: Path) -> None:
    """An HSS taking the probe as a peer (2001) gets a DPR: the probe never stays."""
    realm = HssConfig().cx.domain
    cfg = HssConfig(data_dir=str(tmp_path), workers=1, diameter=HssDiameter(
        listen_host=HSS, listen_port=0, peers=(f"health.{realm}",)))
    server = HssServer(cfg)
    try:
        port = await server.start()
        probed = dataclasses.replace(cfg, diameter=dataclasses.replace(cfg.diameter,
                                                                       listen_port=port))
        verdict = await asyncio.to_thread(health.probe_hss, probed, 3.0)
        assert verdict.healthy and "CEA 2001 SUCCESS" in verdict.reason, verdict
        assert server.node is not None
        for _ in range(100):
            if not server.node.open_peers:
                break
            await asyncio.sleep(0.02)
        assert server.node.open_peers == []
    finally:
        await server.stop()


def test_http_probe_without_a_listener_or_with_a_bad_url(
        capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port(PCSCF)
    url = f"http://{PCSCF}:{port}/readyz"
    verdict = readyz.probe_http("pcscf", url, 1.0)
    assert verdict == readyz.Verdict(False, f"pcscf: no HTTP answer from {url}: "
                                            "Connection refused")
    assert readyz.probe_http("hss", "https://h/readyz", 1.0) == readyz.Verdict(
        False, "hss: 'https://h/readyz' is no http:// URL")
    assert not readyz.probe_http("hss", "http://h:x/readyz", 1.0).healthy
    assert cli.main(["health", "icscf", "--http", "ftp://127.0.0.1/readyz"]) == 1
    assert capsys.readouterr().out == (
        "unhealthy: icscf: 'ftp://127.0.0.1/readyz' is no http:// URL\n")
    assert health.metrics_url("0.0.0.0", 9090) == "http://127.0.0.1:9090/readyz"
    assert health.metrics_url("::", 9090, "/metrics") == "http://[::1]:9090/metrics"


def test_the_http_probe_loads_neither_the_cscfs_nor_the_hss() -> None:
    """A HEALTHCHECK's ``health NODE --http URL`` (every few seconds in every container)
    imports http.client, not the nodes: about 40 ms of CPU instead of 250 here."""
    port = free_port(PCSCF)
    code = ("import sys; from ims_lab import cli; status = cli.main(['health', 'pcscf', "
            f"'--http', 'http://{PCSCF}:{port}/readyz', '--timeout', '1']); "
            "print(status, sorted({m.split('.')[0] for m in sys.modules} & {'ims_core', 'hss'}))")
    out = subprocess.run([IMS_CORE[0], "-c", code], capture_output=True, text=True, timeout=30,
                         check=True).stdout.splitlines()
    assert out == [f"unhealthy: pcscf: no HTTP answer from http://{PCSCF}:{port}/readyz: "
                   "Connection refused", "1 []"]


@pytest.mark.parametrize("argv", [
    ["health", "hss", "--http"],  # the URL from the config
    ["health", "hss", "-c", "config/hss.toml", "--http", "http://h/readyz"],
    ["health", "hss", "--set", "metrics.port=1", "--http", "http://h/readyz"],
    ["health", "mme", "--http", "http://h/readyz"],  # the full command names the choices
    ["health", "hss", "--http", "http://h/readyz", "--timeout", "soon"],
    ["health", "--help"],
    ["health", "hss"],
    ["lab"],
    [],
])
def test_any_other_command_line_goes_to_the_full_command(argv: list[str]) -> None:
    assert readyz.quick(argv) is None


def test_the_quick_probe_knows_the_same_nodes() -> None:
    assert list(readyz.NODES) == [*health.CSCF_CONFIGS, "hss"]
