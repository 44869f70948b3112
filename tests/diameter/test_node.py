"""The asyncio node over loopback TCP: CER/CEA, request/answer, errors, DPR, reconnect."""

from __future__ import annotations

import asyncio
import time

import pytest

from ims_core.diameter import (
    LIR,
    MAR,
    RTR,
    CxResult,
    DiameterConfig,
    DiameterError,
    DiameterNode,
    DiameterTimeout,
    DiameterUnavailable,
    Message,
    ResultCode,
    make_answer,
)

from . import samples as s

HOST = "127.0.0.1"


def hss_config(**kw: object) -> DiameterConfig:
    return DiameterConfig(s.HSS, s.DOMAIN, allowed_peers=(s.SCSCF, s.ICSCF), **kw)  # type: ignore[arg-type]


def client_config(host: str = s.SCSCF, **kw: object) -> DiameterConfig:
    base: dict[str, object] = {"reconnect_min": 0.05, "reconnect_max": 0.2}
    base.update(kw)
    return DiameterConfig(host, s.DOMAIN, **base)  # type: ignore[arg-type]


async def handle_mar(req: Message) -> Message:
    if req.get_str("User-Name") != s.IMPI:
        return make_answer(req, experimental=CxResult.ERROR_USER_UNKNOWN)
    return s.maa(req)


async def handle_lir(req: Message) -> Message:
    raise DiameterError(ResultCode.UNABLE_TO_COMPLY, "store down")


async def test_cer_request_answer_dpr(hss: tuple[DiameterNode, int]) -> None:
    server, port = hss
    client = DiameterNode(client_config())
    caps = await client.connect(HOST, port)
    assert caps.origin_host == s.HSS and 16777216 in caps.applications
    assert client.open_peers == [s.HSS]
    await asyncio.sleep(0)
    assert server.open_peers == [s.SCSCF]

    ans = await client.request(s.mar(), timeout=2)
    assert ans.name == "MAA" and ans.result_code == 2001
    assert ans.get_str("User-Name") == s.IMPI and len(ans.get_all("SIP-Auth-Data-Item")) == 2
    assert ans.origin_host == s.HSS  # filled in by the node

    bad = s.mar()
    bad.remove("User-Name")
    bad.add("User-Name", "nobody")
    assert (await client.request(bad)).experimental_result == (10415, 5001)

    many = await asyncio.gather(*(client.request(s.mar()) for _ in range(200)))
    assert all(a.result_code == 2001 for a in many)

    await client.stop()
    for _ in range(50):
        if not server.open_peers:
            break
        await asyncio.sleep(0.01)
    assert server.open_peers == []
    with pytest.raises(DiameterUnavailable):
        await client.request(s.mar())


async def test_handler_errors_and_missing_handler(hss: tuple[DiameterNode, int]) -> None:
    _, port = hss
    async with DiameterNode(client_config(s.ICSCF)) as client:
        await client.connect(HOST, port)
        ans = await client.request(s.lir())
        assert ans.result_code == ResultCode.UNABLE_TO_COMPLY and not ans.is_error
        assert ans.get("Error-Message") == "store down"
        ans = await client.request(s.uar())  # no UAR handler on this server
        assert ans.result_code == ResultCode.COMMAND_UNSUPPORTED and ans.is_error


async def test_server_sends_request_to_client(hss: tuple[DiameterNode, int]) -> None:
    server, port = hss
    client = DiameterNode(client_config())
    got: list[Message] = []

    async def handle_rtr(req: Message) -> Message:
        got.append(req)
        return make_answer(req, 2001)

    client.add_handler(RTR, handle_rtr)
    await client.connect(HOST, port)
    await asyncio.sleep(0.01)
    ans = await server.request(s.rtr(), timeout=2)  # routed by Destination-Host
    assert ans.result_code == 2001 and ans.origin_host == s.SCSCF
    assert got and got[0].get("User-Name") == s.IMPI
    await client.stop()


async def test_unknown_peer_rejected(hss: tuple[DiameterNode, int]) -> None:
    _, port = hss
    async with DiameterNode(client_config("intruder.example")) as client:
        with pytest.raises(DiameterUnavailable):
            await client.connect(HOST, port)


async def test_unreachable_peer_fails_fast() -> None:
    async with DiameterNode(client_config()) as client:
        # A port nobody listens on: reserve one and close it.
        probe = await asyncio.start_server(lambda r, w: None, HOST, 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        client.add_peer(HOST, port)
        t = time.perf_counter()
        with pytest.raises(DiameterUnavailable):
            await client.request(s.mar(), timeout=5)
        assert time.perf_counter() - t < 1.0
        with pytest.raises(DiameterUnavailable):
            await client.connect(HOST, port)


async def test_no_peer_at_all() -> None:
    async with DiameterNode(client_config()) as client:
        with pytest.raises(DiameterUnavailable):
            await client.request(s.mar())


async def test_answer_timeout() -> None:
    slow = DiameterNode(hss_config())

    async def never(req: Message) -> Message:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    slow.add_handler(MAR, never)
    port = await slow.listen(HOST, 0)
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port)
        t = time.perf_counter()
        with pytest.raises(DiameterTimeout):
            await client.request(s.mar(), timeout=0.2)
        assert 0.15 < time.perf_counter() - t < 1.0
    await slow.stop(timeout=0.5)


