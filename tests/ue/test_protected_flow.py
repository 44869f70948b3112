"""The real UE client with ``--ipsec`` over loopback UDP and TCP (UE 127.0.0.121, a fake
P-CSCF 127.0.0.120) with a MemoryKernel for the SAs: no ESP here, so what is checked is
where each message goes from and to (TS 33.203 §7, TS 24.229 §5.1.1.2) and that every SA
set installed is removed at the end."""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from ims_core.ipsec.kernel import MemoryKernel
from ims_core.ipsec.sa import SaSet
from ims_core.sip import Request, Response, make_response, parse_message
from ims_core.sip.secagree import mechanisms
from ims_core.ue import cli as ue_cli
from ims_core.ue import demo_profile
from ims_core.ue.agent import EXIT_OK, Ending, Report
from ims_core.ue.call import CallPlan, MessagePlan
from ims_core.ue.cli import Ipsec, register_once, stay_registered
from ims_core.ue.client import timers_for
from tests.sipnet import stream_frames

from .beside import served
from .registrar import DOMAIN, demo_registrar
from .secagree import FakeSecAgree

IMSI = "001010000000012"
PCSCF, UE = "127.0.0.120", "127.0.0.121"
OPTIONS = (
    "OPTIONS sip:{imsi}@{ue}:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/{tp} {host}:{pc};branch=z9hG4bKopt{n}\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:pcscf@{host}>;tag=p\r\nTo: <sip:{imsi}@" + DOMAIN + ">\r\n"
    "Call-ID: opt{n}@{host}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")


@dataclass
class RecordingKernel(MemoryKernel):
    added: list[SaSet] = field(default_factory=list)

    def add(self, sa_set: SaSet) -> None:
        super().add(sa_set)
        self.added.append(sa_set)


def _free_block(host: str, size: int = 17) -> int:
    """A port whose ``size - 1`` successors are free too, on UDP and TCP."""
    for _ in range(50):
        base = random.randrange(20000, 60000 - size)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + size):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free block of ports")


@dataclass
class Arrival:
    port: int  # ours: where it arrived
    peer: tuple[str, int]  # where it came from
    message: Request | Response


Send = Callable[[bytes], None]


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, fake: FakePcscf) -> None:
        self.fake = fake
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        t = self.transport
        assert t is not None
        peer = (str(addr[0]), int(addr[1]))
        self.fake.got(data, int(t.get_extra_info("sockname")[1]), peer,
                      lambda out: t.sendto(out, addr))


