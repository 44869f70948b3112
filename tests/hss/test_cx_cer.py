"""The HSS's Cx node and a CER without Host-IP-Address (as Kamailio 5.6's cdp sends in many of
its starts), raw over TCP on loopback: accepted by default, refused 5005 in strict mode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hss.config import DiameterConfig as HssDiameterConfig
from hss.config import HssConfig
from hss.server import HssServer, diameter_config
from hss.store.sqlite import SqliteStore
from ims_core.diameter import DiameterConfig, Message, ResultCode, decode, make_request
from ims_core.diameter.capabilities import build_cer
from tests.hss.conftest import DOMAIN, subscriber
from tests.hss.cxutil import IMPI, IMPU

ICSCF = f"icscf.{DOMAIN}"
HOST_IP_ADDRESS = 257


def config(tmp_path: Path, *, strict: bool) -> HssConfig:
    return HssConfig(data_dir=str(tmp_path), workers=1, diameter=HssDiameterConfig(
        listen_host="127.0.0.1", listen_port=0, require_host_ip_address=strict))


@pytest.fixture(params=[False, True], ids=["lenient", "strict"])
async def hss(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[int, bool]]:
    strict: bool = request.param
    store = SqliteStore(tmp_path / "hss.sqlite")
    store.add([subscriber()])
    server = HssServer(config(tmp_path, strict=strict), store=store)
    port = await server.start()
    try:
        yield port, strict
    finally:
        await server.stop()
        store.close()


def cer_without_host_ip() -> bytes:
    msg = build_cer(DiameterConfig(ICSCF, DOMAIN, host_ip_addresses=(), origin_state_id=1))
    msg.hop_by_hop, msg.end_to_end = 1, 1
    assert msg.find_code(HOST_IP_ADDRESS) is None
    return msg.encode()


async def read_message(reader: asyncio.StreamReader) -> Message:
    head = await asyncio.wait_for(reader.readexactly(20), 5)
    length = int.from_bytes(head[1:4], "big")
    return decode(head + await asyncio.wait_for(reader.readexactly(length - 20), 5))


def test_the_config_flag_reaches_the_diameter_node(tmp_path: Path) -> None:
    assert not diameter_config(config(tmp_path, strict=False)).require_host_ip_address
    assert diameter_config(config(tmp_path, strict=True)).require_host_ip_address
    assert not HssDiameterConfig().require_host_ip_address  # lenient unless configured


async def test_a_cer_without_host_ip_address(hss: tuple[int, bool]) -> None:
    port, strict = hss
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        with capture_logs() as logs:
            writer.write(cer_without_host_ip())
            cea = await read_message(reader)
        warnings = [e for e in logs if e["event"] == "diameter_cer_without_host_ip"]
        assert [e["peer"] for e in warnings] == ([] if strict else [ICSCF])
        if not strict:  # the address comes from the connection
            assert warnings[0]["assumed_address"] == "127.0.0.1"
        assert cea.name == "CEA" and cea.hop_by_hop == 1
        if strict:
            assert cea.result_code == ResultCode.MISSING_AVP
            failed = cea.get_grouped("Failed-AVP")
            assert failed is not None and failed.find_code(HOST_IP_ADDRESS) is not None
            assert await asyncio.wait_for(reader.read(), 5) == b""  # the HSS closed
            return
        assert cea.result_code == ResultCode.SUCCESS
        assert cea.origin_host == f"hss.{DOMAIN}"
        # The connection is a Cx peer now: a UAR gets its UAA.
        uar = make_request("UAR", origin_host=ICSCF, origin_realm=DOMAIN,
                           destination_realm=DOMAIN, avps=[
                               ("User-Name", IMPI), ("Public-Identity", IMPU),
                               ("Visited-Network-Identifier", DOMAIN.encode())])
        uar.hop_by_hop, uar.end_to_end = 2, 2
        writer.write(uar.encode())
        uaa = await read_message(reader)
        assert uaa.name == "UAA" and uaa.hop_by_hop == 2 and uaa.session_id == uar.session_id
        assert uaa.experimental_result is not None  # 2001 first registration
        assert uaa.experimental_result[1] == 2001
    finally:
        writer.close()
        await writer.wait_closed()
