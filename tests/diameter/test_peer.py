"""The sans-I/O peer with a fake clock: two peers wired back to back (RFC 6733 §5, RFC 3539)."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims_core.diameter import (
    DiameterConfig,
    DiameterUnavailable,
    Framer,
    Message,
    Peer,
    ResultCode,
    Role,
    State,
    Watchdog,
    decode,
    events,
    make_answer,
)
from ims_core.diameter.ids import EndToEnd

from . import samples as s
from .samples import raw_avp, raw_message

T0 = 1000.0


def cfg(host: str, **kw: object) -> DiameterConfig:
    base: dict[str, object] = {"watchdog_jitter": 0.0, "reconnect_min": 1.0, "reconnect_max": 8.0}
    base.update(kw)
    return DiameterConfig(host, s.DOMAIN, **base)  # type: ignore[arg-type]


@dataclass
class Side:
    peer: Peer
    got: list[events.Event] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    connected: bool = True

    def drain(self) -> None:
        while (ev := self.peer.next_event()) is not None:
            self.got.append(ev)
            if isinstance(ev, events.CloseRequested):
                self.connected = False

    def take(self, kind: type[events.Event]) -> list[events.Event]:
        taken = [e for e in self.got if isinstance(e, kind)]
        self.got = [e for e in self.got if not isinstance(e, kind)]
        return taken


class Link:
    """Two peers and a wire between them; the clock is ``now``."""

    def __init__(self, a_cfg: DiameterConfig, b_cfg: DiameterConfig) -> None:
        self.now = T0
        e2e = EndToEnd(1_700_000_000.0, low=0)
        self.a = Side(Peer(a_cfg, Role.INITIATOR, end_to_end=e2e, rng=random.Random(1)))
        self.b = Side(Peer(b_cfg, Role.RESPONDER, end_to_end=e2e, rng=random.Random(2)))
        self.drop_b_output = False

    def connect(self) -> None:
        self.a.peer.start(self.now)
        self.a.drain()
        assert self.a.take(events.ConnectRequested)
        self.b.peer.connection_made(self.now)
        self.a.peer.connection_made(self.now)
        self.pump()

    def pump(self) -> None:
        for _ in range(20):
            self.a.drain()
            self.b.drain()
            da, db = self.a.peer.data_to_send(), self.b.peer.data_to_send()
            if da:
                self.a.sent.append(da)
            if db:
                self.b.sent.append(db)
            if self.drop_b_output:
                db = b""
            if not da and not db:
                return
            if da and self.b.connected:
                self.b.peer.receive_data(da, self.now)
            if db and self.a.connected:
                self.a.peer.receive_data(db, self.now)

    def advance(self, to: float) -> None:
        """Run both timers up to time *to*, in order."""
        while True:
            timers = [
                (t, side) for side in (self.a, self.b) if (t := side.peer.get_timer()) is not None
            ]
            due = [(t, side) for t, side in timers if t <= to]
            if not due:
                break
            t, side = min(due, key=lambda x: x[0])
            self.now = max(self.now, t)
            side.peer.handle_timer(self.now)
            self.pump()
        self.now = to


def open_link(**b_kw: object) -> Link:
    link = Link(cfg(s.SCSCF), cfg(s.HSS, **b_kw))
    link.connect()
    return link


def test_capabilities_exchange() -> None:
    link = open_link()
    assert link.a.peer.state is State.OPEN and link.b.peer.state is State.OPEN
    up_a, up_b = link.a.take(events.PeerUp), link.b.take(events.PeerUp)
    assert len(up_a) == len(up_b) == 1
    assert isinstance(up_a[0], events.PeerUp) and up_a[0].capabilities.origin_host == s.HSS
    assert up_a[0].applications == {16777216}
    cer = decode(link.a.sent[0])
    assert cer.name == "CER" and not cer.is_proxiable
    vsai = cer.get_grouped("Vendor-Specific-Application-Id")
    assert vsai is not None
    assert (vsai.get("Vendor-Id"), vsai.get("Auth-Application-Id")) == (10415, 16777216)
    assert cer.get_all("Supported-Vendor-Id") == [10415]
    assert str(cer.get("Host-IP-Address")) == "127.0.0.1"
    assert cer.get("Product-Name") == "ims-core" and cer.get("Origin-State-Id") is not None
    cea = decode(link.b.sent[0])
    assert cea.name == "CEA" and cea.result_code == 2001
    assert cea.get_all("Supported-Vendor-Id") == [10415]


def test_request_answer_and_identifiers() -> None:
    link = open_link()
    hbh = link.a.peer.send_request(s.mar(), link.now)
    link.pump()
    (got,) = link.b.take(events.RequestReceived)
    assert isinstance(got, events.RequestReceived)
    req = got.message
    assert req.hop_by_hop == hbh and req.end_to_end >> 20 == 1_700_000_000 & 0xFFF
    link.b.peer.send_answer(s.maa(req))
    link.pump()
    (ans,) = link.a.take(events.AnswerReceived)
    assert isinstance(ans, events.AnswerReceived)
    assert ans.hop_by_hop == hbh and ans.message.result_code == 2001
    assert link.a.peer.pending_count == 0
    h2 = link.a.peer.send_request(s.mar(), link.now)
    assert h2 == (hbh + 1) & 0xFFFFFFFF


def test_answer_gets_origin_filled_in() -> None:
    link = open_link()
    link.a.peer.send_request(s.lir(), link.now)
    link.pump()
    (got,) = link.b.take(events.RequestReceived)
    assert isinstance(got, events.RequestReceived)
    ans = make_answer(got.message, 2001)
    link.b.peer.send_answer(ans)
    link.pump()
    (a,) = link.a.take(events.AnswerReceived)
    assert isinstance(a, events.AnswerReceived) and a.message.origin_host == s.HSS


def test_request_timeout() -> None:
    link = open_link()
    hbh = link.a.peer.send_request(s.mar(), link.now, timeout=2.0)
    link.advance(T0 + 1.9)
    assert not link.a.take(events.RequestFailed)
    link.advance(T0 + 2.0)
    (f,) = link.a.take(events.RequestFailed)
    assert isinstance(f, events.RequestFailed) and f.hop_by_hop == hbh and f.timed_out
    assert link.a.peer.pending_count == 0


def test_late_answer_is_dropped() -> None:
    link = open_link()
    link.a.peer.send_request(s.mar(), link.now, timeout=1.0)
    link.pump()
    (got,) = link.b.take(events.RequestReceived)
    link.advance(T0 + 2)
    assert isinstance(got, events.RequestReceived)
    link.b.peer.send_answer(s.maa(got.message))
    link.pump()
    assert not link.a.take(events.AnswerReceived)


def test_send_request_when_not_open() -> None:
    p = Peer(cfg("a"), Role.INITIATOR, end_to_end=EndToEnd(0))
    with pytest.raises(DiameterUnavailable):
        p.send_request(s.mar(), 0.0)


def test_watchdog_dwr_dwa_keeps_peer_up() -> None:
    link = open_link()
    link.advance(T0 + 29.9)
    assert len(link.a.sent) == 1  # only the CER
    link.advance(T0 + 30.0)
    dwrs = [decode(d) for d in link.a.sent[1:]]
    assert [m.name for m in dwrs] == ["DWR"]
    assert decode(link.b.sent[-1]).name == "DWA"
    link.advance(T0 + 200)
    assert link.a.peer.state is State.OPEN and link.a.peer.watchdog is Watchdog.OKAY
    assert not link.a.take(events.PeerDown)


def test_traffic_postpones_dwr() -> None:
    link = open_link(watchdog_interval=100.0)
    link.advance(T0 + 20)
    link.b.peer.send_request(s.rtr(), link.now)
    link.pump()
    link.advance(T0 + 49.9)
    assert not any(decode(d).name == "DWR" for d in link.a.sent)
    link.advance(T0 + 50)
    assert decode(link.a.sent[-1]).name == "DWR"


def test_watchdog_failover_to_down_and_reconnect() -> None:
    link = open_link()
    link.drop_b_output = True  # the HSS hangs: nothing comes back
    link.advance(T0 + 30)
    assert decode(link.a.sent[-1]).name == "DWR"
    link.advance(T0 + 60)
    assert link.a.peer.watchdog is Watchdog.SUSPECT and link.a.take(events.PeerSuspect)
    assert link.a.peer.is_open and not link.a.peer.is_usable
    hbh = link.a.peer.send_request(s.mar(), link.now, timeout=100)
    link.advance(T0 + 89.9)
    assert link.a.peer.state is State.OPEN
    link.advance(T0 + 90)
    assert link.a.peer.is_closed
    assert link.a.take(events.CloseRequested) and link.a.take(events.PeerDown)
    (f,) = link.a.take(events.RequestFailed)
    assert isinstance(f, events.RequestFailed) and f.hop_by_hop == hbh and not f.timed_out
    assert link.a.peer.get_timer() == T0 + 91  # reconnect after reconnect_min
    link.advance(T0 + 91)
    assert link.a.take(events.ConnectRequested)
    assert link.a.peer.state.name == "WAIT_CONN_ACK"


def test_suspect_recovers_on_traffic() -> None:
    link = open_link()
    link.drop_b_output = True
    link.advance(T0 + 60)
    assert link.a.peer.watchdog is Watchdog.SUSPECT
    link.drop_b_output = False
    link.b.peer.send_request(s.rtr(), link.now)
    link.pump()
    assert link.a.peer.is_usable and link.a.take(events.PeerRecovered)


def test_reconnect_backoff_doubles_and_caps() -> None:
    p = Peer(cfg("a"), Role.INITIATOR, end_to_end=EndToEnd(0))
    now = 0.0
    p.start(now)
    delays = []
    for _ in range(6):
        assert isinstance(p.next_event(), events.ConnectRequested)
        p.connection_failed(now)
        t = p.get_timer()
        assert t is not None and p.state is State.CLOSED
        delays.append(t - now)
        now = t
        p.handle_timer(now)
    assert delays == [1, 2, 4, 8, 8, 8]


def test_connect_timeout_retries() -> None:
    p = Peer(cfg("a", cer_timeout=3.0), Role.INITIATOR, end_to_end=EndToEnd(0))
    p.start(0.0)
    p.next_event()
    p.handle_timer(3.0)
    assert p.state is State.CLOSED and p.get_timer() == 4.0


def test_cea_timeout_closes_and_retries() -> None:
    link = Link(cfg("a", cer_timeout=5.0), cfg("b"))
    link.a.peer.start(link.now)
    link.a.peer.connection_made(link.now)
    link.a.drain()
    link.advance(T0 + 5)
    assert link.a.peer.state is State.CLOSED and link.a.take(events.CloseRequested)
    assert link.a.peer.get_timer() == T0 + 6


def test_dpr_dpa_on_stop() -> None:
    link = open_link()
    link.a.peer.send_request(s.mar(), link.now)
    link.a.peer.stop(link.now)
    assert link.a.peer.state is State.CLOSING
    link.pump()
    assert [decode(f).name for f in Framer().feed(link.a.sent[-1])] == ["MAR", "DPR"]
    assert decode(link.b.sent[-1]).name == "DPA"
    assert link.b.take(events.CloseRequested) and link.b.take(events.PeerDown)
    assert link.a.peer.is_closed
    assert link.a.take(events.CloseRequested) and link.a.take(events.PeerDown)
    assert link.a.take(events.RequestFailed)
    assert link.a.peer.get_timer() is None  # stopped: no reconnection
    assert link.b.peer.get_timer() is None


def test_dpa_timeout() -> None:
    link = open_link()
    link.drop_b_output = True
    link.a.peer.stop(link.now)
    link.pump()
    link.advance(T0 + 5)
    assert link.a.peer.state is State.CLOSED and link.a.take(events.CloseRequested)


def test_dpr_do_not_want_to_talk_backs_off_max() -> None:
    link = open_link()
    link.b.peer.stop(link.now, cause=2)
    link.pump()
    assert link.a.peer.state is State.CLOSED
    assert link.a.peer.get_timer() == link.now + 8.0


def test_unknown_peer_gets_3010_and_close() -> None:
    link = Link(cfg("evil.ims"), cfg(s.HSS, allowed_peers=(s.SCSCF,)))
    link.connect()
    cea = decode(link.b.sent[0])
    assert cea.result_code == ResultCode.UNKNOWN_PEER and cea.is_error
    assert link.b.take(events.CloseRequested) and link.b.peer.state is State.CLOSED
    assert link.a.peer.state is State.CLOSED and link.a.take(events.CloseRequested)
    assert not link.a.take(events.PeerUp)


def test_allow_list_is_case_insensitive() -> None:
    link = Link(cfg(s.SCSCF.upper()), cfg(s.HSS, allowed_peers=(s.SCSCF,)))
    link.connect()
    assert link.b.peer.is_open


def test_no_common_application_5010() -> None:
    link = Link(cfg("a", vendor_specific_applications=(), auth_application_ids=(4,)), cfg(s.HSS))
    link.connect()
    cea = decode(link.b.sent[0])
    assert cea.result_code == ResultCode.NO_COMMON_APPLICATION and not cea.is_error
    assert link.b.peer.state is State.CLOSED and link.a.peer.state is State.CLOSED


def test_relay_application_matches_all() -> None:
    link = Link(
        cfg("a", vendor_specific_applications=(), auth_application_ids=(0xFFFFFFFF,)), cfg("b")
    )
    link.connect()
    assert link.a.peer.applications == {16777216}


def _open_b() -> Link:
    link = open_link()
    link.b.sent.clear()
    return link


def _answer_from_b(link: Link, data: bytes) -> Message:
    """B's one answer to *data*, decoded whatever its command (code rewritten to DWA's)."""
    link.b.peer.receive_data(data, link.now)
    out = bytearray(link.b.peer.data_to_send())
    link.b.drain()
    assert int.from_bytes(out[1:4], "big") == len(out)
    flags = out[4]
    out[4:12] = bytes([flags & 0x20]) + (280).to_bytes(3, "big") + bytes(4)
    msg = decode(bytes(out), check_rules=False)
    msg.flags = flags
    return msg


def _lir_body(extra: bytes = b"") -> bytes:
    return s.lir().encode()[20:] + extra


def test_protocol_errors_answered_with_e_bit() -> None:
    link = _open_b()
    a = _answer_from_b(link, raw_message(399, 16777216, 0xC0, _lir_body()))
    assert a.result_code == ResultCode.COMMAND_UNSUPPORTED and a.is_error
    a = _answer_from_b(link, raw_message(302, 0, 0xC0, _lir_body()))
    assert a.result_code == ResultCode.APPLICATION_UNSUPPORTED and a.is_error
    a = _answer_from_b(link, raw_message(302, 16777216, 0xC0, _lir_body(raw_avp(9999, 0x40, b"x"))))
    assert a.result_code == ResultCode.AVP_UNSUPPORTED and not a.is_error
    assert link.b.peer.is_open and not link.b.take(events.RequestReceived)


def test_application_not_negotiated_is_3007() -> None:
    link = Link(cfg("a", auth_application_ids=(4,)), cfg("b", auth_application_ids=(4,)))
    link.connect()
    link.b.sent.clear()
    # A Cx request on a link that negotiated only app 4 ... and Cx: still fine
    assert 16777216 in link.b.peer.applications
    link2 = Link(cfg("a", vendor_specific_applications=(), auth_application_ids=(4,)),
                 cfg("b", auth_application_ids=(4,)))  # fmt: skip
    link2.connect()
    a = _answer_from_b(link2, s.lir().encode())
    assert a.result_code == ResultCode.APPLICATION_UNSUPPORTED


def test_garbage_stream_closes() -> None:
    link = _open_b()
    link.b.peer.receive_data(b"\x07" + b"\0" * 19, link.now)
    link.b.drain()
    assert link.b.take(events.CloseRequested) and link.b.peer.state is State.CLOSED


def test_non_cer_first_closes() -> None:
    link = Link(cfg("a"), cfg("b"))
    link.b.peer.connection_made(link.now)
    link.b.peer.receive_data(s.lir().encode(), link.now)
    link.b.drain()
    assert link.b.take(events.CloseRequested) and link.b.peer.state is State.CLOSED


def test_bad_cer_gets_error_cea() -> None:
    link = Link(cfg("a"), cfg("b"))
    link.b.peer.connection_made(link.now)
    body = raw_avp(264, 0x40, b"a") + raw_avp(296, 0x40, b"r")  # no Host-IP-Address etc.
    link.b.peer.receive_data(raw_message(257, 0, 0x80, body), link.now)
    out = decode(link.b.peer.data_to_send())
    link.b.drain()
    assert out.name == "CEA" and out.result_code == ResultCode.MISSING_AVP
    assert link.b.take(events.CloseRequested)


def test_connection_lost_fails_pending() -> None:
    link = open_link()
    hbh = link.a.peer.send_request(s.mar(), link.now)
    link.a.peer.connection_lost(link.now)
    link.a.drain()
    (f,) = link.a.take(events.RequestFailed)
    assert isinstance(f, events.RequestFailed) and f.hop_by_hop == hbh
    assert link.a.take(events.PeerDown) and link.a.peer.get_timer() == link.now + 1


def test_bad_answer_fails_its_request() -> None:
    link = open_link()
    hbh = link.a.peer.send_request(s.mar(), link.now)
    bad = struct.pack(">IIIII", (1 << 24) | 28, 303, 16777216, hbh, 1) + raw_avp(9999, 0x40, b"")
    link.a.peer.receive_data(bad, link.now)
    link.a.drain()
    (f,) = link.a.take(events.RequestFailed)
    assert isinstance(f, events.RequestFailed) and f.hop_by_hop == hbh


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=6))
def test_open_peer_survives_any_input(chunks: list[bytes]) -> None:
    link = open_link()
    for c in chunks:
        link.b.peer.receive_data(c, link.now)
        link.b.peer.data_to_send()
        link.b.drain()


def test_input_after_close_is_dropped() -> None:
    link = Link(cfg("a"), cfg("b"))
    link.b.peer.connection_made(link.now)
    chunk = s.lir().encode() + b"\x09" * 40  # not a CER, then garbage in the same read
    link.b.peer.receive_data(chunk, link.now)
    link.b.peer.receive_data(s.lir().encode(), link.now)
    link.b.drain()
    assert len(link.b.take(events.CloseRequested)) == 1
    assert link.b.peer.data_to_send() == b""


OPS = st.lists(
    st.tuples(
        st.sampled_from(["advance", "req_a", "req_b", "drop", "undrop", "lose_b", "stop_a"]),
        st.floats(0, 100),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_random_operation_sequences(ops: list[tuple[str, float]]) -> None:
    """Whatever happens, nothing raises but DiameterUnavailable, every request gets exactly
    one outcome, and time always moves the peer forward."""
    link = open_link()
    sent: set[int] = set()
    for op, x in ops:
        if op == "advance":
            link.advance(link.now + x)
        elif op in ("req_a", "req_b"):
            side = link.a if op == "req_a" else link.b
            try:
                hbh = side.peer.send_request(s.lir(), link.now, timeout=1 + x)
            except DiameterUnavailable:
                continue
            if side is link.a:
                sent.add(hbh)
            link.pump()
        elif op == "drop":
            link.drop_b_output = True
        elif op == "undrop":
            link.drop_b_output = False
        elif op == "lose_b":
            link.b.peer.connection_lost(link.now)
            link.a.peer.connection_lost(link.now)
            link.pump()
        elif op == "stop_a":
            link.a.peer.stop(link.now)
            link.pump()
        for req in link.b.take(events.RequestReceived):
            assert isinstance(req, events.RequestReceived)
            link.b.peer.send_answer(make_answer(req.message, 2001))
        link.pump()
    link.advance(link.now + 1000)
    outcomes = [e.hop_by_hop for e in link.a.got if isinstance(e, events.AnswerReceived)]
    outcomes += [e.hop_by_hop for e in link.a.got if isinstance(e, events.RequestFailed)]
    assert sorted(outcomes) == sorted(sent)
    assert link.a.peer.pending_count == 0
    t = link.a.peer.get_timer()
    assert t is None or t > link.now - 1000
