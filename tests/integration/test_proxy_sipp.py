"""SIPp's built-in uac and uas through `ims-core proxy` on loopback: 2,000 calls over UDP
and 2,000 over TCP with zero failures, captured and checked with tshark."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import (
    Capture,
    Processes,
    SippResult,
    free_port,
    require_tools,
    run_sipp,
    sipp_argv,
    start_proxy,
    tshark,
)

pytestmark = pytest.mark.integration

CALLS = 2000
RATE = "400"  # calls per second; the whole module stays well under a minute
HOST = "127.0.0.1"


@dataclass
class Run:
    uac: SippResult
    uas_code: int
    uas_screen: str


@dataclass
class Traffic:
    runs: dict[str, Run]
    capture: Path
    decode: list[str]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    require_tools("sipp", "tshark", "dumpcap")
    workdir = tmp_path_factory.mktemp("proxy_sipp")
    procs = Processes(workdir)
    try:
        proxy_port, uas_port, uac_port = free_port(HOST), free_port(HOST), free_port(HOST)
        capture = Capture(procs, workdir / "proxy.pcapng",
                          f"port {proxy_port} or port {uas_port} or port {uac_port}")
        proxy = start_proxy(procs, (HOST, proxy_port), (HOST, uas_port), "--record-route")
        runs: dict[str, Run] = {}
        for transport in ("u1", "t1"):
            uas = procs.start(f"uas_{transport}", sipp_argv(
                "uas", (HOST, uas_port), transport, CALLS, "-timeout", "60s"))
            # The uas listens at once; give it a moment to bind before the first INVITE.
            _wait_bound(uas_port, transport)
            uac = run_sipp(workdir, f"uac_{transport}", sipp_argv(
                "uac", (HOST, uac_port), transport, CALLS,
                "-r", RATE, "-rp", "1000", "-l", "2000",
                "-timeout", "60s", "-timeout_error", "-max_recv_loops", "10000",
                remote=(HOST, proxy_port),
            ), timeout=90)
            try:
                uas_code = uas.proc.wait(20)
            except Exception:
                uas_code = procs.stop(uas)
            runs[transport] = Run(uac, uas_code, uas.output())
        assert proxy.proc.poll() is None, proxy.output()
        assert procs.stop(proxy) == 0, proxy.output()
        capture.stop()
        decode = ["-d", f"udp.port=={proxy_port},sip", "-d", f"tcp.port=={proxy_port},sip",
                  "-d", f"tcp.port=={uas_port},sip"]
        yield Traffic(runs, capture.path, decode)
    finally:
        procs.stop_all()


def _wait_bound(port: int, transport: str) -> None:
    import socket
    import time

    kind = socket.SOCK_DGRAM if transport.startswith("u") else socket.SOCK_STREAM
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                return  # taken: SIPp has bound it
        time.sleep(0.05)
    pytest.fail(f"SIPp uas did not bind {transport} port {port}")


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_calls_through_proxy(traffic: Traffic, transport: str) -> None:
    run = traffic.runs[transport]
    uac = run.uac
    detail = uac.screen[-2500:]
    assert uac.returncode == 0, f"SIPp uac exit {uac.returncode}:\n{detail}"
    assert uac.failed == 0, detail
    assert uac.successful == CALLS, detail
    assert run.uas_code == 0, f"SIPp uas exit {run.uas_code}:\n{run.uas_screen[-2500:]}"


def test_capture_has_no_malformed_or_expert_entries(traffic: Traffic) -> None:
    # Stricter than errors only: warnings fail too, except the "Sequence" group
    # (PI_SEQUENCE: TCP's dup-ACK/D-SACK notes under load on loopback), which says
    # nothing about the SIP carried.
    bad = tshark("-r", str(traffic.capture), *traffic.decode, "-Y",
                 "_ws.malformed || _ws.expert.severity >= error"
                 " || (_ws.expert.severity >= warning && !(_ws.expert.group == 0x02000000))")
    assert bad.returncode == 0, bad.stderr
    assert bad.stdout.strip() == "", bad.stdout[:3000]


def test_capture_decodes_as_sip(traffic: Traffic) -> None:
    out = tshark("-r", str(traffic.capture), *traffic.decode, "-Y", "sip.Method == \"INVITE\"",
                 "-T", "fields", "-e", "frame.protocols")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # Each call's INVITE crosses two legs (uac -> proxy -> uas).
    assert sum("udp" in line for line in lines) >= 2 * CALLS
    assert sum("tcp" in line for line in lines) > 0
