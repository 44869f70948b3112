"""A CSCF process with ``[metrics]`` (and ``[hep]``) on: its /metrics counts what it
served, /readyz says whether it can serve (an S-CSCF without its HSS cannot), ``ims-core
health --http`` follows /readyz, and a metrics address in use stops the node with exit 3.
Real processes on 127.0.0.141-144 (P-, I-, S-CSCF, HSS)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ims_core.sip import Response, parse_message
from ims_lab import health
from ims_lab.addresses import Addresses
from ims_lab.plan import write_node_configs
from ims_lab.procs import IMS_CORE, Child, Processes, free_port, wait_listening

pytestmark = pytest.mark.integration

PCSCF, ICSCF, SCSCF, HSS = "127.0.0.141", "127.0.0.142", "127.0.0.143", "127.0.0.144"


@pytest.fixture
def plan() -> Addresses:
    return Addresses(pcscf=PCSCF, icscf=ICSCF, scscf=SCSCF, hss=HSS,
                     sip_port=free_port(PCSCF), diameter_port=free_port(HSS),
                     metrics_port=free_port(SCSCF))


@pytest.fixture
def configs(tmp_path: Path, plan: Addresses) -> dict[str, Path]:
    return write_node_configs(tmp_path / "cfg", plan, metrics=True)


def fetch(plan: Addresses, node: str, path: str) -> tuple[int, str]:
    host, port = plan.metrics(node)
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def samples(plan: Addresses, node: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = fetch(plan, node, "/metrics")
    assert status == 200, text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def start(processes: Processes, plan: Addresses, configs: dict[str, Path], node: str,
          *args: str, env: dict[str, str] | None = None) -> Child:
    child = processes.start(node, [*IMS_CORE, node, "-c", str(configs[node]), *args], env=env)
    wait_listening(*plan.probe(node), proc=child.proc)
    wait_listening(*plan.metrics(node), proc=child.proc)
    return child


def eventually(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def options_once(plan: Addresses, node: str) -> Response:
    """One OPTIONS for the node's own URI over UDP, sent once (no retransmission)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((PCSCF if node == "pcscf" else SCSCF, 0))
        target = (getattr(plan, node), plan.sip_port)
        request = health.options_request(target, sock.getsockname(), os.urandom)
        sock.settimeout(5)
        sock.sendto(request.to_bytes(), target)
        answer = parse_message(sock.recv(65535))
    assert isinstance(answer, Response)
    return answer


def ims_health(node: str, *args: str) -> tuple[int, str]:
    out = subprocess.run([*IMS_CORE, "health", node, "--timeout", "2", *args],
                         capture_output=True, text=True, timeout=30, check=False)
    return out.returncode, out.stdout.strip()


def test_a_pcscf_serves_metrics_and_is_ready(plan: Addresses, configs: dict[str, Path],
                                             processes: Processes) -> None:
    child = start(processes, plan, configs, "pcscf")
    assert fetch(plan, "pcscf", "/readyz") == (200, "ready\n")
    assert fetch(plan, "pcscf", "/healthz") == (200, "ok\n")
    before = samples(plan, "pcscf")
    assert before[("ims_node_info", (("node", "pcscf"), ("version", "0.1.0")))] == 1
    assert ("ims_sip_requests_received_total", (("method", "OPTIONS"),)) not in before
    assert options_once(plan, "pcscf").status == 200
    after = samples(plan, "pcscf")
    assert after[("ims_sip_requests_received_total", (("method", "OPTIONS"),))] == 1
    assert after[("ims_sip_responses_sent_total", (("class", "2xx"), ("method", "OPTIONS")))] == 1
    assert after[("ims_registrations_active", ())] == 0
    assert after[("process_resident_memory_bytes", ())] > 0
    url = f"http://{PCSCF}:{plan.metrics_port}/readyz"
    assert ims_health("pcscf", "--http", url) == (0, f"healthy: pcscf: {url} answered 200 OK: "
                                                     "ready")
    assert ims_health("pcscf", "-c", str(configs["pcscf"]), "--http")[0] == 0
    assert processes.stop(child) == 0
    with pytest.raises(OSError):
        socket.create_connection(plan.metrics("pcscf"), timeout=1).close()
    out = child.output()
    assert "pcscf.metrics_listening" in out and f"{url[:-7]}/metrics" in out


