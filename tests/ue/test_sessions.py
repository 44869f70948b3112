"""Calls and MESSAGEs of the staying UE (``ims-core ue register --call/--message``), two
Agents with a fake clock and no sockets: a fake network between them registers both,
strips Route, adds its Via and, on the INVITE, Record-Route, as the CSCFs do."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable

import pytest

from ims_core.ipsec.kernel import MemoryKernel
from ims_core.sip import Request, Response, make_response, parse_message
from ims_core.transaction import TimedOut, TimerConfig
from ims_core.ue import cli as ue_cli
from ims_core.ue import demo_profile
from ims_core.ue.agent import EXIT_FAILED, EXIT_OK, Agent
from ims_core.ue.call import CallPlan, MessagePlan
from ims_core.ue.messages import Local
from ims_core.ue.protection import Protection

from .registrar import DOMAIN, Sub, demo_registrar
from .secagree import PORT_PS, Pcscf, apply_effects

A_IMSI, B_IMSI = "001010000000021", "001010000000022"
A_URI, B_URI = f"sip:{A_IMSI}@{DOMAIN}", f"sip:{B_IMSI}@{DOMAIN}"
OUTBOUND = "<sip:127.0.0.120:5060;lr>"
SERVICE_ROUTE = "<sip:orig@127.0.0.3:5060;lr>"
RR = "<sip:127.0.0.120:5060;lr>"
T1 = TimerConfig().t1


def _rng() -> Callable[[int], bytes]:
    counter = itertools.count()
    return lambda n: bytes((next(counter) + i) % 256 for i in range(n))


def _wire(message: Request | Response) -> Request | Response:
    return parse_message(message.to_bytes())


class Network:
    """Registrar for both UEs; everything else from one agent goes to the other."""

    def __init__(self, a: Agent, b: Agent | None) -> None:
        self.registrar = demo_registrar(A_IMSI)
        k = demo_profile(B_IMSI)
        assert k.k is not None and k.opc is not None
        self.registrar.add(Sub(impi=k.impi, k=k.k, opc=k.opc))
        self.agents = [a] + ([b] if b is not None else [])
        self.now = 0.0
        self.seen: list[Request] = []  # what reached the far side
        self.status_without_b = 480
        self.hops = itertools.count()

    def other(self, agent: Agent) -> Agent | None:
        return next((x for x in self.agents if x is not agent), None)

    def run(self) -> None:
        for _ in range(100):
            busy = [a for a in self.agents if a.outbox or a.resend]
            if not busy:
                return
            agent = busy[0]
            for response in agent.resend:
                self._response_to(self.other(agent), response)
            agent.resend.clear()
            if agent.outbox:
                self._send(agent, agent.outbox.pop(0))
        raise AssertionError("the agents kept sending")

    def _send(self, agent: Agent, req: Request) -> None:
        if req.method == "REGISTER":
            reply = _wire(self.registrar.handle(_wire(req)))  # type: ignore[arg-type]
            agent.on_result(req, reply, self.now)  # type: ignore[arg-type]
            return
        far = self.other(agent)
        arrived = _wire(req)
        assert isinstance(arrived, Request)
        arrived.headers.remove("route")
        if arrived.method == "INVITE":
            arrived.push_address("Record-Route", RR)
        arrived.push_via(f"SIP/2.0/UDP 127.0.0.120:5060;branch=z9hG4bKnet{next(self.hops)}")
        arrived = _wire(arrived)
        assert isinstance(arrived, Request)
        self.seen.append(arrived)
        if far is None:
            if req.method != "ACK":
                agent.on_result(req, _wire(make_response(  # type: ignore[arg-type]
                    req, self.status_without_b, to_tag="net")), self.now)
            return
        responses = far.answer(arrived, self.now)
        for response in responses:
            back = _wire(response)
            assert isinstance(back, Response)
            back.pop_via()
            back = _wire(back)
            assert isinstance(back, Response)
            if req.method == "ACK":
                continue
            if back.status < 200:
                agent.on_response(req, back, self.now)
            else:
                agent.on_result(req, back, self.now)

    def _response_to(self, agent: Agent | None, response: Response) -> None:
        """A 2xx sent again: to the caller's INVITE (as a 2xx retransmission)."""
        if agent is None:
            return
        back = _wire(response)
        assert isinstance(back, Response)
        back.pop_via()
        for call in agent.sessions.calls:
            if call.invite is not None:
                agent.on_response(call.invite, _wire(back), self.now)  # type: ignore[arg-type]

    def tick(self, until: float) -> None:
        while True:
            times = [t for a in self.agents if (t := a.get_timer()) is not None and t <= until]
            if not times:
                break
            self.now = min(times)
            for a in self.agents:
                if (t := a.get_timer()) is not None and t <= self.now:
                    a.handle_timer(self.now)
            self.run()
        self.now = until


