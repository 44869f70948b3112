"""The node commands' exit status (documented in their ``--help``): 0 stopped by SIGTERM,
2 bad arguments or configuration, 3 cannot bind or listen, 4 the HSS's store unreachable;
their logs on stdout, JSON lines with ``log.format = "json"``. Real processes on
127.0.0.91-94."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest

from ims_lab.addresses import Addresses
from ims_lab.plan import write_node_configs
from ims_lab.procs import IMS_CORE, free_port, stop_process, wait_listening

pytestmark = pytest.mark.integration

PCSCF, ICSCF, SCSCF, HSS = "127.0.0.91", "127.0.0.92", "127.0.0.93", "127.0.0.94"


@pytest.fixture
def configs(tmp_path: Path) -> dict[str, Path]:
    plan = Addresses(pcscf=PCSCF, icscf=ICSCF, scscf=SCSCF, hss=HSS,
                     sip_port=free_port(PCSCF), diameter_port=free_port(HSS))
    return write_node_configs(tmp_path, plan)


def ims_core(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IMS_CORE, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def sets(*items: str) -> list[str]:
    return [a for item in items for a in ("--set", item)]


@pytest.mark.parametrize(
    ("node", "extra", "env", "says"),
    [
        ("pcscf", sets("sip.port=abc"), {}, "--set sip.port: expected int, got str"),
        ("icscf", [], {"IMS_CORE__SIP__PROT": "1"}, "IMS_CORE__SIP__PROT: unknown key sip.prot"),
        ("scscf", sets("log.format=xml"), {}, "log.format must be 'console' or 'json'"),
        ("hss", sets("diameter.listen_port=x"), {},
         "--set diameter.listen_port: expected int, got str"),
    ],
)
def test_bad_configuration_exits_2(configs: dict[str, Path], node: str, extra: list[str],
                                   env: dict[str, str], says: str) -> None:
    out = ims_core(node, "-c", str(configs[node]), *extra, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert says in out.stderr


def test_a_missing_config_file_exits_2(tmp_path: Path) -> None:
    for node in ("pcscf", "hss"):
        out = ims_core(node, "-c", str(tmp_path / "missing.toml"))
        assert out.returncode == 2 and "not found" in out.stderr, out.stderr
    out = ims_core("subscriber", "-c", str(tmp_path / "missing.toml"), "list")
    assert out.returncode == 2 and "not found" in out.stderr, out.stderr


def test_an_address_in_use_exits_3(configs: dict[str, Path]) -> None:
    sip_port = free_port(PCSCF)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((PCSCF, sip_port))
        out = ims_core("pcscf", "-c", str(configs["pcscf"]), *sets(f"sip.port={sip_port}"))
    assert out.returncode == 3, out.stdout + out.stderr
    assert "pcscf.bind_failed" in out.stdout

    port = free_port(HSS)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.bind((HSS, port))
        tcp.listen()
        out = ims_core("hss", "-c", str(configs["hss"]), *sets(f"diameter.listen_port={port}"))
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"cannot listen on {HSS}:{port}" in out.stdout


def test_an_address_not_on_this_host_exits_3(configs: dict[str, Path]) -> None:
    # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): no interface here has it.
    out = ims_core("hss", "-c", str(configs["hss"]), *sets("diameter.listen_host=192.0.2.1"))
    assert out.returncode == 3, out.stdout + out.stderr
    out = ims_core("scscf", "-c", str(configs["scscf"]), *sets("sip.host=192.0.2.1"))
    assert out.returncode == 3, out.stdout + out.stderr


def test_an_unreachable_store_exits_4(configs: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    out = ims_core("hss", "-c", str(configs["hss"]), *sets(f"data_dir={blocker / 'data'}"))
    assert out.returncode == 4, out.stdout + out.stderr
    assert "hss_store_unreachable" in out.stdout

    closed = free_port(HSS)  # nothing listens there
    dsn = f"host={HSS} port={closed} dbname=hss user=hss connect_timeout=2"
    out = ims_core("hss", "-c", str(configs["hss"]),
                   *sets("store.backend=postgres", f"store.dsn={dsn}"))
    assert out.returncode == 4, out.stdout + out.stderr
    assert "PostgreSQL" in out.stdout


def start(argv: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*IMS_CORE, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **env})


def test_sigterm_exits_0_with_json_logs_on_stdout(configs: dict[str, Path]) -> None:
    env = {"IMS_CORE__LOG__FORMAT": "json"}
    port = int(tomllib.loads(configs["pcscf"].read_text())["sip"]["port"])  # every CSCF's
    nodes = {"pcscf": PCSCF, "icscf": ICSCF}
    procs = {node: start([node, "-c", str(configs[node])], env) for node in nodes}
    try:
        for node, host in nodes.items():
            wait_listening(host, port, proc=procs[node])
            procs[node].send_signal(signal.SIGTERM)
        outputs = {node: proc.communicate(timeout=20) for node, proc in procs.items()}
    finally:
        for proc in procs.values():
            stop_process(proc)
    for node, (out, err) in outputs.items():
        assert procs[node].returncode == 0, out + err
        events = [json.loads(line)["event"] for line in out.decode().splitlines()]
        assert f"{node}.listening" in events and f"{node}.stopped" in events  # all JSON
        assert err == b""
