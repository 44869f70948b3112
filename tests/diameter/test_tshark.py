"""Wireshark's Diameter dissector reads our encoding of every Cx and base command cleanly."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from ims_core.diameter import DiameterConfig, Peer, Role, decode
from ims_core.diameter.capabilities import build_cea, build_dpa, build_dpr, build_dwa, build_dwr
from ims_core.diameter.ids import EndToEnd

from . import samples as s
from .pcap import write_pcap

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed")


def _conversation() -> list[tuple[bool, bytes]]:
    client_cfg = DiameterConfig(s.SCSCF, s.DOMAIN, host_ip_addresses=("127.0.0.3",))
    server_cfg = DiameterConfig(s.HSS, s.DOMAIN, host_ip_addresses=("127.0.0.4",))
    peer = Peer(client_cfg, Role.INITIATOR, end_to_end=EndToEnd(0), rng=random.Random(0))
    peer.start(0.0)
    peer.connection_made(0.0)
    cer = peer.data_to_send()
    out = [(True, cer), (False, build_cea(server_cfg, decode(cer), 2001).encode())]
    hbh = 100
    for _, make_req, make_ans in s.ALL:
        req = make_req()
        req.hop_by_hop = req.end_to_end = hbh
        hbh += 1
        from_client = req.name in ("UAR", "MAR", "SAR", "LIR")
        out.append((from_client, req.encode()))
        out.append((not from_client, make_ans(decode(req.encode())).encode()))
    dwr = build_dwr(client_cfg)
    dpr = build_dpr(client_cfg, 0)
    out += [(True, dwr.encode()), (False, build_dwa(server_cfg, dwr).encode())]
    out += [(True, dpr.encode()), (False, build_dpa(server_cfg, dpr).encode())]
    return out


def test_tshark_decodes_cleanly(tmp_path: Path) -> None:
    assert TSHARK is not None
    pcap = tmp_path / "cx.pcap"
    write_pcap(pcap, _conversation())
    fields = subprocess.run(
        [TSHARK, "-n", "-r", str(pcap), "-T", "fields", "-e", "diameter.cmd.code",
         "-e", "diameter.flags.request", "-e", "_ws.expert.severity", "-e", "_ws.malformed"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    rows = [line.split("\t") for line in fields.stdout.splitlines()]
    codes = [r[0] for r in rows]
    assert codes == ["257", "257"] + [c for c in ("300", "303", "303", "301", "302", "304", "305")
                                      for _ in (0, 1)] + ["280", "280", "282", "282"]  # fmt: skip
    problems = [r for r in rows if any(x.strip() for x in r[2:])]
    assert problems == []
    cmd = [TSHARK, "-n", "-r", str(pcap), "-V"]
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    assert "Malformed" not in text
    for name in ("Multimedia-Auth", "User-Authorization", "Server-Assignment", "Location-Info"):
        assert name in text