class FakePcscf:
    """An unprotected port, the protected server port (port_ps) and two client ports
    (port_pc), over UDP or TCP: REGISTERs go to the fake registrar and 401s get a
    Security-Server; everything that arrives is kept with where it came from."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.registrar = demo_registrar(IMSI)
        self.arrivals: list[Arrival] = []
        self.sec = FakeSecAgree()
        self.udp: dict[int, asyncio.DatagramTransport] = {}
        self.servers: list[asyncio.Server] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.to_ue_writer: asyncio.StreamWriter | None = None
        self.readers: list[asyncio.Task[None]] = []
        self.options = 0
        self.mute = False  # leave the REGISTERs that reach port_ps unanswered

    async def start(self) -> int:
        """Listen; returns the unprotected port."""
        plain, port_ps = await self._listen(), await self._listen()
        pcs = [await self._client_port(), await self._client_port()]
        self.sec = FakeSecAgree(host=PCSCF, port_s=port_ps, client_ports=pcs)
        return plain

    async def _listen(self) -> int:
        if self.transport == "udp":
            return await self._client_port()
        server = await asyncio.start_server(self._connection, PCSCF, 0)
        self.servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def _client_port(self) -> int:
        if self.transport == "udp":
            t, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(PCSCF, 0))
            port = int(t.get_extra_info("sockname")[1])
            self.udp[port] = t
            return port
        s = socket.socket()
        s.bind((PCSCF, 0))  # a port to name; connections bind it when they need it
        port = int(s.getsockname()[1])
        s.close()
        return port

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        here = int(writer.get_extra_info("sockname")[1])
        peer = writer.get_extra_info("peername")
        async for frame in stream_frames(reader):
            self.got(frame, here, (str(peer[0]), int(peer[1])), writer.write)

    def got(self, data: bytes, port: int, peer: tuple[str, int], reply: Send) -> None:
        msg = parse_message(data, stream=self.transport == "tcp")
        self.arrivals.append(Arrival(port, peer, msg))
        if isinstance(msg, Request) and msg.method == "REGISTER":
            if self.mute and port == self.sec.port_s:
                return  # a P-CSCF that went quiet
            reply(self.sec.on_response(msg, self.registrar.handle(msg)).to_bytes())
        elif isinstance(msg, Request) and msg.method in ("INVITE", "BYE", "MESSAGE"):
            ok = make_response(msg, 200, to_tag="far")  # the far end, answering at once
            if msg.method == "INVITE":
                ok.headers.add("Contact", f"<sip:far@{PCSCF}:{self.sec.port_s}>")
            reply(ok.to_bytes())

    async def ask(self, ue_port: int) -> None:
        """An OPTIONS from our first client port (port_pc) to the UE's port_us."""
        self.options += 1
        await self.to_ue(ue_port, OPTIONS.format(
            imsi=IMSI, ue=UE, port=ue_port, host=PCSCF, pc=self.sec.client_ports[0],
            n=self.options, tp=self.transport.upper()).encode())

    async def to_ue(self, ue_port: int, data: bytes) -> None:
        """Send from our first client port (port_pc) to the UE's port_us (over TCP one
        connection from it, whose answers are read as they come)."""
        pc = self.sec.client_ports[0]
        if self.transport == "udp":
            self.udp[pc].sendto(data, (UE, ue_port))
            return
        if self.to_ue_writer is None:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((PCSCF, pc))
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (UE, ue_port))
            reader, writer = await asyncio.open_connection(sock=sock)
            self.writers.append(writer)
            self.to_ue_writer = writer
            self.readers.append(asyncio.get_running_loop().create_task(
                self._read(reader, writer, pc)))
        self.to_ue_writer.write(data)

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    port: int) -> None:
        peer = writer.get_extra_info("peername")
        async for frame in stream_frames(reader):
            self.got(frame, port, (str(peer[0]), int(peer[1])), writer.write)

    async def call_ue(self, ue_port: int, ack_branch: str = "ack") -> None:
        """INVITE the UE, ACK its 200 (a transaction of its own: a new branch, unless
        ``ack_branch`` says otherwise), then BYE (RFC 3261 §13, §15)."""
        tp, pc = self.transport.upper(), self.sec.client_ports[0]
        head = (f"sip:{IMSI}@{UE}:{ue_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/{tp} {PCSCF}:{pc};branch=z9hG4bK{{b}}\r\nMax-Forwards: 70\r\n"
                f"From: <sip:far@{DOMAIN}>;tag=f1\r\nTo: <sip:{IMSI}@{DOMAIN}>{{tag}}\r\n"
                "Call-ID: in1@far\r\nCSeq: {n} {m}\r\n")
        await self.to_ue(ue_port, (
            "INVITE " + head.format(b="inv", tag="", n=1, m="INVITE")
            + f"Contact: <sip:far@{PCSCF}:{pc}>\r\nContent-Length: 0\r\n\r\n").encode())
        ok = await self._response(200, "INVITE")
        tag = f";tag={ok.to_tag}"
        await self.to_ue(ue_port, ("ACK " + head.format(b=ack_branch, tag=tag, n=1, m="ACK")
                                   + "Content-Length: 0\r\n\r\n").encode())
        await asyncio.sleep(0.3)  # several T1: a 200 the ACK did not stop would come again
        await self.to_ue(ue_port, ("BYE " + head.format(b="bye", tag=tag, n=2, m="BYE")
                                   + "Content-Length: 0\r\n\r\n").encode())
        await self._response(200, "BYE")

    async def _response(self, status: int, method: str) -> Response:
        for _ in range(200):
            for a in self.arrivals:
                m = a.message
                if isinstance(m, Response) and m.status == status \
                        and m.cseq.method == method:
                    return m
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {status} to {method}")

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        for t in self.udp.values():
            t.close()
        for server in self.servers:
            server.close()
        for w in self.writers:
            w.close()
        for server in self.servers:
            await server.wait_closed()

    def registers(self) -> list[Arrival]:
        return [a for a in self.arrivals
                if isinstance(a.message, Request) and a.message.method == "REGISTER"]


