"""CscfCore.query → CscfServer → DiameterNode → a real in-process HSS stub, and back.

A tiny CSCF answers every REGISTER itself with what its UAR produced: ``200`` with the
UAA's result, or ``480`` naming the exception that stood in for the answer. A UDP
socket plays the SIP client; the HSS is a DiameterNode with a UAR handler, both on
ephemeral loopback ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from functools import partial

import pytest

from ims_core.cscf import (
    DOMAIN,
    CscfConfig,
    CscfCore,
    CxOutcome,
    DiameterClient,
    SipListen,
    runner,
)
from ims_core.cscf.runner import serve
from ims_core.diameter import (
    UAR,
    CxResult,
    DiameterConfig,
    DiameterNode,
    Message,
    make_answer,
)
from ims_core.proxy import RequestContext, Target
from ims_core.sip import Response, parse_message

HOST = "127.0.0.1"
CSCF_HOST = f"cscf.{DOMAIN}"
HSS_HOST = f"hss.{DOMAIN}"


class UarCscf(CscfCore[None]):
    """Answers each request with the outcome of one UAR."""

    timeout: float | None = None

    def route_request(
        self, ctx: RequestContext[None]
    ) -> Target | Sequence[Target] | Response | None:
        uar = self.cx_request("UAR", [("User-Name", "impi@" + DOMAIN),
                                      ("Public-Identity", f"sip:user@{DOMAIN}"),
                                      ("Visited-Network-Identifier", DOMAIN.encode())])
        self.query(uar, partial(self._done, ctx), ctx=ctx, now=ctx.created,
                   timeout=self.timeout)
        return None

    def _done(self, ctx: RequestContext[None], outcome: CxOutcome, now: float) -> None:
        if isinstance(outcome, Message):
            response = self.make_response(ctx, 200)
            response.headers.add("X-Result", str(outcome.result))
            response.headers.add("X-Server-Name", outcome.get_str("Server-Name") or "-")
        else:
            response = self.make_response(ctx, 480)
            response.headers.add("X-Error", type(outcome).__name__)
        self.respond(ctx, response, now)


@dataclass
class Hss:
    node: DiameterNode
    port: int
    seen: list[Message] = field(default_factory=list)
    delay: float = 0.0


@pytest.fixture
async def hss() -> AsyncIterator[Hss]:
    node = DiameterNode(DiameterConfig(HSS_HOST, DOMAIN, watchdog_jitter=0.0))
    stub = Hss(node, 0)

    async def on_uar(req: Message) -> Message:
        stub.seen.append(req)
        if stub.delay:
            await asyncio.sleep(stub.delay)
        ans = make_answer(req, experimental=CxResult.FIRST_REGISTRATION,
                          origin_host=HSS_HOST, origin_realm=DOMAIN)
        ans.add("Server-Name", f"sip:scscf.{DOMAIN}:5060")
        return ans

    node.add_handler(UAR, on_uar)
    stub.port = await node.listen(HOST, 0)
    yield stub
    await node.stop()


@contextlib.asynccontextmanager
async def running(cfg: CscfConfig, core: CscfCore[None]) -> AsyncIterator[asyncio.Task[int]]:
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve("testcscf", core, cfg, ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 5)
    try:
        yield task
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0


def config(hss_port: int | None, request_timeout: float = 2.0) -> CscfConfig:
    diameter = None if hss_port is None else DiameterClient(
        origin_host=CSCF_HOST, hss_host=HOST, hss_port=hss_port,
        request_timeout=request_timeout)
    return CscfConfig(sip=SipListen(HOST, 0), diameter=diameter)


def make_core(cfg: CscfConfig) -> UarCscf:
    return UarCscf(cfg.proxy_config(), cfg.diameter, cfg.timer_config())


async def exchange(core: CscfCore[None], call_id: str = "c1") -> Response:
    """One REGISTER from a UDP socket to the running core; its final response."""
    loop = asyncio.get_running_loop()
    port = core.config.port
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    me = sock.getsockname()
    req = (
        f"REGISTER sip:{DOMAIN} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {me[0]}:{me[1]};rport;branch=z9hG4bK{call_id}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:user@{DOMAIN}>;tag=1\r\nTo: <sip:user@{DOMAIN}>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 REGISTER\r\nContact: <sip:u@{me[0]}:{me[1]}>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    try:
        await loop.sock_sendto(sock, req, (HOST, port))
        while True:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65535), 10)
            msg = parse_message(data)
            assert isinstance(msg, Response)
            if msg.status >= 200:
                return msg
    finally:
        sock.close()


async def test_query_goes_over_diameter_and_the_answer_comes_back(hss: Hss) -> None:
    cfg = config(hss.port)
    core = make_core(cfg)
    async with running(cfg, core):
        responses = [await exchange(core, f"c{i}") for i in range(3)]
    assert [(r.status, r.headers.get("x-result")) for r in responses] == [(200, "2001")] * 3
    assert responses[0].headers.get("x-server-name") == f"sip:scscf.{DOMAIN}:5060"
    assert len(hss.seen) == 3
    uar = hss.seen[0]
    assert uar.origin_host == CSCF_HOST and uar.origin_realm == DOMAIN
    assert uar.get_str("Destination-Realm") == DOMAIN
    assert uar.get_int("Auth-Session-State") == 1
    assert uar.get_grouped("Vendor-Specific-Application-Id") is not None
    assert len({m.session_id for m in hss.seen}) == 3  # a Session-Id per query


async def test_concurrent_queries_each_get_their_answer(hss: Hss) -> None:
    cfg = config(hss.port)
    core = make_core(cfg)
    async with running(cfg, core):
        responses = await asyncio.gather(*(exchange(core, f"p{i}") for i in range(20)))
    assert all(r.status == 200 for r in responses)
    assert sorted(r.call_id for r in responses) == sorted(f"p{i}" for i in range(20))


async def test_hss_down_gives_diameter_unavailable() -> None:
    probe = socket.socket()
    probe.bind((HOST, 0))
    dead_port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    cfg = config(dead_port)
    core = make_core(cfg)
    async with running(cfg, core):
        await asyncio.sleep(0.2)  # the first connect attempt fails
        response = await exchange(core)
    assert (response.status, response.headers.get("x-error")) == (480, "DiameterUnavailable")


async def test_slow_hss_gives_diameter_timeout_per_query_timeout(hss: Hss) -> None:
    hss.delay = 1.0
    cfg = config(hss.port)
    core = make_core(cfg)
    core.timeout = 0.2
    async with running(cfg, core):
        response = await exchange(core)
    assert (response.status, response.headers.get("x-error")) == (480, "DiameterTimeout")


async def test_slow_hss_gives_diameter_timeout_from_config(hss: Hss) -> None:
    hss.delay = 1.0
    cfg = config(hss.port, request_timeout=0.2)
    core = make_core(cfg)
    async with running(cfg, core):
        response = await exchange(core)
    assert response.headers.get("x-error") == "DiameterTimeout"


async def test_no_diameter_config_gives_unavailable() -> None:
    cfg = config(None)
    core = make_core(cfg)
    with pytest.raises(RuntimeError):
        core.cx_request("UAR")
    core.cx_request = lambda *a, **k: Message(UAR)  # type: ignore[method-assign]
    async with running(cfg, core):
        response = await exchange(core)
    assert response.headers.get("x-error") == "DiameterUnavailable"


async def test_serve_reports_bind_failure_with_status_3() -> None:
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind((HOST, 0))
    try:
        cfg = CscfConfig(sip=SipListen(HOST, blocker.getsockname()[1]))
        status = await asyncio.wait_for(serve("testcscf", make_core(cfg), cfg), 5)
    finally:
        blocker.close()
    assert status == 3  # the node commands' "cannot bind or listen"


class BrokenCallbackCscf(UarCscf):
    """Its UAA callback raises for Call-ID "boom": a bug of ours, in a node."""

    def _done(self, ctx: RequestContext[None], outcome: CxOutcome, now: float) -> None:
        if ctx.request.headers.get("call-id") == "boom":
            raise RuntimeError("bug in a callback")
        super()._done(ctx, outcome, now)


async def test_a_failing_callback_answers_500_and_the_node_keeps_serving(hss: Hss) -> None:
    cfg = config(hss.port)
    core = BrokenCallbackCscf(cfg.proxy_config(), cfg.diameter, cfg.timer_config())
    async with running(cfg, core):
        failed = await exchange(core, "boom")
        ok = await exchange(core, "fine")
    assert failed.status == 500 and "cause=500" in (failed.headers.get("reason") or "")
    assert ok.status == 200 and ok.headers.get("x-result") == "2001"


async def test_queries_go_without_a_task_each_and_close_forgets_the_pending_ones(
    hss: Hss, monkeypatch: pytest.MonkeyPatch,
) -> None:
    hss.delay = 0.5
    monkeypatch.setattr(runner, "stop_grace", lambda cfg: 0.0)  # no drain: close at once
    cfg = config(hss.port)
    core = make_core(cfg)
    answered: list[str] = []
    done = core._done

    def record(ctx: RequestContext[None], outcome: CxOutcome, now: float) -> None:
        answered.append(type(outcome).__name__)
        done(ctx, outcome, now)

    core._done = record  # type: ignore[method-assign]
    async with running(cfg, core):
        asking = [asyncio.ensure_future(exchange(core, f"q{i}")) for i in range(5)]
        for _ in range(200):
            if len(hss.seen) == 5:
                break
            await asyncio.sleep(0.01)
        assert len(hss.seen) == 5 and core.open_queries == 5
        # the HSS stub's handlers are tasks; the CSCF's queries in flight are not
        names = [t.get_coro().__qualname__ for t in asyncio.all_tasks()]
        assert names.count("await_handler") == 5
        assert not [n for n in names if n.startswith(("CscfServer.", "DiameterNode.request",
                                                      "DiameterNode._send_later"))]
    # closed while the HSS still holds them: nobody is called back afterwards
    await asyncio.sleep(0.6)
    assert answered == [] and core.open_queries == 5
    for t in asking:
        t.cancel()
    await asyncio.gather(*asking, return_exceptions=True)