def _pair(*, calls: list[CallPlan] | None = None, texts: list[MessagePlan] | None = None,
          b: bool = True, **kwargs: object) -> tuple[Agent, Agent | None, Network]:
    a = Agent(demo_profile(A_IMSI), Local("udp", "127.0.0.123", 5300), OUTBOUND,
              subscribe=False, rng=_rng(), calls=calls or [], texts=texts or [],
              **kwargs)  # type: ignore[arg-type]
    other = Agent(demo_profile(B_IMSI), Local("udp", "127.0.0.124", 5400), OUTBOUND,
                  subscribe=False, duration=1000.0, rng=_rng()) if b else None
    net = Network(a, other)
    if other is not None:
        other.start(0.0)
        net.run()
    a.start(0.0)
    net.run()
    return a, other, net


def _lines(agent: Agent | None) -> list[str]:
    assert agent is not None
    return [r for r in agent.reports if isinstance(r, str)]


def test_a_call_and_a_message_after_registering_then_the_run_ends() -> None:
    a, b, net = _pair(calls=[CallPlan(B_IMSI, seconds=2.0)],
                      texts=[MessagePlan(B_URI, "hello")])
    invite = next(r for r in net.seen if r.method == "INVITE")
    assert invite.uri_text == B_URI and invite.headers.get("record-route") == RR
    assert _lines(a) == [f"call {B_URI}: answered", f"MESSAGE to {B_URI}: 200 OK"]
    assert a.ending is None
    net.tick(2.0)
    assert _lines(a)[-1] == f"call {B_URI}: ended (BYE 200)"
    assert a.ending is not None and (a.ending.code, a.ending.message) == (EXIT_OK, "done")
    assert _lines(b) == [f"incoming call from {A_URI}: answered",
                         f"MESSAGE from {A_URI}: hello",
                         f"incoming call from {A_URI}: ended"]
    assert [r.method for r in net.seen] == ["INVITE", "MESSAGE", "ACK", "BYE"]


def test_initial_requests_route_through_the_outbound_proxy_and_service_route() -> None:
    a, _, _ = _pair(calls=[CallPlan(B_URI)], b=False)
    assert a.outbox == []
    invite = a.sessions.calls[0].invite
    assert invite is not None
    assert invite.headers.values("route") == [OUTBOUND, SERVICE_ROUTE]


def test_a_failed_call_ends_the_run_with_1() -> None:
    a, _, _ = _pair(calls=[CallPlan(B_URI)], b=False)
    assert _lines(a) == [f"call {B_URI}: 480 Temporarily Unavailable"]
    assert a.ending is not None and a.ending.code == EXIT_FAILED
    assert a.ending.message == "done; 1 call(s)/MESSAGE(s) failed"


def test_a_message_without_an_answer_fails() -> None:
    a = Agent(demo_profile(A_IMSI), Local("udp", "127.0.0.123", 5300), OUTBOUND,
              subscribe=False, rng=_rng(), texts=[MessagePlan(B_URI, "hi")])
    net = Network(a, None)
    a.start(0.0)
    while a.outbox and a.outbox[0].method == "REGISTER":
        net._send(a, a.outbox.pop(0))
    (msg,) = a.outbox
    a.outbox.clear()
    a.on_result(msg, TimedOut("F"), 32.0)
    assert _lines(a)[-1].startswith(f"MESSAGE to {B_URI}: 408 Request Timeout")
    assert a.ending is not None and a.ending.code == EXIT_FAILED


