"""What HepExporter sends, captured on 127.0.0.1 and read by tshark: every packet's chunk
framing holds (hep3.lua, this directory's test dissector: this Wireshark has no HEP
dissector of its own), Wireshark's own SIP and Diameter dissectors decode the payloads
without a malformed packet or expert error, and the correlation id is the Call-ID or
Session-Id those dissectors find."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ims_core.hep.config import HepConfig
from ims_core.hep.exporter import HepExporter
from ims_core.wiretap import Address, Payload, Proto
from ims_lab.procs import free_port
from tests.diameter import samples
from tests.diameter.samples import raw_avp, raw_message
from tests.integration.conftest import Capture, Processes, require_tools, tshark

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
DISSECTOR = Path(__file__).with_name("hep3.lua")
EXPERT = "_ws.malformed || _ws.expert.severity >= error"

REGISTER = (b"REGISTER sip:ims.mnc001.mcc001.3gppnetwork.org SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.15:5060;branch=z9hG4bK-hep-ws-1;rport\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>"
            b";tag=a1\r\nTo: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>\r\n"
            b"i: compact-form-call-id@127.0.0.15\r\nCSeq: 1 REGISTER\r\n"
            b"Contact: <sip:127.0.0.15:5060>;expires=600\r\nContent-Length: 0\r\n\r\n")
UNAUTHORIZED = (b"SIP/2.0 401 Unauthorized\r\n"
                b"Via: SIP/2.0/TCP 127.0.0.15:5060;branch=z9hG4bK-hep-ws-2\r\n"
                b"From: <sip:alice@ims.example>;tag=a2\r\nTo: <sip:alice@ims.example>;tag=b2\r\n"
                b"Call-ID: long-form-call-id@127.0.0.15\r\nCSeq: 2 REGISTER\r\n"
                b'WWW-Authenticate: Digest realm="ims.example", nonce="bm9uY2U=", '
                b"algorithm=AKAv1-MD5\r\nContent-Length: 0\r\n\r\n")
UAR = samples.uar()
MAR = samples.mar()
DWR = raw_message(280, 0, 0x80, raw_avp(264, 0x40, b"scscf.ims.example")
                  + raw_avp(296, 0x40, b"ims.example"))
# (payload, proto, src, dst, message, correlation id Wireshark should show)
SENT: list[tuple[Payload, Proto, Address, Address, bytes, str]] = [
    ("sip", "udp", ("127.0.0.15", 5060), ("127.0.0.11", 5060), REGISTER,
     "compact-form-call-id@127.0.0.15"),
    ("sip", "tcp", ("127.0.0.11", 5060), ("127.0.0.15", 40123), UNAUTHORIZED,
     "long-form-call-id@127.0.0.15"),
    ("diameter", "tcp", ("127.0.0.13", 41000), ("127.0.0.14", 3868), UAR.encode(),
     UAR.get_str("Session-Id") or ""),
    ("diameter", "tcp", ("127.0.0.14", 3868), ("127.0.0.13", 41000),
     samples.uaa(UAR).encode(), UAR.get_str("Session-Id") or ""),
    ("diameter", "tcp", ("2001:db8::13", 41000), ("2001:db8::14", 3868), MAR.encode(),
     MAR.get_str("Session-Id") or ""),
    ("diameter", "tcp", ("127.0.0.13", 41000), ("127.0.0.14", 3868), DWR, ""),
]


@dataclass
class Captured:
    path: Path
    port: int

    def fields(self, *names: str, display: str = "hep") -> list[list[str]]:
        args = [f for name in names for f in ("-e", name)]
        out = tshark("-X", f"lua_script:{DISSECTOR}", "-r", str(self.path),
                     "-d", f"udp.port=={self.port},hep", "-Y", display, "-T", "fields",
                     "-E", "occurrence=f", *args)
        assert out.returncode == 0, out.stderr
        return [line.split("\t") for line in out.stdout.splitlines()]


async def _send_all(port: int) -> HepExporter:
    exporter = HepExporter(HepConfig(enabled=True, host=HOST, port=port, capture_id=77,
                                     password="pw"), "test")
    await exporter.start()
    for payload, proto, src, dst, data, _ in SENT:
        exporter(payload, proto, src, dst, data)
        await asyncio.sleep(0.01)
    exporter.close()
    return exporter


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    require_tools("dumpcap", "tshark")
    workdir = tmp_path_factory.mktemp("hep_wireshark")
    port = free_port(HOST)
    procs = Processes(workdir)
    # A socket that takes the packets, so that no ICMP error answers them.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind((HOST, port))
        try:
            cap = Capture(procs, workdir / "hep.pcapng", f"udp and host {HOST} and port {port}")
            exporter = asyncio.run(_send_all(port))
            path = cap.stop()
        finally:
            procs.stop_all()
    assert (exporter.sent, exporter.dropped, exporter.errors) == (len(SENT), 0, 0)
    yield Captured(path, port)


def test_decodes_cleanly(captured: Captured) -> None:
    bad = captured.fields("frame.number", "_ws.expert.message", display=EXPERT)
    assert bad == [], bad
    assert len(captured.fields("frame.number")) == len(SENT)


def test_chunks_as_sent(captured: Captured) -> None:
    rows = captured.fields("hep.proto_type", "hep.ip_proto", "hep.src_ip", "hep.src_ip6",
                           "hep.src_port", "hep.dst_ip", "hep.dst_ip6", "hep.dst_port",
                           "hep.capture_id", "hep.auth_key", "hep.node_name",
                           "hep.correlation_id", "hep.payload")
    assert len(rows) == len(SENT)
    for row, (payload, proto, src, dst, data, cid) in zip(rows, SENT, strict=True):
        ptype, ip_proto, s4, s6, sport, d4, d6, dport, capid, key, name, corr, raw = row
        assert ptype == ("1" if payload == "sip" else "56"), row
        assert ip_proto == ("17" if proto == "udp" else "6"), row
        assert (s4 or s6, int(sport)) == src and (d4 or d6, int(dport)) == dst, row
        assert (capid, key, name, corr) == ("77", "pw", "test", cid), row
        assert bytes.fromhex(raw.replace(":", "")) == data


def test_wireshark_decodes_the_sip_inside(captured: Captured) -> None:
    rows = captured.fields("sip.Method", "sip.Status-Code", "sip.Call-ID",
                           "hep.correlation_id", display="sip")
    assert [r[:2] for r in rows] == [["REGISTER", ""], ["", "401"]], rows
    for _, _, call_id, correlation in rows:
        assert call_id == correlation != "", rows


def test_wireshark_decodes_the_diameter_inside(captured: Captured) -> None:
    rows = captured.fields("diameter.cmd.code", "diameter.flags.request",
                           "diameter.Session-Id", "hep.correlation_id", display="diameter")
    assert [r[:2] for r in rows] == [["300", "1"], ["300", "0"], ["303", "1"], ["280", "1"]]
    for _, _, session_id, correlation in rows:
        assert session_id == correlation, rows
    assert [r[2] != "" for r in rows] == [True, True, True, False]
