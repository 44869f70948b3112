"""One call captured on lo (both UEs over TCP; again both over UDP): every message of it is parsed
with our own SIP parser, and the dialog's route set is checked hop by hop — the INVITE
goes UE-A → P-CSCF → S-CSCF → I-CSCF → S-CSCF → P-CSCF → UE-B, the ACK and the BYE
follow the Record-Route (RFC 3261 §16.12, TS 24.229 §5.2.7/§5.4.3): P-CSCF and S-CSCF on
both legs, never the I-CSCF. tshark decodes SIP and Diameter (LIR/LIA) cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ims_core.sip import PING, Message, Request, Response, StreamFramer, parse_message
from tests.integration.conftest import Capture, Processes, require_tools, tshark

from .conftest import (
    CALLEE_TCP,
    CALLEE_UDP,
    CALLER_TCP,
    CALLER_UDP,
    HSS_HOST,
    I_HOST,
    P_HOST,
    S_HOST,
    UAC_TCP_HOST,
    UAC_UDP_HOST,
    UAS_TCP_HOST,
    UAS_UDP_HOST,
    CallLab,
    impu,
)

pytestmark = pytest.mark.integration

DIAMETER = ["-d", "tcp.port==3868,diameter"]
# Malformed packets, expert errors, and warnings other than TCP sequence analysis notes
# (group 0x02000000), which a capture started mid-connection legitimately produces.
EXPERT = ("_ws.malformed || _ws.expert.severity >= error || "
          "(_ws.expert.severity >= warning && !(_ws.expert.group == 0x02000000))")
# transport → (caller host, callee host, caller, callee)
UES = {"t1": (UAC_TCP_HOST, UAS_TCP_HOST, CALLER_TCP, CALLEE_TCP),
       "u1": (UAC_UDP_HOST, UAS_UDP_HOST, CALLER_UDP, CALLEE_UDP)}


@dataclass
class Hop:
    src: str
    dst: str
    msg: Message

    @property
    def what(self) -> str:
        m = self.msg
        return m.method if isinstance(m, Request) else f"{m.status} {m.cseq.method}"


@dataclass
class Captured:
    a: str  # the caller's address
    b: str  # the callee's
    caller: str  # IMPUs
    callee: str
    path: Path
    hops: list[Hop]  # every SIP message of the call, in capture order
    run_detail: str

    def path_of(self, what: str) -> list[tuple[str, str]]:
        return [(h.src, h.dst) for h in self.hops if h.what == what]

    def at(self, what: str, src: str, dst: str) -> Message:
        found = [h.msg for h in self.hops if h.what == what and (h.src, h.dst) == (src, dst)]
        assert found, f"no {what} {src} → {dst} in {self.summary()}"
        return found[0]

    def summary(self) -> str:
        return "\n".join(f"{h.src} → {h.dst} {h.what}" for h in self.hops)


def sip_messages(path: Path) -> list[tuple[str, str, Message]]:
    """SIP messages from UDP datagrams and reassembled TCP streams (our StreamFramer),
    in capture order, with the addresses of the packet that completed each."""
    out = tshark("-r", str(path), "-Y", "(udp || tcp.len > 0) && !(tcp.port == 3868)",
                 "-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "tcp.srcport",
                 "-e", "tcp.dstport", "-e", "udp.payload", "-e", "tcp.payload")
    assert out.returncode == 0, out.stderr
    framers: dict[tuple[str, str, str, str], StreamFramer] = {}
    messages: list[tuple[str, str, Message]] = []
    for line in out.stdout.splitlines():
        src, dst, sport, dport, udp, tcp = (line.split("\t") + [""] * 6)[:6]
        if udp and src == dst:  # a node's own-queue probe (transport/queueprobe.py)
            continue
        if udp:
            messages.append((src, dst, parse_message(bytes.fromhex(udp.replace(":", "")))))
            continue
        framer = framers.setdefault((src, sport, dst, dport), StreamFramer())
        framer.feed(bytes.fromhex(tcp.replace(":", "")))
        while (frame := framer.next_frame()) is not None:
            if frame is not PING and isinstance(frame, bytes):
                messages.append((src, dst, parse_message(frame, stream=True)))
    return messages


@pytest.fixture(scope="module", params=["t1", "u1"])
def captured(call_lab: CallLab, request: pytest.FixtureRequest) -> Iterator[Captured]:
    require_tools("dumpcap", "tshark")
    transport: str = request.param
    a, b, caller, callee = UES[transport]
    path = call_lab.workdir / f"call_{transport}.pcapng"
    procs = Processes(call_lab.workdir)
    try:
        hosts = (P_HOST, I_HOST, S_HOST, HSS_HOST, a, b)
        cap = Capture(procs, path, " or ".join(f"host {h}" for h in hosts))
        run = call_lab.call("call", impu(callee), caller=caller, transport=transport)
        cap.stop()
    finally:
        procs.stop_all()
    run.assert_all_succeeded()
    messages = sip_messages(path)
    invites = [m for src, _, m in messages
               if isinstance(m, Request) and m.method == "INVITE" and src == a]
    assert invites, f"no INVITE from {a} in the capture"
    call_id = invites[0].headers.get("call-id")
    hops = [Hop(s, d, m) for s, d, m in messages if m.headers.get("call-id") == call_id]
    yield Captured(a, b, impu(caller), impu(callee), path, hops, run.detail())


def _no_repeats(path: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop retransmissions (the same hop twice in a row)."""
    return [hop for i, hop in enumerate(path) if i == 0 or path[i - 1] != hop]