def test_then_deregister_after_the_call() -> None:
    a, _, net = _pair(calls=[CallPlan(B_URI, seconds=1.0)], deregister=True)
    net.tick(1.0)
    assert net.registrar.seen[-1].headers.get("expires") == "0"
    assert a.ending is not None and a.ending.message == "de-registered: 200 OK"
    assert a.ending.code == EXIT_OK


def test_a_staying_ue_resends_its_2xx_until_the_ack() -> None:
    _, b, _ = _pair(b=True)
    assert b is not None
    invite = parse_message((
        f"INVITE sip:{B_IMSI}@127.0.0.124:5400 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.120:5060;branch=z9hG4bKx1\r\nMax-Forwards: 69\r\n"
        f"From: <{A_URI}>;tag=a1\r\nTo: <{B_URI}>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:{A_IMSI}@127.0.0.123:5300>\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(invite, Request)
    responses = b.answer(invite, 10.0)
    assert [r.status for r in responses] == [180, 200]
    b.handle_timer(10.0 + T1)
    assert [r.status for r in b.resend] == [200]
    ack = parse_message(invite.to_bytes().replace(b"INVITE sip", b"ACK sip").replace(
        b"1 INVITE", b"1 ACK").replace(b"To: <" + B_URI.encode() + b">",
                                       b"To: <" + B_URI.encode() + b">;tag="
                                       + (responses[1].to_tag or "").encode()))
    assert isinstance(ack, Request)
    assert b.answer(ack, 10.0 + T1) == []
    b.resend.clear()
    b.handle_timer(10.0 + 4 * T1)
    assert b.resend == []


def test_with_ipsec_calls_carry_security_verify_and_name_the_protected_port() -> None:
    kernel, pcscf = MemoryKernel(), Pcscf()
    a = Agent(demo_profile("001010000000011"), Local("udp", "127.0.0.122", 5200),
              "<sip:127.0.0.120:5060;lr>", subscribe=False, rng=_rng(),
              protection=Protection("127.0.0.122", 5200, ("127.0.0.120", 5060)),
              calls=[CallPlan(B_URI)])
    a.start(0.0)
    p = a.protection
    assert p is not None
    while a.outbox and a.outbox[0].method == "REGISTER":
        assert apply_effects(p, kernel) is None
        req = a.outbox.pop(0)
        a.on_result(req, pcscf.answer(req), 0.0)
    (invite,) = a.outbox
    assert invite.headers.values("route")[0] == f"<sip:127.0.0.120:{PORT_PS};lr>"
    assert pcscf.sec.verified(invite)
    assert invite.headers.get("proxy-require") == "sec-agree"
    a.outbox.clear()
    ok = make_response(invite, 200, to_tag="b1")
    ok.headers.add("Contact", f"<sip:{B_IMSI}@127.0.0.124:5400>")
    a.on_result(invite, _wire(ok), 0.1)  # type: ignore[arg-type]
    (ack,) = a.outbox
    assert ack.method == "ACK" and pcscf.sec.verified(ack)
    assert "require" not in ack.headers and "proxy-require" not in ack.headers
    a.outbox.clear()
    a.on_response(invite, _wire(ok), 0.2)  # type: ignore[arg-type]  # the 2xx again
    (again,) = a.outbox
    assert again is ack and again.headers.count("security-verify") == 1


@pytest.mark.parametrize(("argv", "error"), [
    (["--message", "bob"], "--message TARGET and --text TEXT go together"),
    (["--text", "hi"], "--message TARGET and --text TEXT go together"),
    (["--call", "bob", "--call-seconds", "0"], "--call-seconds must be"),
])
def test_cli_call_and_message_arguments(argv: list[str], error: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="ims-core")
    ue_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["ue", "register", "--pcscf", "127.0.0.120:5060", "--imsi",
                              A_IMSI, *argv])
    assert args.func(args) == 2
    assert error in capsys.readouterr().err
