"""Requests the HSS sends a CSCF (RTR, PPR) over the Diameter connection the CSCF opened:
the node runner wires them to ``CscfCore.handle_cx_request`` and sends at once what the
core decided on the way (SIP requests, Cx queries).

An HSS-like DiameterNode listens on 127.0.0.81 (port 0); the CSCF runs with
``ims_core.cscf.runner.serve`` as a node does (``running``); a UDP socket stands for a UE.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from ims_core.cscf import DOMAIN, CscfConfig, CscfCore, CxOutcome, DiameterClient, SipListen
from ims_core.diameter import (
    FLAG_E,
    LIR,
    RTR,
    VENDOR_3GPP,
    CxResult,
    DiameterConfig,
    DiameterError,
    DiameterNode,
    Message,
    ResultCode,
    make_answer,
)
from ims_core.scscf import ScscfConfig, ScscfCore
from ims_core.sip import Request, parse_message
from tests.cscf.test_server import Hss, running
from tests.sipmsg import build_request

HOST = "127.0.0.81"
CSCF_HOST = f"cscf.{DOMAIN}"
HSS_HOST = f"hss.{DOMAIN}"
IMPI = f"alice@{DOMAIN}"
IMPU = f"sip:alice@{DOMAIN}"


class AnsweringCscf(CscfCore[None]):
    """Answers RTR itself and, on the way, asks the HSS (an LIR) and sends a NOTIFY to
    ``ue``: the two kinds of output the adapter must flush after the answer. PPR is left
    to the base class (3001). With ``fail`` set it raises after queuing them."""

    def __init__(self, cfg: CscfConfig, ue: tuple[str, int]) -> None:
        super().__init__(cfg.proxy_config(), cfg.diameter, cfg.timer_config())
        self.ue = ue
        self.fail = False
        self.seen: list[Message] = []
        self.answers: list[CxOutcome] = []

    def handle_cx_request(self, request: Message, now: float) -> Message:
        if request.command_code != RTR:
            return super().handle_cx_request(request, now)
        self.seen.append(request)
        lir = self.cx_request("LIR", [("Public-Identity", IMPU)])
        self.query(lir, lambda outcome, _now: self.answers.append(outcome), ctx=None, now=now)
        host, port = self.ue
        notify = build_request(
            "NOTIFY", f"sip:ue@{host}:{port}", vias=[], from_=f"<{IMPU}>;tag=s1",
            to=f"<{IMPU}>;tag=u1", call_id="reg-sub-1", cseq=2,
            headers=["Event: reg", "Subscription-State: terminated;reason=deactivated",
                     f"Contact: <sip:{HOST}:{self.config.port}>"])
        self.originate(notify, lambda _response, _now: None, now)
        if self.fail:
            raise RuntimeError("a bug after queuing")
        return make_answer(request, ResultCode.SUCCESS)


@pytest.fixture
async def hss() -> AsyncIterator[Hss]:
    """An HSS that answers LIR 2001 and keeps what it got in ``seen``."""

    async def on_lir(req: Message) -> Message:
        stub.seen.append(req)
        return make_answer(req, ResultCode.SUCCESS, origin_host=HSS_HOST, origin_realm=DOMAIN)

    node = DiameterNode(DiameterConfig(HSS_HOST, DOMAIN, watchdog_jitter=0.0))
    node.add_handler(LIR, on_lir)
    stub = Hss(node, await node.listen(HOST, 0))
    yield stub
    await node.stop()


@pytest.fixture
def ue() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def config(hss_port: int) -> CscfConfig:
    return CscfConfig(sip=SipListen(HOST, 0), diameter=DiameterClient(
        origin_host=CSCF_HOST, hss_host=HOST, hss_port=hss_port))


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def connected(cfg: CscfConfig, core: CscfCore[Any], hss: Hss) -> AsyncIterator[None]:
    """The CSCF as a node runs it, once the HSS can reach it."""
    async with running(cfg, core):
        await until(lambda: hss.node.open_peers == [CSCF_HOST])
        yield


def rtr(hss: Hss, command: str = "RTR") -> Message:
    req = hss.node.new_request(command, destination_host=CSCF_HOST)
    req.add("User-Name", IMPI)
    if command == "RTR":
        req.add("Deregistration-Reason", {"Reason-Code": "NEW_SERVER_ASSIGNED"})
    else:
        req.add("Charging-Information",
                {"Primary-Charging-Collection-Function-Name": "aaa://ccf.ims.example"})
    return req


async def received(sock: socket.socket) -> Request:
    data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 65535), 5)
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


async def test_rtr_over_the_cscfs_own_connection_reaches_the_core(
        hss: Hss, ue: socket.socket) -> None:
    cfg = config(hss.port)
    core = AnsweringCscf(cfg, ue.getsockname())
    async with connected(cfg, core, hss):
        req = rtr(hss)
        ans = await hss.node.request(req, timeout=5)  # by Destination-Host: the CSCF
        assert ans.name == "RTA" and ans.result_code == ResultCode.SUCCESS
        assert ans.session_id == req.session_id and ans.origin_host == CSCF_HOST
        assert [m.session_id for m in core.seen] == [req.session_id]
        assert core.seen[0].get_str("User-Name") == IMPI
        # What the core queued while answering went out at once.
        notify = await received(ue)
        assert notify.method == "NOTIFY" and notify.headers.get("event") == "reg"
        await until(lambda: len(core.answers) == 1)
        assert [m.get_str("Public-Identity") for m in hss.seen] == [IMPU]


async def test_a_core_that_raises_still_answers_and_flushes(
        hss: Hss, ue: socket.socket) -> None:
    cfg = config(hss.port)
    core = AnsweringCscf(cfg, ue.getsockname())
    core.fail = True
    async with connected(cfg, core, hss):
        ans = await hss.node.request(rtr(hss), timeout=5)
        assert ans.result_code == ResultCode.UNABLE_TO_COMPLY
        assert (await received(ue)).method == "NOTIFY"
        await until(lambda: len(hss.seen) == 1)


async def test_a_cscf_that_serves_no_hss_requests_answers_3001(
        hss: Hss, ue: socket.socket) -> None:
    cfg = config(hss.port)
    core = AnsweringCscf(cfg, ue.getsockname())
    async with connected(cfg, core, hss):
        ans = await hss.node.request(rtr(hss, "PPR"), timeout=5)
    assert ans.name == "PPA" and ans.result_code == ResultCode.COMMAND_UNSUPPORTED
    assert ans.flags & FLAG_E and core.seen == []


def test_the_base_hook_refuses_with_command_unsupported() -> None:
    cfg = config(3868)
    core = CscfCore[None](cfg.proxy_config(), cfg.diameter)
    with pytest.raises(DiameterError) as caught:
        core.handle_cx_request(Message(RTR), 0.0)
    assert caught.value.result_code == ResultCode.COMMAND_UNSUPPORTED


async def test_the_scscf_answers_rtr_and_ppr_over_the_wire(hss: Hss) -> None:
    cfg = ScscfConfig(sip=SipListen(HOST, 0), diameter=DiameterClient(
        origin_host=CSCF_HOST, hss_host=HOST, hss_port=hss.port))
    async with connected(cfg, ScscfCore(cfg), hss):
        for command in ("RTR", "PPR"):
            ans = await hss.node.request(rtr(hss, command), timeout=5)
            assert ans.origin_host == CSCF_HOST
            assert ans.experimental_result == (VENDOR_3GPP, CxResult.ERROR_USER_UNKNOWN)
