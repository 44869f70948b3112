"""The node's client side binds ``source_address``, so the peer sees the connection come
from the Host-IP-Address the CER advertises; ``watch_peers`` follows peers opening and
closing. Loopback: the client on 127.0.0.93, the server on 127.0.0.94."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ims_core.diameter import DiameterConfig, DiameterNode

from . import samples as s

CLIENT, SERVER = "127.0.0.93", "127.0.0.94"


async def wait_for(check: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_the_server_sees_the_source_address_the_cer_advertises() -> None:
    server = DiameterNode(DiameterConfig(s.HSS, s.DOMAIN, watchdog_jitter=0.0))
    port = await server.listen(SERVER, 0)
    client = DiameterNode(DiameterConfig(s.SCSCF, s.DOMAIN, host_ip_addresses=(CLIENT,),
                                         source_address=CLIENT, watchdog_jitter=0.0))
    seen: list[list[str]] = []
    client.watch_peers(seen.append)
    try:
        caps = await client.connect(SERVER, port, timeout=5)
        assert caps.origin_host == s.HSS
        await wait_for(lambda: server.open_peers == [s.SCSCF])
        assert server.peer_addresses == {s.SCSCF: CLIENT}
        assert client.peer_addresses == {s.HSS: SERVER}
        assert seen == [[s.HSS]]
        await server.stop()  # DPR → the client's peer goes down
        await wait_for(lambda: seen[-1] == [])
        assert seen == [[s.HSS], []] and client.open_peers == []
    finally:
        await client.stop()
        await server.stop()


async def test_a_source_address_not_on_this_host_fails_the_connection() -> None:
    server = DiameterNode(DiameterConfig(s.HSS, s.DOMAIN))
    port = await server.listen(SERVER, 0)
    client = DiameterNode(DiameterConfig(s.SCSCF, s.DOMAIN, source_address="192.0.2.1"))
    try:
        client.add_peer(SERVER, port)
        await asyncio.sleep(0.3)
        assert client.open_peers == [] and server.open_peers == []
    finally:
        await client.stop()
        await server.stop()
