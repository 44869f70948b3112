"""The four nodes with ``[hep]`` on (IMS_CORE__HEP__* in their environment), sending to a
collector on 127.0.0.1 while dumpcap captures the P-CSCF's and the HSS's traffic on lo.
Our UE registers over UDP and over TCP. Then:

- every SIP message the P-CSCF sent or received is a HEP packet from node ``pcscf`` with
  the same octets, addresses, ports and transport as in the capture, and nothing else;
- so is every Diameter message the HSS sent or received (node ``hss``), and every one the
  S-CSCF exchanged with the HSS (node ``scscf``);
- each copy carries its Call-ID or Session-Id as correlation id, the same id at every node
  the message passed (TS 29.228 Cx: MAR/MAA and SAR/SAA share theirs with the HSS's copies).

P-CSCF 127.0.0.131, I-CSCF 127.0.0.132, S-CSCF 127.0.0.133, HSS 127.0.0.134, our UE
127.0.0.135: addresses no other test uses.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ims_core.diameter import Framer, decode
from ims_core.hep.codec import IPPROTO_TCP, IPPROTO_UDP, HepError, HepPacket, ProtoType
from ims_core.hep.codec import decode as hep_decode
from ims_core.sip import StreamFramer, parse_message
from ims_lab.plan import Addresses, imsi
from tests.ims.conftest import Lab, _start_lab
from tests.integration.conftest import Capture, Processes, require_tools, tshark
from tests.sipnet import UdpSink

pytestmark = pytest.mark.integration

P_HOST, I_HOST, S_HOST, HSS_HOST, UE_HOST = (
    "127.0.0.131", "127.0.0.132", "127.0.0.133", "127.0.0.134", "127.0.0.135")
COLLECTOR = "127.0.0.1"
SIP_PORT, DIAMETER_PORT = 5060, 3868

# (transport, source, destination, octets): one message as seen on the wire
Record = tuple[str, tuple[str, int], tuple[str, int], bytes]


class Collector(UdpSink):
    """A HEP collector on 127.0.0.1: a thread reads every datagram as it arrives."""

    def __init__(self) -> None:
        super().__init__(COLLECTOR)

    def quiet(self, for_seconds: float = 1.0, timeout: float = 15.0) -> None:
        """Wait until nothing has arrived for ``for_seconds``."""
        deadline = time.monotonic() + timeout
        seen, since = len(self.received), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if len(self.received) != seen:
                seen, since = len(self.received), time.monotonic()
            elif time.monotonic() - since >= for_seconds:
                return


@dataclass
class Run:
    lab: Lab
    hep: list[HepPacket]
    capture: Path
    since: float  # the nodes started after this Unix time
    until: float  # what both sides saw up to this Unix time is compared
    undecodable: list[bytes] = field(default_factory=list)

    def from_node(self, node: str, proto_type: int) -> list[HepPacket]:
        return [p for p in self.hep if p.node_name == node.encode()
                and p.proto_type == proto_type and p.ts_sec + p.ts_usec / 1e6 <= self.until]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    require_tools("dumpcap", "tshark")
    workdir = tmp_path_factory.mktemp("hep_nodes")
    collector = Collector()
    procs = Processes(workdir)
    env = {"IMS_CORE__HEP__ENABLED": "true", "IMS_CORE__HEP__HOST": COLLECTOR,
           "IMS_CORE__HEP__PORT": str(collector.port)}
    lab: Lab | None = None
    try:
        # From before the nodes start: the capture holds all the P-CSCF and HSS ever did.
        cap = Capture(procs, workdir / "nodes.pcapng", f"host {P_HOST} or host {HSS_HOST}")
        since = time.time()
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)  # the nodes inherit it (ims_lab.procs.Processes)
            lab = _start_lab(workdir, Addresses(P_HOST, I_HOST, S_HOST, HSS_HOST), UE_HOST)
            tcp = lab.ue("register", "--imsi", imsi(449), "--expires", "60", transport="tcp")
            assert tcp.code == 0, f"{tcp.output}\n{lab.logs()}"
        collector.quiet()
        until = time.time()
        path = cap.stop()
        collector.quiet(0.5)
        hep, undecodable = [], []
        for data in collector.received:
            try:
                hep.append(hep_decode(data))
            except HepError:
                undecodable.append(data)
        yield Run(lab, hep, path, since, until, undecodable)
    finally:
        procs.stop_all()
        if lab is not None:
            lab.procs.stop_all()
        collector.close()


def captured(path: Path, until: float) -> list[tuple[float, Record]]:
    """Each SIP and Diameter message in the capture up to ``until``: UDP datagrams as
    they are, TCP streams cut into messages (SIP: RFC 3261 §18.3; Diameter: RFC 6733 §3).
    A node's own queue probe (8 octets to itself) and keep-alives are not messages."""
    out = tshark("-r", str(path), "-Y", "udp || tcp.len > 0", "-T", "fields",
                 "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ip.dst",
                 "-e", "udp.srcport", "-e", "udp.dstport", "-e", "tcp.srcport",
                 "-e", "tcp.dstport", "-e", "udp.payload", "-e", "tcp.payload")
    assert out.returncode == 0, out.stderr
    records: list[tuple[float, Record]] = []
    sip_streams: dict[tuple[str, int, str, int], StreamFramer] = {}
    dia_streams: dict[tuple[str, int, str, int], Framer] = {}
    for line in out.stdout.splitlines():
        t, src, dst, usport, udport, tsport, tdport, udp, tcp = (line.split("\t") + [""] * 9)[:9]
        if float(t) > until:
            break
        if udp:
            data = bytes.fromhex(udp.replace(":", ""))
            if not (src == dst and len(data) == 8) and data.strip(b"\r\n"):
                records.append((float(t), ("udp", (src, int(usport)), (dst, int(udport)), data)))
            continue
        key = (src, int(tsport), dst, int(tdport))
        data = bytes.fromhex(tcp.replace(":", ""))
        if DIAMETER_PORT in (key[1], key[3]):
            messages = dia_streams.setdefault(key, Framer()).feed(data)
        else:
            framer = sip_streams.setdefault(key, StreamFramer())
            framer.feed(data)
            messages = []
            while (frame := framer.next_frame()) is not None:
                if isinstance(frame, bytes):
                    messages.append(frame)
        records += [(float(t), ("tcp", (src, key[1]), (dst, key[3]), m)) for m in messages]
    return records


