"""The UE's flow runs its requests in RFC 3261 §17.1.2 client transactions: Timer E
retransmissions over UDP only, Timer F as the UE's 408, responses matched by branch
(§17.1.3), a failed TCP flow as the UE's 503 (§8.1.3.1), keep-alives and garbage dropped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from ims_core.sip import Request, make_response, parse_message
from ims_core.transaction import TimerConfig
from ims_core.ue import Outcome
from ims_core.ue.cli import register_once
from ims_core.ue.profile import demo_profile
from tests.sipnet import Reply, udp_peer

from .registrar import FakeRegistrar, demo_registrar, serve_udp

IMSI = "001010000000003"
FAST = TimerConfig(t1=0.02)  # Timer E from 20 ms, Timer F at 1.28 s
SHORT = TimerConfig(t1=0.01)  # Timer F at 0.64 s


ConnHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _register_over_tcp(conn: ConnHandler, timers: TimerConfig | None = None) -> Outcome:
    """One registration of IMSI against a TCP server running ``conn`` per connection."""
    server = await asyncio.start_server(conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await asyncio.wait_for(register_once(
            demo_profile(IMSI), ("127.0.0.1", port), "tcp", expires=60, timers=timers), 10)
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(("drop_requests", "lose"), [
    (2, []),  # the first REGISTER and its first retransmission never arrive
    (0, [401]),  # the registrar answered; the answer was lost
    (0, [200]),
    (0, [401, 200]),
])
async def test_lost_udp_message_is_recovered_by_a_retransmission(
        drop_requests: int, lose: list[int]) -> None:
    reg = demo_registrar(IMSI)
    reg.drop_first, reg.lose = drop_requests, list(lose)
    udp, port = await serve_udp(reg)
    try:
        out = await register_once(demo_profile(IMSI), ("127.0.0.1", port), "udp",
                                  expires=60, timers=FAST)
    finally:
        udp.close()
    assert out.ok and out.challenges == 1, out
    assert reg.lose == [] and reg.drop_first == 0  # every chosen message was lost once
    assert len(reg.seen) == 2  # the registrar's transactions absorbed the retransmissions
    assert reg.datagrams >= 2 + len(lose)  # Timer E resent each request that lost its answer


class _Recorder(asyncio.DatagramProtocol):
    """A P-CSCF that never answers: records when each datagram came."""

    def __init__(self) -> None:
        self.got: list[tuple[float, bytes]] = []

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.got.append((time.monotonic(), data))


async def test_udp_gives_up_at_timer_f_after_timer_e_retransmissions() -> None:
    loop = asyncio.get_running_loop()
    silent, rec = await loop.create_datagram_endpoint(_Recorder, local_addr=("127.0.0.1", 0))
    port = silent.get_extra_info("sockname")[1]
    start = time.monotonic()
    try:
        out = await asyncio.wait_for(register_once(
            demo_profile(IMSI), ("127.0.0.1", port), "udp", expires=60, timers=SHORT), 10)
    finally:
        silent.close()
    elapsed = time.monotonic() - start
    assert out.status == 408 and out.reason == "Request Timeout"
    assert out.error == "no final response to REGISTER within 0.64s"
    assert elapsed >= 0.64
    # E at 10, 30, 70, 150, 310, 630 ms (doubling, T2 = 4 s is never reached): at most
    # six copies after the first, all the same request.
    copies = [data for _, data in rec.got]
    assert 3 <= len(copies) <= 7, len(copies)
    assert len(set(copies)) == 1
    gaps = [b[0] - a[0] for a, b in zip(rec.got, rec.got[1:], strict=False)]
    assert gaps[-1] > gaps[0]  # the interval grows


async def test_tcp_sends_once_and_gives_up_at_timer_f() -> None:
    received: list[bytes] = []

    async def conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            received.append(data)
        writer.close()

    out = await _register_over_tcp(conn, SHORT)
    assert out.status == 408 and "within 0.64s" in out.error
    assert b"".join(received).count(b"REGISTER sip:") == 1  # §17.1.2.2: no Timer E


async def test_tcp_flow_closed_by_the_peer_is_503() -> None:
    async def conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.close()  # reads the REGISTER, answers nothing, hangs up

    start = time.monotonic()
    out = await _register_over_tcp(conn)
    assert out.status == 503 and "connection" in out.error
    assert time.monotonic() - start < 5  # not Timer F's 32 s


def noisy(reg: FakeRegistrar) -> Callable[[bytes, Reply], None]:
    """A registrar that sends a keep-alive, garbage and a 200 OK for another transaction
    before each real response."""

    def datagram(data: bytes, reply: Reply) -> None:
        req = parse_message(data)
        assert isinstance(req, Request)
        stray = make_response(req, 200, to_tag="x")
        via = stray.top_via()
        via.set_param("branch", "z9hG4bK-another-transaction")
        stray.set_top_via(via)
        for noise in (b"\r\n\r\n", b"\r\n", b"not SIP at all\r\n\r\n", stray.to_bytes()):
            reply(noise)
        reply(reg.handle(req).to_bytes())

    return datagram


async def test_udp_drops_keepalives_garbage_and_foreign_responses() -> None:
    reg = demo_registrar(IMSI)
    udp, port = await udp_peer(noisy(reg))
    try:
        out = await register_once(demo_profile(IMSI), ("127.0.0.1", port), "udp",
                                  expires=60, timers=FAST)
    finally:
        udp.close()
    # The stray 200 came first each time: taken for ours, it would have ended the
    # registration before any challenge.
    assert out.ok and out.challenges == 1 and out.algorithm == "AKAv1-MD5", out


async def test_tcp_answers_a_ping_with_a_pong() -> None:
    reg = demo_registrar(IMSI)
    pongs: list[bytes] = []

    async def conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            req = parse_message(head, stream=True)
            assert isinstance(req, Request)
            writer.write(b"\r\n\r\n")  # RFC 5626 §3.5.1 ping before the response
            pongs.append(await reader.readexactly(2))
            writer.write(reg.handle(req).to_bytes())
            if req.auth_headers("authorization")[0].response:
                break
        await reader.read()  # until the UE closes
        writer.close()

    out = await _register_over_tcp(conn, FAST)
    assert out.ok, out
    assert pongs == [b"\r\n", b"\r\n"]