def test_a_scscf_is_not_ready_until_its_hss_is_up(plan: Addresses, configs: dict[str, Path],
                                                  processes: Processes, tmp_path: Path) -> None:
    start(processes, plan, configs, "scscf")
    status, body = fetch(plan, "scscf", "/readyz")
    reason = f"diameter: no open peer (hss {HSS}:{plan.diameter_port})"
    assert (status, body) == (503, f"{reason}\n")
    assert fetch(plan, "scscf", "/healthz") == (200, "ok\n")  # alive, only not ready
    url = f"http://{SCSCF}:{plan.metrics_port}/readyz"
    code, line = ims_health("scscf", "--http", url)
    assert (code, line) == (1, f"unhealthy: scscf: {url} answered 503 Service Unavailable: "
                               f"{reason}")
    peer = plan.identity("hss")
    assert samples(plan, "scscf").get(("ims_diameter_peer_open", (("peer", peer),)), 0) == 0

    hss_env = {"IMS_CORE__DATA_DIR": str(tmp_path / "hss-data"), "IMS_CORE__SEED__COUNT": "1"}
    processes.start("hss", [*IMS_CORE, "hss", "-c", str(configs["hss"])], env=hss_env)
    eventually(lambda: fetch(plan, "scscf", "/readyz") == (200, "ready\n"), 40)
    assert ims_health("scscf", "--http", url)[0] == 0
    assert samples(plan, "scscf")[("ims_diameter_peer_open", (("peer", peer),))] == 1


def test_a_metrics_address_in_use_exits_3(plan: Addresses, configs: dict[str, Path],
                                          processes: Processes) -> None:
    with socket.socket() as busy:
        busy.bind(plan.metrics("pcscf"))
        busy.listen()
        child = processes.start("pcscf", [*IMS_CORE, "pcscf", "-c", str(configs["pcscf"]),
                                      "--set", "log.format=json"])
        assert child.proc.wait(30) == 3, child.output()
    events = [json.loads(x) for x in child.output().splitlines() if x.startswith("{")]
    failed = [e for e in events if e["event"] == "pcscf.metrics_bind_failed"]
    assert failed and failed[0]["port"] == plan.metrics_port, child.output()
    assert events[-1]["event"] == "pcscf.stopped"


def test_metrics_off_opens_no_port(plan: Addresses, configs: dict[str, Path],
                                   processes: Processes) -> None:
    child = processes.start("pcscf", [*IMS_CORE, "pcscf", "-c", str(configs["pcscf"]),
                                  "--set", "metrics.enabled=false"])
    wait_listening(*plan.probe("pcscf"), proc=child.proc)
    with pytest.raises(OSError):
        socket.create_connection(plan.metrics("pcscf"), timeout=1).close()
    code, line = ims_health("pcscf", "-c", str(configs["pcscf"]), "--set",
                            "metrics.enabled=false", "--http")
    assert (code, line) == (1, "unhealthy: pcscf: bad config: metrics.enabled is false: the "
                               "node serves no /readyz")


def test_hep_copies_go_to_the_collector(plan: Addresses, configs: dict[str, Path],
                                        processes: Processes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as collector:
        collector.bind((PCSCF, 0))
        collector.settimeout(5)
        port = collector.getsockname()[1]
        start(processes, plan, configs, "pcscf", "--set", "hep.enabled=true",
              "--set", f"hep.host={PCSCF}", "--set", f"hep.port={port}",
              "--set", "hep.capture_id=2001")
        assert options_once(plan, "pcscf").status == 200
        copies = [collector.recv(65535) for _ in range(2)]  # the OPTIONS and its 200
    assert all(c.startswith(b"HEP3") for c in copies)
    assert any(b"OPTIONS sip:" in c for c in copies)
    assert any(b"SIP/2.0 200 OK" in c for c in copies)
