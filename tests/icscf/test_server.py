"""The I-CSCF on real sockets: a UDP P-CSCF, a stub HSS (DiameterNode), a UDP S-CSCF."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from ims_core.cscf import DOMAIN, DiameterClient, SipListen
from ims_core.cscf.runner import serve
from ims_core.diameter import UAR, CxResult, DiameterConfig, DiameterNode, Message, make_answer
from ims_core.icscf import IcscfConfig, IcscfCore, ScscfEntry
from ims_core.sip import Request, Response, parse_message

HOST = "127.0.0.1"
IMPI = f"001010000000001@{DOMAIN}"


@pytest.fixture
async def hss() -> AsyncIterator[tuple[int, list[Message]]]:
    node = DiameterNode(DiameterConfig(f"hss.{DOMAIN}", DOMAIN, watchdog_jitter=0.0))
    seen: list[Message] = []

    async def on_uar(req: Message) -> Message:
        seen.append(req)
        if req.get_str("User-Name") != IMPI:
            return make_answer(req, experimental=CxResult.ERROR_USER_UNKNOWN,
                               origin_host=f"hss.{DOMAIN}", origin_realm=DOMAIN)
        ans = make_answer(req, experimental=CxResult.FIRST_REGISTRATION,
                          origin_host=f"hss.{DOMAIN}", origin_realm=DOMAIN)
        ans.add("Server-Capabilities", {"Server-Name": [f"sip:scscf.{DOMAIN}:5060"]})
        return ans

    node.add_handler(UAR, on_uar)
    port = await node.listen(HOST, 0)
    yield port, seen
    await node.stop()


def udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.setblocking(False)
    return s


async def recv(sock: socket.socket) -> Request | Response:
    data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 65535), 10)
    return parse_message(data)


def register(me: tuple[str, int], user: str, branch: str) -> bytes:
    return (
        f"REGISTER sip:{DOMAIN} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {me[0]}:{me[1]};branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{user}@{DOMAIN}>;tag=1\r\nTo: <sip:{user}@{DOMAIN}>\r\n"
        f"Call-ID: {branch}\r\nCSeq: 1 REGISTER\r\nContact: <sip:u@{me[0]}:{me[1]}>\r\n"
        "Expires: 600\r\nPath: <sip:term@127.0.0.1:5060;lr>\r\nContent-Length: 0\r\n\r\n"
    ).encode()


async def test_register_reaches_the_selected_scscf_and_errors_come_back(
    hss: tuple[int, list[Message]],
) -> None:
    hss_port, seen = hss
    pcscf, scscf = udp(), udp()
    s_addr = scscf.getsockname()
    cfg = IcscfConfig(
        sip=SipListen(HOST, 0),
        diameter=DiameterClient(origin_host=f"icscf.{DOMAIN}", hss_host=HOST,
                                hss_port=hss_port),
        scscf=(ScscfEntry(f"sip:scscf.{DOMAIN}:5060", f"{s_addr[0]}:{s_addr[1]}"),),
    )
    core = IcscfCore.from_config(cfg)
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve("icscf", core, cfg, ready=ready, stop=stop))
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(ready.wait(), 5)
        icscf = (HOST, core.config.port)
        me = pcscf.getsockname()
        await loop.sock_sendto(pcscf, register(me, "001010000000001", "z9hG4bKr1"), icscf)
        fwd = await recv(scscf)
        assert isinstance(fwd, Request) and fwd.uri_text == f"sip:{DOMAIN}"
        assert fwd.top_via().port == core.config.port
        assert seen[-1].get_str("User-Name") == IMPI  # derived from To, no Authorization
        # The S-CSCF's 401 goes back to the P-CSCF through the I-CSCF.
        text = fwd.to_bytes().decode().replace(f"REGISTER sip:{DOMAIN} SIP/2.0",
                                               "SIP/2.0 401 Unauthorized", 1)
        await loop.sock_sendto(scscf, text.encode(), icscf)
        r = await recv(pcscf)
        assert isinstance(r, Response) and r.status == 401
        # An unknown user: 403, nothing reaches the S-CSCF.
        await loop.sock_sendto(pcscf, register(me, "999", "z9hG4bKr2"), icscf)
        r = await recv(pcscf)
        assert isinstance(r, Response)
        assert (r.status, r.reason) == (403, "Forbidden - User Unknown")
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
        pcscf.close()
        scscf.close()
