"""The S-CSCF process coroutine with the real HSS server, over UDP and TCP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from hss.config import DiameterConfig as HssDiameterConfig
from hss.config import HssConfig
from hss.provision import demo_subscribers
from hss.server import HssServer
from hss.store.sqlite import SqliteStore
from ims_core.cscf import DiameterClient, SipListen
from ims_core.cscf.runner import serve
from ims_core.scscf import ScscfConfig, ScscfCore
from ims_core.sip import Request, Response, parse_message

from .helpers import DOMAIN, Ue, challenge_of

HOST = "127.0.0.1"


class _Ue(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Response] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = parse_message(data)
        if isinstance(msg, Response):
            self.inbox.put_nowait(msg)


def _as_sent_by_ue(req: Request, port: int) -> bytes:
    """Only the UE's own Via (rport, so the answer comes back to this socket)."""
    req.headers.remove("via")
    req.headers.add("Via", f"SIP/2.0/UDP {HOST}:{port};rport;branch=z9hG4bK{id(req):x}")
    return req.to_bytes()


async def _final(proto: _Ue) -> Response:
    while True:
        r = await asyncio.wait_for(proto.inbox.get(), 5)
        if r.status >= 200:
            return r


async def test_register_over_udp_with_the_real_hss(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hss.sqlite")
    store.add(list(demo_subscribers(1, DOMAIN)))
    hss = HssServer(HssConfig(
        data_dir=str(tmp_path),
        diameter=HssDiameterConfig(listen_host=HOST, listen_port=0,
                                   peers=(f"scscf.{DOMAIN}",)),
    ), store=store)
    hss_port = await hss.start(HOST, 0)
    cfg = ScscfConfig(
        sip=SipListen(host=HOST, port=0),
        diameter=DiameterClient(origin_host=f"scscf.{DOMAIN}", hss_host=HOST,
                                hss_port=hss_port, request_timeout=5.0),
    )
    core = ScscfCore(cfg)
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve("scscf", core, cfg, ready=ready, stop=stop))
    loop = asyncio.get_running_loop()
    transport = None
    try:
        await asyncio.wait_for(ready.wait(), 5)
        port = core.config.port
        transport, proto = await loop.create_datagram_endpoint(_Ue, local_addr=(HOST, 0))
        ue_port = transport.get_extra_info("sockname")[1]
        ue = Ue()
        r401 = None
        for _ in range(50):  # the Diameter connection may still be coming up
            first = ue.register(authorization=ue.empty_authorization())  # a 3GPP UE
            transport.sendto(_as_sent_by_ue(first, ue_port), (HOST, port))
            r401 = await _final(proto)
            if r401.status == 401:
                break
            await asyncio.sleep(0.1)
        assert r401 is not None and r401.status == 401, r401
        ch = challenge_of(r401)
        assert ch.algorithm == "AKAv1-MD5" and ch.ck and ch.ik
        transport.sendto(_as_sent_by_ue(ue.register(authorization=ue.answer(ch)), ue_port),
                         (HOST, port))
        ok = await _final(proto)
        assert ok.status == 200
        assert ok.headers.get("service-route") == cfg.service_route
        assert len(ok.addresses("p-associated-uri")) == 3
        assert ok.contacts()[0].param("expires") == "600"
    finally:
        if transport is not None:
            transport.close()
        stop.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 10)
        await hss.stop()
        store.close()
