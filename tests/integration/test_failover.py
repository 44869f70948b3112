"""Failover on loopback (TS 24.229 §5.3.1.3; RFC 3261 §16.6, §16.9): P-CSCF 127.0.0.171,
I-CSCF .172, S-CSCF .173, HSS .174, our UEs on .177. The P-CSCF lists two I-CSCFs, the
first (.175) not running; the I-CSCF's pool holds two S-CSCFs, the first (.176) a
blackhole that reads and drops every datagram, and the HSS lists that one first in its
Server-Capabilities. Initial registrations still succeed, through the second of each."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from hss.config import CapabilitiesConfig, HssConfig
from ims_core.icscf import IcscfConfig, ScscfEntry
from ims_core.pcscf.config import PcscfConfig
from ims_lab.addresses import DOMAIN, SIP_PORT, Addresses
from ims_lab.procs import Processes, free_port
from tests.sipnet import UdpSink

from .failover_lab import lab_configs, outcome, run_ue, start_nodes

pytestmark = pytest.mark.integration

PLAN = Addresses("127.0.0.171", "127.0.0.172", "127.0.0.173", "127.0.0.174",
                 diameter_port=free_port("127.0.0.174"))
DEAD_ICSCF = "127.0.0.175"
BLACKHOLE = "127.0.0.176"
UE_HOST = "127.0.0.177"
DEAD_SCSCF_NAME = f"sip:scscf-b.{DOMAIN}:5060"


class Blackhole(UdpSink):
    """A UDP socket that reads and drops: an S-CSCF that never answers."""


@pytest.fixture
def blackhole() -> Iterator[Blackhole]:
    hole = Blackhole(BLACKHOLE, SIP_PORT)
    yield hole
    hole.close()


def test_registrations_succeed_past_a_dead_icscf_and_a_silent_scscf(
        tmp_path: Path, blackhole: Blackhole) -> None:
    configs = lab_configs(PLAN, tmp_path)
    hss = configs["hss"]
    icscf = configs["icscf"]
    pcscf = configs["pcscf"]
    assert isinstance(hss, HssConfig) and isinstance(icscf, IcscfConfig)
    assert isinstance(pcscf, PcscfConfig)
    configs["hss"] = dataclasses.replace(hss, cx=dataclasses.replace(
        hss.cx, capabilities=CapabilitiesConfig(
            server_names=(DEAD_SCSCF_NAME, PLAN.server_name))))
    configs["icscf"] = dataclasses.replace(icscf, scscf_timeout=1.0, scscf=(
        ScscfEntry(DEAD_SCSCF_NAME, f"{BLACKHOLE}:{SIP_PORT}"), *icscf.scscf))
    configs["pcscf"] = dataclasses.replace(
        pcscf, icscf_timeout=2.5,
        home_networks={DOMAIN: (f"{DEAD_ICSCF}:{SIP_PORT}", PLAN.sip("icscf"))})
    procs = Processes(tmp_path)
    try:
        children = start_nodes(procs, PLAN, tmp_path, configs, subscribers=5)
        for n in (1, 2, 3):
            done = run_ue(PLAN, n, f"{UE_HOST}:{16100 + n}", tmp_path)
            logs = "\n".join(f"--- {k}\n{c.output()[-3000:]}" for k, c in children.items())
            assert outcome(done.stdout).get("status") == 200, f"{done.stdout}\n{logs}"
        # Each initial REGISTER met the silent S-CSCF first, then went on.
        assert sum(b.startswith(b"REGISTER ") for b in blackhole.received) >= 3
        assert children["icscf"].output().count("cscf.next_hop_failover") >= 3
        assert children["pcscf"].output().count("cscf.next_hop_failover") >= 6  # 2 per UE
        for node in ("pcscf", "icscf"):
            assert procs.stop(children[node]) == 0
    finally:
        procs.stop_all()