async def test_reconnects_after_server_restart() -> None:
    first = DiameterNode(hss_config())
    first.add_handler(MAR, handle_mar)
    port = await first.listen(HOST, 0)
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port)
        await first.stop()
        second = DiameterNode(hss_config())
        second.add_handler(MAR, handle_mar)
        await second.listen(HOST, port)
        for _ in range(100):
            if client.open_peers:
                break
            await asyncio.sleep(0.02)
        assert client.open_peers == [s.HSS]
        assert (await client.request(s.mar())).result_code == 2001
        await second.stop()


async def test_request_waits_for_connecting_peer(hss: tuple[DiameterNode, int]) -> None:
    _, port = hss
    async with DiameterNode(client_config()) as client:
        client.add_peer(HOST, port)  # not yet open
        ans = await client.request(s.mar(), timeout=2)
        assert ans.result_code == 2001


def test_works_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> int | None:
        server = DiameterNode(hss_config())
        server.add_handler(MAR, handle_mar)
        port = await server.listen(HOST, 0)
        async with DiameterNode(client_config()) as client:
            await client.connect(HOST, port)
            ans = await client.request(s.mar(), timeout=2)
        await server.stop()
        return ans.result_code

    assert uvloop.run(scenario()) == 2001


def test_config_from_toml_table() -> None:
    import tomllib

    from ims_core.config import from_dict

    data = tomllib.loads(
        'origin_host = "hss.ims"\norigin_realm = "ims"\nallowed_peers = ["scscf.ims"]\n'
        "watchdog_interval = 6\nvendor_specific_applications = [[10415, 16777216]]\n"
    )
    cfg = from_dict(DiameterConfig, data)
    assert cfg.allowed_peers == ("scscf.ims",) and cfg.watchdog_interval == 6.0
    assert cfg.applications == {16777216} and cfg.allows("SCSCF.ims") and not cfg.allows("x")


async def test_failover_resends_with_t_bit() -> None:
    stuck = DiameterNode(DiameterConfig("hss-a." + s.DOMAIN, s.DOMAIN))
    healthy = DiameterNode(DiameterConfig("hss-b." + s.DOMAIN, s.DOMAIN))
    seen_t: list[bool] = []

    async def never(req: Message) -> Message:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    async def answer(req: Message) -> Message:
        seen_t.append(req.is_retransmit)
        return s.maa(req)

    stuck.add_handler(MAR, never)
    healthy.add_handler(MAR, answer)
    port_a, port_b = await stuck.listen(HOST, 0), await healthy.listen(HOST, 0)
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port_a)
        await client.connect(HOST, port_b)
        pending = [asyncio.ensure_future(client.request(s.mar(), timeout=5)) for _ in range(4)]
        await asyncio.sleep(0.05)
        await stuck.stop(timeout=0.5)  # DPR: the link goes away with requests pending
        answers = await asyncio.gather(*pending)
    assert all(a.result_code == 2001 for a in answers)
    assert seen_t.count(True) == 2 and seen_t.count(False) == 2
    await healthy.stop()


async def test_bad_handler_results_become_5012() -> None:
    server = DiameterNode(hss_config())

    async def returns_request(req: Message) -> Message:
        return req

    async def crashes(req: Message) -> Message:
        raise RuntimeError("bug")

    async def fresh_answer(req: Message) -> Message:  # built without make_answer
        ans = Message(req.command_code, req.application_id, flags=0x40)
        ans.add("Session-Id", req.session_id)
        ans.add("Result-Code", 2001)
        return ans

    server.add_handler(MAR, returns_request)
    server.add_handler(LIR, crashes)
    server.add_handler(300, fresh_answer)
    port = await server.listen(HOST, 0)
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port)
        assert (await client.request(s.mar())).result_code == ResultCode.UNABLE_TO_COMPLY
        assert (await client.request(s.lir())).result_code == ResultCode.UNABLE_TO_COMPLY
        ans = await client.request(s.uar())
        assert ans.result_code == 2001 and ans.origin_host == s.HSS
    await server.stop()


async def test_new_request_uses_node_identity(hss: tuple[DiameterNode, int]) -> None:
    _, port = hss
    async with DiameterNode(client_config(s.ICSCF)) as client:
        await client.connect(HOST, port)
        req = client.new_request("UAR")
        assert req.origin_host == s.ICSCF and req.get("Destination-Realm") == s.DOMAIN
        assert req.session_id is not None and req.session_id.startswith(s.ICSCF + ";")
        req.extend([("User-Name", s.IMPI), ("Public-Identity", s.IMPU),
                    ("Visited-Network-Identifier", b"visited")])  # fmt: skip
        ans = await client.request(req)
        assert ans.result_code == ResultCode.COMMAND_UNSUPPORTED  # rules passed; no handler
        bare = client.new_request("UAR")  # required AVPs missing
        assert (await client.request(bare)).result_code == ResultCode.MISSING_AVP