async def _stay(transport: str, plain: int, port: int, kernel: MemoryKernel,
                report: Callable[[Report], None], *, expires: int = 600,
                duration: float | None = None, stop: asyncio.Event | None = None,
                **kwargs: Any) -> Ending:
    """The staying UE at UE:port with --ipsec against the fake P-CSCF's ``plain`` port."""
    return await asyncio.wait_for(stay_registered(
        demo_profile(IMSI), (PCSCF, plain), transport, expires=expires, subscribe=False,
        subscribe_expires=600, duration=duration, report=report, local=(UE, port),
        timers=timers_for(4), stop=stop or asyncio.Event(), ipsec=Ipsec(kernel=kernel),
        **kwargs), 10)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_the_second_register_goes_from_port_uc_to_port_ps(transport: str) -> None:
    pcscf = FakePcscf(transport)
    plain = await pcscf.start()
    port = _free_block(UE)
    kernel = RecordingKernel()
    try:
        out = await asyncio.wait_for(register_once(
            demo_profile(IMSI), (PCSCF, plain), transport, expires=60, local=(UE, port),
            timers=timers_for(4), ipsec=Ipsec(kernel=kernel)), 10)
    finally:
        await pcscf.close()
    assert out.ok, out
    first, second = pcscf.registers()
    assert (first.port, first.peer) == (plain, (UE, port + 1))  # unprotected, from port_uc
    assert (second.port, second.peer) == (pcscf.sec.port_s, (UE, port + 1))  # to port_ps
    assert isinstance(first.message, Request) and isinstance(second.message, Request)
    assert "security-verify" not in first.message.headers
    assert pcscf.sec.verified(second.message)
    offer = mechanisms(first.message, "security-client")
    assert offer == mechanisms(second.message, "security-client")
    assert (offer[0].port_c, offer[0].port_s) == (port + 1, port)
    assert str(second.message.contacts()[0].uri) == f"sip:{IMSI}@{UE}:{port}" + (
        ";transport=tcp" if transport == "tcp" else "")
    (sa_set,) = kernel.added
    assert {(sa.sport, sa.dport) for sa in sa_set.sas} == {
        (port + 1, pcscf.sec.port_s), (pcscf.sec.port_s, port + 1),
        (pcscf.sec.client_ports[0], port), (port, pcscf.sec.client_ports[0])}
    assert kernel.count() == (0, 0)  # the end of the run removed it


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_stay_answer_reregister_and_deregister_over_the_sas(transport: str) -> None:
    pcscf = FakePcscf(transport)
    plain = await pcscf.start()
    port = _free_block(UE)
    kernel = RecordingKernel()
    seen: list[Report] = []

    def report(item: Report) -> None:
        seen.append(item)
        if len(seen) == 1:  # registered: the P-CSCF asks the UE something
            asyncio.get_running_loop().create_task(pcscf.ask(port))

    try:
        ending = await _stay(transport, plain, port, kernel, report, expires=2,
                             duration=1.5, deregister=True)
    finally:
        await pcscf.close()
    assert ending.code == EXIT_OK and ending.message == "de-registered: 200 OK", (ending, seen)
    ps = pcscf.sec.port_s
    # register (unprotected, then over set 1), re-register at 1 s (over set 1, then over
    # set 2), de-register at 1.5 s (over set 2, then over set 3): TS 33.203 §7.4.
    assert [(a.port, a.peer[1]) for a in pcscf.registers()] == [
        (plain, port + 1), (ps, port + 1), (ps, port + 1), (ps, port + 2), (ps, port + 2),
        (ps, port + 3)]
    assert [a.message.headers.get("expires") for a in pcscf.registers()][-1] == "0"
    assert all(pcscf.sec.verified(a.message, i) for i, a in  # type: ignore[arg-type]
               zip([0, 0, 1, 1, 2], pcscf.registers()[1:], strict=True))
    (answer,) = [a for a in pcscf.arrivals if isinstance(a.message, Response)]
    assert answer.peer == (UE, port)  # from port_us back to port_pc
    assert answer.port == pcscf.sec.client_ports[0]
    assert len(kernel.added) == 3 and kernel.count() == (0, 0)