def as_record(p: HepPacket) -> Record:
    proto = {IPPROTO_UDP: "udp", IPPROTO_TCP: "tcp"}[p.ip_proto]
    return proto, p.src, p.dst, p.payload


def explain(missing: Counter[Record], extra: Counter[Record]) -> str:
    def show(c: Counter[Record]) -> str:
        return "\n".join(f"  {t} {s} → {d}: {m[:60]!r}" for (t, s, d, m) in c)
    return f"captured, not exported:\n{show(missing)}\nexported, not captured:\n{show(extra)}"


def test_every_packet_decodes(run: Run) -> None:
    assert run.undecodable == []
    assert {p.node_name for p in run.hep} == {b"pcscf", b"icscf", b"scscf", b"hss"}
    assert {p.capture_id for p in run.hep} == {2001}


def test_pcscf_sip_exactly_as_on_the_wire(run: Run) -> None:
    wire = Counter(r for _, r in captured(run.capture, run.until)
                   if P_HOST in (r[1][0], r[2][0]) and DIAMETER_PORT not in (r[1][1], r[2][1]))
    hep = Counter(as_record(p) for p in run.from_node("pcscf", ProtoType.SIP))
    assert {t for t, *_ in wire} == {"udp", "tcp"}, wire  # both registrations are there
    assert len(wire) >= 8, wire
    assert hep == wire, explain(wire - hep, hep - wire)


def test_hss_diameter_exactly_as_on_the_wire(run: Run) -> None:
    wire = Counter(r for _, r in captured(run.capture, run.until)
                   if (HSS_HOST, DIAMETER_PORT) in (r[1], r[2]))
    hep = Counter(as_record(p) for p in run.from_node("hss", ProtoType.DIAMETER))
    assert hep == wire, explain(wire - hep, hep - wire)
    commands = {decode(m, check_rules=False).command_code for *_, m in wire}
    assert {257, 300, 301, 303} <= commands, commands  # CER, UAR, SAR, MAR and answers


def test_scscf_diameter_exactly_as_on_the_wire(run: Run) -> None:
    wire = Counter(r for _, r in captured(run.capture, run.until)
                   if S_HOST in (r[1][0], r[2][0]) and HSS_HOST in (r[1][0], r[2][0]))
    hep = Counter(as_record(p) for p in run.from_node("scscf", ProtoType.DIAMETER))
    assert wire and hep == wire, explain(wire - hep, hep - wire)


def test_sip_correlation_is_the_call_id(run: Run) -> None:
    nodes_by_call: dict[bytes, set[bytes]] = {}
    for p in run.hep:
        if p.proto_type == ProtoType.SIP:
            assert p.correlation_id == parse_message(p.payload, stream=p.ip_proto ==
                                                     IPPROTO_TCP).call_id.encode()
            nodes_by_call.setdefault(p.correlation_id, set()).add(p.node_name)
    # A REGISTER passes P-CSCF → I-CSCF → S-CSCF: its Call-ID is at all three.
    assert {b"pcscf", b"icscf", b"scscf"} in nodes_by_call.values(), nodes_by_call


def test_diameter_correlation_is_the_session_id(run: Run) -> None:
    sessions: dict[bytes, set[bytes]] = {}
    for p in run.hep:
        if p.proto_type == ProtoType.DIAMETER:
            msg = decode(p.payload, check_rules=False)
            sid = msg.get_str("Session-Id")
            assert p.correlation_id == (sid or "").encode(), msg
            if msg.command_code in (301, 303):  # SAR/SAA, MAR/MAA: S-CSCF ↔ HSS
                assert sid, msg
                sessions.setdefault(p.correlation_id, set()).add(p.node_name)
    assert sessions and all(nodes == {b"scscf", b"hss"} for nodes in sessions.values()), \
        sessions


def test_timestamps_are_when_it_happened(run: Run) -> None:
    """Each copy's time (chunks 0x0009/0x000a) is within a second of its frame's."""
    when: dict[Record, list[float]] = {}
    for t, record in captured(run.capture, run.until):
        when.setdefault(record, []).append(t)
    checked = 0
    for p in run.hep:
        t = p.ts_sec + p.ts_usec / 1e6
        assert run.since <= t, p
        if p.node_name in (b"pcscf", b"hss") and t <= run.until:
            assert any(abs(t - frame) < 1.0 for frame in when[as_record(p)]), p
            checked += 1
    assert checked >= 10

