"""One registration captured on lo (BPF on the four node addresses): the headers each hop
must carry (RFC 3327 Path, RFC 3608 Service-Route, RFC 3455 P-headers, TS 24.229 §5.2.2
ck/ik stripping) and a clean tshark decode of SIP and Diameter with UAR, MAR and SAR."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ims_core.sip import Message, Request, Response, parse_message
from tests.integration.conftest import Capture, Processes, require_tools, tshark

from .conftest import DIAMETER_PORT, HSS_HOST, I_HOST, P_HOST, S_HOST, UE_HOST, Lab, imsi

pytestmark = pytest.mark.integration

SUB = imsi(410)
DECODE = ["-d", f"tcp.port=={DIAMETER_PORT},diameter"]
# Malformed packets, expert errors, and warnings other than TCP sequence analysis notes
# (group 0x02000000), which a capture started mid-connection legitimately produces.
EXPERT = ("_ws.malformed || _ws.expert.severity >= error || "
          "(_ws.expert.severity >= warning && !(_ws.expert.group == 0x02000000))")


@dataclass
class Hop:
    src: str
    dst: str
    msg: Message


@dataclass
class Captured:
    path: Path
    hops: list[Hop]

    def requests_to(self, host: str) -> list[Request]:
        return [h.msg for h in self.hops if h.dst == host and isinstance(h.msg, Request)]

    def responses(self, src: str, dst: str, status: int) -> list[Response]:
        return [h.msg for h in self.hops if h.src == src and h.dst == dst
                and isinstance(h.msg, Response) and h.msg.status == status]


@pytest.fixture(scope="module")
def captured(lab: Lab) -> Iterator[Captured]:
    require_tools("dumpcap", "tshark")
    path = lab.workdir / "registration.pcapng"
    procs = Processes(lab.workdir)
    try:
        hosts = (P_HOST, I_HOST, S_HOST, HSS_HOST)
        cap = Capture(procs, path, " or ".join(f"host {h}" for h in hosts))
        r = lab.ue("register", "--imsi", SUB)
        assert r.code == 0, r.output + lab.logs()
        cap.stop()
    finally:
        procs.stop_all()
    yield Captured(path, _sip_hops(path))


def _sip_hops(path: Path) -> list[Hop]:
    """Every SIP datagram of our subscriber's exchange, parsed with our own parser."""
    out = tshark("-r", str(path), "-Y", "udp && sip", "-T", "fields", "-e", "ip.src",
                 "-e", "ip.dst", "-e", "udp.payload")
    assert out.returncode == 0, out.stderr
    hops = []
    for line in out.stdout.splitlines():
        src, dst, payload = line.split("\t")
        msg = parse_message(bytes.fromhex(payload.replace(":", "")))
        if SUB in (msg.headers.get("from") or ""):
            hops.append(Hop(src, dst, msg))
    return hops


def test_every_hop_was_captured(captured: Captured) -> None:
    path = [(h.src, h.dst, getattr(h.msg, "method", None) or h.msg.status)  # type: ignore[attr-defined]
            for h in captured.hops]
    expected_register_path = [(UE_HOST, P_HOST), (P_HOST, I_HOST), (I_HOST, S_HOST)]
    regs = [(s, d) for s, d, what in path if what == "REGISTER"]
    assert regs == expected_register_path * 2, path


def test_200_to_the_ue_has_service_route_associated_uris_and_path(captured: Captured) -> None:
    (ok,) = captured.responses(P_HOST, UE_HOST, 200)
    assert [str(a) for a in ok.service_routes()] == [f"<sip:orig@{S_HOST}:5060;lr>"]
    assert f"sip:{SUB}@" in str(ok.addresses("p-associated-uri")[0])
    assert [str(a) for a in ok.paths()] == [f"<sip:term@{P_HOST}:5060;lr>"]


def test_register_at_the_scscf_has_path_and_visited_network(captured: Captured) -> None:
    regs = captured.requests_to(S_HOST)
    assert len(regs) == 2
    for reg in regs:
        assert [str(a) for a in reg.paths()] == [f"<sip:term@{P_HOST}:5060;lr>"]
        assert reg.headers.get("p-visited-network-id")
        assert "path" in (reg.headers.get("require") or "")
        assert "icid-value=" in (reg.headers.get("p-charging-vector") or "")


def test_401_loses_ck_ik_at_the_pcscf(captured: Captured) -> None:
    (from_s,) = captured.responses(S_HOST, I_HOST, 401)
    (to_ue,) = captured.responses(P_HOST, UE_HOST, 401)
    s_chal = from_s.auth_headers("www-authenticate")[0]
    ue_chal = to_ue.auth_headers("www-authenticate")[0]
    assert s_chal.ck and s_chal.ik and len(s_chal.ck) == 32
    assert ue_chal.ck is None and ue_chal.ik is None
    assert ue_chal.nonce == s_chal.nonce and ue_chal.algorithm == "AKAv1-MD5"


def test_tshark_decodes_cleanly(captured: Captured) -> None:
    bad = tshark("-r", str(captured.path), *DECODE, "-Y", EXPERT)
    assert bad.returncode == 0, bad.stderr
    assert bad.stdout.strip() == "", bad.stdout[:3000]


def test_tshark_shows_uar_mar_sar(captured: Captured) -> None:
    out = tshark("-r", str(captured.path), *DECODE, "-Y", "diameter")
    assert out.returncode == 0, out.stderr
    for command in ("User-Authorization Request", "User-Authorization Answer",
                    "Multimedia-Auth Request", "Multimedia-Auth Answer",
                    "Server-Assignment Request", "Server-Assignment Answer"):
        assert command in out.stdout, out.stdout[:3000]
    sip = tshark("-r", str(captured.path), *DECODE, "-Y", "sip")
    assert "REGISTER" in sip.stdout and "401" in sip.stdout and "200" in sip.stdout