def _requests(pcscf: FakePcscf, method: str) -> list[Arrival]:
    return [a for a in pcscf.arrivals
            if isinstance(a.message, Request) and a.message.method == method]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_call_and_a_message_over_the_sas(transport: str) -> None:
    pcscf = FakePcscf(transport)
    plain = await pcscf.start()
    port = _free_block(UE)
    kernel = RecordingKernel()
    seen: list[Report] = []
    try:
        ending = await _stay(transport, plain, port, kernel, seen.append, deregister=True,
                             calls=[CallPlan(f"far@{DOMAIN}", seconds=0.2)],
                             texts=[MessagePlan(f"far@{DOMAIN}", "hello")])
    finally:
        await pcscf.close()
    far = f"sip:far@{DOMAIN}"
    lines = [r for r in seen if isinstance(r, str)]
    assert lines == [f"call {far}: answered", f"MESSAGE to {far}: 200 OK",
                     f"call {far}: ended (BYE 200)"] or lines == [
        f"MESSAGE to {far}: 200 OK", f"call {far}: answered", f"call {far}: ended (BYE 200)"]
    assert ending.code == EXIT_OK and ending.message == "de-registered: 200 OK"
    ps = pcscf.sec.port_s
    for method in ("INVITE", "ACK", "BYE", "MESSAGE"):
        (arrival,) = _requests(pcscf, method)  # the ACK once: no transaction (§13.2.2.4)
        assert (arrival.port, arrival.peer) == (ps, (UE, port + 1)), method
        assert isinstance(arrival.message, Request) and pcscf.sec.verified(arrival.message, 0)
    invite = _requests(pcscf, "INVITE")[0].message
    assert invite.headers.values("route")[0].startswith(f"<sip:{PCSCF}:{ps};lr")
    assert len(kernel.added) == 2 and kernel.count() == (0, 0)


@pytest.mark.parametrize(("transport", "ack_branch"), [
    ("udp", "ack"), ("tcp", "ack"),
    ("udp", "inv"),  # the INVITE's branch: it matches the Accepted transaction (RFC 6026)
])
async def test_an_incoming_call_is_answered_from_port_us(transport: str,
                                                         ack_branch: str) -> None:
    pcscf = FakePcscf(transport)
    plain = await pcscf.start()
    port = _free_block(UE)
    seen: list[Report] = []
    calls: list[asyncio.Task[None]] = []

    def report(item: Report) -> None:
        seen.append(item)
        if len(seen) == 1:
            calls.append(asyncio.get_running_loop().create_task(
                pcscf.call_ue(port, ack_branch)))

    try:
        ending = await _stay(transport, plain, port, MemoryKernel(), report, duration=1.0)
        await calls[0]
    finally:
        await pcscf.close()
    assert ending.code == EXIT_OK, (ending, seen)
    answers = [a for a in pcscf.arrivals if isinstance(a.message, Response)]
    assert [(a.message.status, a.message.cseq.method) for a in answers  # type: ignore[union-attr]
            ] == [(180, "INVITE"), (200, "INVITE"), (200, "BYE")]
    assert {(a.port, a.peer) for a in answers} == {(pcscf.sec.client_ports[0], (UE, port))}
    assert [r for r in seen if isinstance(r, str)] == [
        f"incoming call from sip:far@{DOMAIN}: answered",
        f"incoming call from sip:far@{DOMAIN}: ended"]


