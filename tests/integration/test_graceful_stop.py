"""A graceful stop on SIGTERM (`ims_core.cscf.drain`): new requests outside dialogs get 503
with Retry-After (RFC 3261 §21.5.4), the transactions under way finish, the process exits
0 within its grace (5 s) and a node with Diameter sends DPR (RFC 6733 §5.4).

Loopback: a P-CSCF alone on 127.0.0.178 with a fake I-CSCF (a socket of the test) on
.179 and a fake UE on .177; then the four nodes (P-CSCF .171, I-CSCF .172, S-CSCF .173,
HSS .174) under a few registering UEs (.177)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ims_core.cscf import SipListen
from ims_core.cscf.drain import DEFAULT_STOP_GRACE
from ims_core.pcscf.config import PcscfConfig, RegEventConfig
from ims_core.sip import Request, Response, make_response, parse_message
from ims_lab.addresses import DOMAIN, SIP_PORT, Addresses
from ims_lab.procs import IMS_CORE, Child, Processes, free_port, wait_listening
from ims_lab.tomlwrite import write_toml
from tests.pcscf.messages import register

from .failover_lab import lab_configs, outcome, start_nodes, ue_argv

pytestmark = pytest.mark.integration

PCSCF = ("127.0.0.178", SIP_PORT)
FAKE_ICSCF = ("127.0.0.179", SIP_PORT)
UE_HOST = "127.0.0.177"
PLAN = Addresses("127.0.0.171", "127.0.0.172", "127.0.0.173", "127.0.0.174",
                 diameter_port=free_port("127.0.0.174"))


def udp(host: str, port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    sock.settimeout(5)
    return sock


def receive(sock: socket.socket) -> Request | Response:
    data, _ = sock.recvfrom(65535)
    return parse_message(data)


def wait_for_text(child: Child, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in child.output():
        assert time.monotonic() < deadline, f"no {text!r} in:\n{child.output()[-3000:]}"
        time.sleep(0.02)


def wait_exit(child: Child, timeout: float) -> tuple[int, float]:
    start = time.monotonic()
    code = child.proc.wait(timeout=timeout)
    return code, time.monotonic() - start


def test_sigterm_answers_new_requests_503_and_finishes_the_ones_under_way(
        tmp_path: Path) -> None:
    ue = udp(UE_HOST)
    icscf = udp(*FAKE_ICSCF)
    ue_port = ue.getsockname()[1]
    cfg = PcscfConfig(sip=SipListen(host=PCSCF[0], port=PCSCF[1]),
                      home_networks={DOMAIN: f"{FAKE_ICSCF[0]}:{FAKE_ICSCF[1]}"},
                      regevent=RegEventConfig(subscribe=False))
    procs = Processes(tmp_path)
    try:
        child = procs.start("pcscf", [*IMS_CORE, "pcscf", "-c",
                                      str(write_toml(tmp_path / "pcscf.toml", cfg))])
        wait_listening(*PCSCF, timeout=20, proc=child.proc)
        ue.sendto(register(ue=(UE_HOST, ue_port), call_id="under-way").to_bytes(), PCSCF)
        held = receive(icscf)  # the REGISTER under way, held by the "I-CSCF"
        assert isinstance(held, Request) and held.method == "REGISTER"

        child.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        wait_for_text(child, "cscf.draining")
        ue.sendto(register(ue=(UE_HOST, ue_port), call_id="too-late").to_bytes(), PCSCF)
        refused = receive(ue)
        assert isinstance(refused, Response)
        assert refused.status == 503 and refused.headers.get("retry-after") == "30"
        assert refused.headers.get("call-id") == "too-late"

        via = held.vias()[0]
        icscf.sendto(make_response(held, 401, to_tag="i1").to_bytes(),
                     (via.host, via.port or SIP_PORT))
        done = receive(ue)
        assert isinstance(done, Response)
        assert (done.status, done.headers.get("call-id")) == (401, "under-way")

        code = child.proc.wait(timeout=DEFAULT_STOP_GRACE + 1)
        assert code == 0, child.output()[-3000:]
        assert time.monotonic() - signalled <= DEFAULT_STOP_GRACE + 1
        assert "outcome=idle" in child.output() or '"outcome": "idle"' in child.output()
    finally:
        procs.stop_all()
        ue.close()
        icscf.close()


def test_sigterm_under_load_exits_0_in_time_and_the_scscf_sends_dpr(tmp_path: Path) -> None:
    procs = Processes(tmp_path)
    ues: list[subprocess.Popen[str]] = []
    try:
        children = start_nodes(procs, PLAN, tmp_path, lab_configs(PLAN, tmp_path),
                               subscribers=8)
        ues = [subprocess.Popen(ue_argv(PLAN, n, f"{UE_HOST}:{16200 + n}", "--timeout", "4"),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=tmp_path) for n in range(1, 9)]
        wait_for_text(children["scscf"], "scscf.registered", timeout=20)  # under way
        pcscf = children["pcscf"]
        pcscf.proc.send_signal(signal.SIGTERM)
        code, took = wait_exit(pcscf, DEFAULT_STOP_GRACE + 1)
        assert code == 0 and took <= DEFAULT_STOP_GRACE + 1, pcscf.output()[-3000:]
        # Nothing was left in flight when it closed: each transaction under way ended.
        assert "outcome=idle" in pcscf.output(), pcscf.output()[-3000:]
        statuses = []
        for proc in ues:
            out, _ = proc.communicate(timeout=60)
            statuses.append(outcome(out).get("status"))
        # A UE was answered while the P-CSCF drained (200 for the registration the
        # S-CSCF had just accepted, 503 for a new REGISTER) or, once it was gone, timed
        # out itself (408 from the UE's own Timer F): never another failure.
        assert set(statuses) <= {200, 503, 408, None}, (statuses, pcscf.output()[-3000:])
        assert 200 in statuses, statuses

        scscf = children["scscf"]
        scscf.proc.send_signal(signal.SIGTERM)
        code, took = wait_exit(scscf, DEFAULT_STOP_GRACE + 1)
        assert code == 0 and took <= DEFAULT_STOP_GRACE + 1, scscf.output()[-3000:]
        wait_for_text(children["hss"], "DPR (cause")  # RFC 6733 §5.4: the HSS saw it
    finally:
        for proc in ues:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        procs.stop_all()
