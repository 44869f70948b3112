"""A CSCF that asks the HSS answers an OPTIONS addressed to itself 503 with Retry-After
while its Diameter connection is not open, 200 once it is (what ``ims-core health``
probes); one without Diameter always 200. Sans-I/O, then the asyncio server keeping the
flag from its DiameterNode's peers."""

from __future__ import annotations

import asyncio

from ims_core.cscf import DOMAIN, CscfConfig, CscfCore, DiameterClient, SipListen
from ims_core.cscf.core import NOT_READY_RETRY_AFTER
from ims_core.cscf.server import CscfServer, transport_config
from ims_core.diameter import DiameterConfig
from ims_core.diameter.node import DiameterNode
from ims_core.proxy import ProxyConfig
from ims_core.sip import Request, Response
from ims_core.sip.inbound import request_source
from tests.sipmsg import build_request, responses

NODE = ("127.0.0.9", 5060)
PROBE = ("10.0.0.1", 5099)


def options(call_id: str, uri: str = f"sip:{NODE[0]}:{NODE[1]}", max_forwards: int = 70
            ) -> Request:
    return build_request(
        "OPTIONS", uri, vias=[f"SIP/2.0/UDP {PROBE[0]}:{PROBE[1]};rport;branch=z9hG4bK{call_id}"],
        from_=f"<sip:health@{PROBE[0]}>;tag=1", to=f"<{uri}>", call_id=call_id,
        max_forwards=max_forwards)


def answer(core: CscfCore[None], req: Request, now: float = 0.0) -> Response:
    core.receive(req, request_source(req, "UDP", *PROBE), now)
    [response] = responses(core.data_to_send())
    return response


def core(diameter: bool) -> CscfCore[None]:
    client = DiameterClient(origin_host=f"node.{DOMAIN}") if diameter else None
    return CscfCore(ProxyConfig(host=NODE[0], port=NODE[1]), client)


def test_options_to_us_is_503_while_the_hss_connection_is_down() -> None:
    node = core(diameter=True)
    assert node.diameter_ready  # a core on its own (tests, fakes) is ready
    node.diameter_ready = False
    response = answer(node, options("a"))
    assert response.status == 503
    assert response.headers.get("retry-after") == str(NOT_READY_RETRY_AFTER)
    assert "no Diameter connection to the HSS" in (response.headers.get("reason") or "")
    # Max-Forwards 0 ends here too (RFC 3261 §16.3 step 3, §11): the same answer.
    assert answer(node, options("b", max_forwards=0), 1.0).status == 503
    node.diameter_ready = True
    ok = answer(node, options("c"), 2.0)
    assert ok.status == 200 and ok.headers.get("allow") and ok.headers.get("retry-after") is None


def test_a_node_without_diameter_is_always_ready() -> None:
    node = core(diameter=False)
    node.diameter_ready = False  # nothing to wait for: no [diameter]
    assert answer(node, options("a")).status == 200


def test_options_for_someone_else_is_not_answered_for_readiness() -> None:
    node = core(diameter=True)
    node.diameter_ready = False
    node.receive(req := options("a", uri="sip:other@10.9.9.9"),
                 request_source(req, "UDP", *PROBE), 0.0)
    # Not ours: proxied on (to the Request-URI), not answered 503 by us.
    assert [r.status for r in responses(node.data_to_send()) if r.status >= 200] == []


async def test_the_server_follows_its_diameter_peers() -> None:
    host = "127.0.0.93"
    hss = DiameterNode(DiameterConfig(f"hss.{DOMAIN}", DOMAIN, watchdog_jitter=0.0))
    port = await hss.listen("127.0.0.94", 0)
    cfg = CscfConfig(sip=SipListen(host, 0), diameter=DiameterClient(
        hss_host="127.0.0.94", hss_port=port))
    node_cfg = cfg.diameter_config()
    assert node_cfg is not None
    client = DiameterNode(node_cfg)
    cscf: CscfCore[None] = CscfCore(cfg.proxy_config(), cfg.diameter)
    server = CscfServer(cscf, transport_config(cfg), client)
    assert not cscf.diameter_ready  # no peer open yet
    try:
        client.add_peer("127.0.0.94", port)
        for _ in range(100):
            if cscf.diameter_ready:
                break
            await asyncio.sleep(0.05)
        assert cscf.diameter_ready and client.open_peers == [f"hss.{DOMAIN}"]
        # Its connection comes from its SIP address, the one its CER advertises.
        assert hss.peer_addresses == {f"cscf.{DOMAIN}": host}
        await hss.stop()  # DPR: the connection closes
        for _ in range(100):
            if not cscf.diameter_ready:
                break
            await asyncio.sleep(0.05)
        assert not cscf.diameter_ready and client.open_peers == []
    finally:
        await server.close()
        await client.stop()
        await hss.stop()