async def test_a_cancelled_registration_leaves_nothing() -> None:
    """What SIGINT/SIGTERM does to ``ue register --ipsec`` (the run's task cancelled)."""
    pcscf = FakePcscf("udp")
    pcscf.mute = True
    plain = await pcscf.start()
    port = _free_block(UE)
    kernel = RecordingKernel()
    task = asyncio.ensure_future(register_once(
        demo_profile(IMSI), (PCSCF, plain), "udp", expires=60, local=(UE, port),
        timers=timers_for(4), ipsec=Ipsec(kernel=kernel)))
    try:
        for _ in range(200):
            if len(pcscf.registers()) == 2:
                break
            await asyncio.sleep(0.01)
        assert kernel.count() == (4, 4)  # installed; the answer to the 401 is unanswered
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await pcscf.close()
    assert len(kernel.added) == 1 and kernel.count() == (0, 0)


async def test_a_refused_install_ends_the_registration_and_leaves_nothing() -> None:
    pcscf = FakePcscf("udp")
    plain = await pcscf.start()
    port = _free_block(UE)
    kernel = MemoryKernel(fail_next=PermissionError(1, "Operation not permitted"))
    try:
        out = await asyncio.wait_for(register_once(
            demo_profile(IMSI), (PCSCF, plain), "udp", expires=60, local=(UE, port),
            timers=timers_for(4), ipsec=Ipsec(kernel=kernel)), 10)
    finally:
        await pcscf.close()
    assert not out.ok and out.status == 503 and out.error.startswith("IPsec: ")
    assert len(pcscf.registers()) == 1 and kernel.count() == (0, 0)


@pytest.mark.parametrize("deregister", [False, True])
async def test_a_stop_removes_every_sa(deregister: bool) -> None:
    pcscf = FakePcscf("udp")
    plain = await pcscf.start()
    port = _free_block(UE)
    kernel = RecordingKernel()
    stop = asyncio.Event()
    try:
        ending = await _stay("udp", plain, port, kernel, lambda _: stop.set(), stop=stop,
                             deregister=deregister, duration=60.0)
    finally:
        await pcscf.close()
    assert ending.code == EXIT_OK
    if deregister:  # SIGTERM with --then-deregister: de-registered over the SAs first
        assert ending.message == "de-registered: 200 OK" and len(kernel.added) == 2
        assert pcscf.registers()[-1].message.headers.get("expires") == "0"
        assert pcscf.registers()[-2].peer == (UE, port + 1)
    else:
        assert ending.message == "stopped" and len(kernel.added) == 1
    assert kernel.count() == (0, 0)


# -- the command ------------------------------------------------------------------------------
MADE: list[ClosingKernel] = []