def test_invite_goes_through_both_legs_and_the_icscf(captured: Captured) -> None:
    a, b = captured.a, captured.b
    assert _no_repeats(captured.path_of("INVITE")) == [
        (a, P_HOST), (P_HOST, S_HOST), (S_HOST, I_HOST), (I_HOST, S_HOST), (S_HOST, P_HOST),
        (P_HOST, b)], captured.summary()


def test_record_route_names_each_leg(captured: Captured) -> None:
    """Each CSCF Record-Routes once per leg (the S-CSCF twice: orig and term legs)."""
    ok = captured.at("200 INVITE", P_HOST, captured.a)
    assert isinstance(ok, Response)
    rr = [str(a) for a in ok.addresses("record-route")]
    expected = [(P_HOST, "term"), (S_HOST, "term"), (S_HOST, "orig"), (P_HOST, "orig")]
    assert len(rr) == 4, rr
    for value, (host, leg) in zip(rr, expected, strict=True):
        assert f"sip:{host}:5060" in value and f"ims-leg={leg}" in value and ";lr" in value, rr


@pytest.mark.parametrize("method", ["ACK", "BYE"])
def test_in_dialog_requests_follow_the_route_set(captured: Captured, method: str) -> None:
    path = _no_repeats(captured.path_of(method))
    hops = [hop for hop in path if hop != (S_HOST, S_HOST)]  # orig → term leg, same node
    a, b = captured.a, captured.b
    assert hops == [(a, P_HOST), (P_HOST, S_HOST), (S_HOST, P_HOST), (P_HOST, b)], \
        captured.summary()
    assert all(I_HOST not in hop for hop in path), captured.summary()
    at_b = captured.at(method, P_HOST, captured.b)
    assert isinstance(at_b, Request)
    assert not at_b.headers.get("route"), at_b.headers.get("route")  # all consumed
    assert at_b.uri_text.startswith(f"sip:callee@{b}:"), at_b.uri_text  # its Contact
    from_a = captured.at(method, captured.a, P_HOST)
    assert isinstance(from_a, Request)
    assert len(from_a.headers.get_all("route")) >= 1, from_a  # the UE used the route set


def test_bye_is_answered_back_to_the_caller(captured: Captured) -> None:
    path = _no_repeats(captured.path_of("200 BYE"))
    assert path and path[0] == (captured.b, P_HOST), captured.summary()
    assert path[-1] == (P_HOST, captured.a), captured.summary()


def test_tshark_decodes_cleanly(captured: Captured) -> None:
    bad = tshark("-r", str(captured.path), *DIAMETER, "-Y", EXPERT)
    assert bad.returncode == 0, bad.stderr
    assert bad.stdout.strip() == "", bad.stdout[:3000]


def test_tshark_shows_the_call_and_lir_lia(captured: Captured) -> None:
    dia = tshark("-r", str(captured.path), *DIAMETER, "-Y", "diameter.cmd.code == 302",
                 "-T", "fields", "-e", "diameter.flags.request")
    assert dia.returncode == 0, dia.stderr
    flags = dia.stdout.split()
    assert "1" in flags and "0" in flags, f"LIR and LIA expected: {dia.stdout!r}"
    sip = tshark("-r", str(captured.path), *DIAMETER, "-Y", "sip", "-T", "fields",
                 "-e", "sip.Method", "-e", "sip.Status-Code")
    assert sip.returncode == 0, sip.stderr
    seen = set(sip.stdout.split())
    assert {"INVITE", "ACK", "BYE", "180", "200"} <= seen, seen


def test_originating_pcscf_asserts_the_identity_and_charges(captured: Captured) -> None:
    """TS 24.229 §5.2.6.3: P-Asserted-Identity = the registered IMPU, P-Charging-Vector with
    an icid towards the S-CSCF; the UE's Route to the P-CSCF is consumed."""
    inv = captured.at("INVITE", P_HOST, S_HOST)
    assert isinstance(inv, Request)
    assert captured.caller in (inv.headers.get("p-asserted-identity") or ""), inv
    assert "icid-value=" in (inv.headers.get("p-charging-vector") or ""), inv
    assert inv.headers.get_all("route") == [f"<sip:orig@{S_HOST}:5060;lr>"] or \
        [str(r) for r in inv.addresses("route")] == [f"<sip:orig@{S_HOST}:5060;lr>"], inv


def test_bodies_pass_untouched(captured: Captured) -> None:
    """SDP offer and answer arrive byte for byte as sent (a proxy leaves bodies alone)."""
    offer_sent = captured.at("INVITE", captured.a, P_HOST).body
    offer_got = captured.at("INVITE", P_HOST, captured.b).body
    answer_sent = captured.at("200 INVITE", captured.b, P_HOST).body
    answer_got = captured.at("200 INVITE", P_HOST, captured.a).body
    assert offer_sent and offer_sent == offer_got
    assert answer_sent and answer_sent == answer_got


def test_lir_asks_for_the_callee(captured: Captured) -> None:
    """TS 29.228 §6.1.4 / TS 24.229 §5.3.2.1: LIR with the Request-URI as Public-Identity."""
    out = tshark("-r", str(captured.path), *DIAMETER, "-Y",
                 "diameter.cmd.code == 302 && diameter.flags.request == 1",
                 "-T", "fields", "-e", "diameter.Public-Identity")
    assert out.returncode == 0, out.stderr
    assert captured.callee in out.stdout.split(), out.stdout