class ClosingKernel(RecordingKernel):
    """A MemoryKernel standing in for the NetlinkKernel the command opens and closes."""

    def __init__(self) -> None:
        super().__init__()
        MADE.append(self)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="ims-core")
    ue_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = args.func(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("argv", "error"), [
    (["--ipsec"], "--ipsec needs --local"),
    (["--ipsec", "--local", "localhost:5100"], "IP addresses"),
    (["--ipsec", "--local", f"{UE}:65530"], "port must be"),
    (["--ipsec", "--local", f"{UE}:5100", "--auth", "md5", "--password", "x"], "IMS-AKA"),
    (["--ipsec-alg", "hmac-md5-96"], "need --ipsec"),
])
def test_cli_ipsec_argument_checks(argv: list[str], error: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(["ue", "register", "--pcscf", f"{PCSCF}:5060", "--imsi", IMSI,
                         *argv], capsys)
    assert code == 2 and error in err, err


def test_cli_ipsec_unknown_algorithm_is_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _cli(["ue", "register", "--pcscf", f"{PCSCF}:5060", "--imsi", IMSI, "--ipsec",
              "--local", f"{UE}:5100", "--ipsec-alg", "hmac-sha-256"], capsys)
    assert exc.value.code == 2


def test_cli_ipsec_without_kernel_support_exits_2(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(ue_cli, "check_support", lambda: "CAP_NET_ADMIN is missing")
    code, out, err = _cli(["ue", "deregister", "--pcscf", f"{PCSCF}:5060", "--imsi", IMSI,
                           "--ipsec", "--local", f"{UE}:5100"], capsys)
    assert code == 2 and out == ""
    assert err.strip() == "ims-core ue: --ipsec: CAP_NET_ADMIN is missing"


def _run_cli_against(pcscf: FakePcscf, argv: list[str],
                     capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Serve ``pcscf`` beside the command; PLAIN in ``argv`` is its unprotected port."""
    with served(pcscf.start, pcscf.close) as plain:
        return _cli([a.replace("PLAIN", str(plain)) for a in argv], capsys)


@pytest.mark.parametrize("action", ["register", "deregister"])
def test_cli_ipsec_with_one_pair(action: str, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(ue_cli, "check_support", lambda: None)
    monkeypatch.setattr(ue_cli, "NetlinkKernel", ClosingKernel)
    MADE.clear()
    pcscf = FakePcscf("udp")
    port = _free_block(UE)
    code, out, err = _run_cli_against(pcscf, [
        "ue", action, "--pcscf", f"{PCSCF}:PLAIN", "--imsi", IMSI, "--timeout", "4",
        "--ipsec", "--local", f"{UE}:{port}", "--ipsec-alg", "hmac-md5-96",
        "--ipsec-ealg", "null"], capsys)
    assert code == 0, (out, err)
    assert "status: 200 OK" in out
    assert f"ipsec: ipsec-3gpp alg=hmac-md5-96 ealg=null UE {UE} port_uc={port + 1} " \
           f"port_us={port}" in out
    first, second = pcscf.registers()
    assert isinstance(first.message, Request)
    (offer,) = mechanisms(first.message, "security-client")
    assert (offer.alg, offer.ealg) == ("hmac-md5-96", "null")
    assert second.peer == (UE, port + 1) and second.port == pcscf.sec.port_s
    assert second.message.headers.get("expires") == ("0" if action == "deregister" else "600")
    (kernel,) = MADE
    assert len(kernel.added) == 1 and kernel.count() == (0, 0) and kernel.closed


def test_cli_ipsec_call_message_then_deregister(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(ue_cli, "check_support", lambda: None)
    monkeypatch.setattr(ue_cli, "NetlinkKernel", ClosingKernel)
    MADE.clear()
    pcscf = FakePcscf("tcp")
    port = _free_block(UE)
    code, out, err = _run_cli_against(pcscf, [
        "ue", "register", "--pcscf", f"{PCSCF}:PLAIN", "--imsi", IMSI, "--timeout", "4",
        "--transport", "tcp", "--ipsec", "--local", f"{UE}:{port}", "--call", "far",
        "--call-seconds", "0.2", "--message", "far", "--text", "hello",
        "--then-deregister"], capsys)
    assert code == 0, (out, err)
    far = f"sip:far@{DOMAIN}"
    lines = out.splitlines()
    assert "status: 200 OK" in lines and lines[-1] == "de-registered: 200 OK"
    for line in (f"call {far}: answered", f"MESSAGE to {far}: 200 OK",
                 f"call {far}: ended (BYE 200)"):
        assert line in lines
    (kernel,) = MADE
    assert len(kernel.added) == 2 and kernel.count() == (0, 0) and kernel.closed
