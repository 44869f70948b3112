"""An independent Cx client: python-diameter (MIT, PyPI) encodes the requests and decodes
the answers; the HSS runs on loopback TCP. Only the socket loop here is ours.

python-diameter 0.9 quirks worked around here: it leaves the Cx Application-Id at 0, its
UAR has no Session-Id, and it maps SIP-Auth-Data-Item, SIP-Authentication-Scheme,
SIP-Item-Number and SIP-Number-Auth-Items of MAR/MAA to the RFC 4740 codes
(376/377/378/382); the test adds the TS 29.229 AVPs (612/608/607, vendor 10415) itself.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from hss.server import HssServer
from tests.hss.conftest import DOMAIN, subscriber
from tests.hss.cxutil import IMPI, IMPU, SCSCF
from tests.hss.test_server import hss_config

dm = pytest.importorskip("diameter.message")
from diameter.message import Avp, Message  # noqa: E402
from diameter.message.avp.grouped import VendorSpecificApplicationId  # noqa: E402
from diameter.message.commands import (  # noqa: E402
    CapabilitiesExchangeRequest,
    LocationInfoRequest,
    MultimediaAuthRequest,
    ServerAssignmentRequest,
    UserAuthorizationRequest,
)

V3GPP, CX = 10415, 16777216
ORIGIN = f"scscf.{DOMAIN}"
_ids = itertools.count(0x1000)


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, msg: Any) -> Any:
        n = next(_ids)
        msg.header.hop_by_hop_identifier = n
        msg.header.end_to_end_identifier = n
        self.writer.write(msg.as_bytes())
        await self.writer.drain()
        head = await self.reader.readexactly(20)
        length = int.from_bytes(head[1:4], "big")
        ans = Message.from_bytes(head + await self.reader.readexactly(length - 20))
        assert ans.header.hop_by_hop_identifier == n
        return ans


def _cx(msg: Any, session: str) -> Any:
    msg.header.application_id = CX  # python-diameter leaves 0
    msg.session_id = session
    msg.vendor_specific_application_id = VendorSpecificApplicationId(
        vendor_id=V3GPP, auth_application_id=CX
    )
    msg.auth_session_state = 1
    msg.origin_host = ORIGIN.encode()
    msg.origin_realm = DOMAIN.encode()
    msg.destination_realm = DOMAIN.encode()
    if not any(d.attr_name == "session_id" for d in msg.avp_def):
        msg.append_avp(Avp.new(263, value=session))  # 0.9's UAR definition lacks Session-Id
    return msg


def _exp(ans: Any) -> int | None:
    er = getattr(ans, "experimental_result", None)
    return None if er is None else int(er.experimental_result_code)


async def test_python_diameter_client(tmp_path: Path) -> None:
    server = HssServer(hss_config(tmp_path))
    server.store.add([subscriber()])
    port = await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    c = Client(reader, writer)
    try:
        cer = CapabilitiesExchangeRequest()
        cer.origin_host = ORIGIN.encode()
        cer.origin_realm = DOMAIN.encode()
        cer.host_ip_address = ["127.0.0.1"]
        cer.vendor_id = 0
        cer.product_name = "python-diameter"
        cer.supported_vendor_id = [V3GPP]
        cer.vendor_specific_application_id = [
            VendorSpecificApplicationId(vendor_id=V3GPP, auth_application_id=CX)
        ]
        cea = await c.send(cer)
        assert cea.result_code == 2001
        assert cea.origin_host == f"hss.{DOMAIN}".encode()

        uar = _cx(UserAuthorizationRequest(), f"{ORIGIN};1;1")
        uar.user_name = IMPI
        uar.public_identity = IMPU
        uar.visited_network_identifier = DOMAIN.encode()
        uaa = await c.send(uar)
        assert _exp(uaa) == 2001 and uaa.session_id == f"{ORIGIN};1;1"

        mar = _cx(MultimediaAuthRequest(), f"{ORIGIN};1;2")
        mar.user_name = IMPI
        mar.public_identity = IMPU
        mar.server_name = SCSCF
        mar.sip_auth_data_item = None
        mar.sip_number_auth_items = None
        mar.append_avp(Avp.new(607, V3GPP, value=2))
        mar.append_avp(Avp.new(612, V3GPP, value=[
            Avp.new(608, V3GPP, value="Digest-AKAv1-MD5"),
        ]))  # fmt: skip
        maa = await c.send(mar)
        assert maa.result_code == 2001
        items = maa.find_avps((612, V3GPP))
        assert len(items) == 2
        for item in items:
            sub = {(a.code, a.vendor_id): a.value for a in item.value}
            assert len(sub[(609, V3GPP)]) == 32 and len(sub[(610, V3GPP)]) == 8
            assert len(sub[(625, V3GPP)]) == 16 and len(sub[(626, V3GPP)]) == 16

        uaa = await c.send(uar)
        assert _exp(uaa) == 2002 and uaa.server_name == SCSCF

        sar = _cx(ServerAssignmentRequest(), f"{ORIGIN};1;3")
        sar.user_name = IMPI
        sar.public_identity = [IMPU]
        sar.server_name = SCSCF
        sar.server_assignment_type = 1
        sar.user_data_already_available = 0
        saa = await c.send(sar)
        assert saa.result_code == 2001
        assert b"<IMSSubscription>" in saa.user_data

        lir = _cx(LocationInfoRequest(), f"{ORIGIN};1;4")
        lir.public_identity = "tel:+15550000001"
        lia = await c.send(lir)
        assert lia.result_code == 2001 and lia.server_name == SCSCF

        lir.public_identity = "sip:nobody@example"
        lia = await c.send(lir)
        assert _exp(lia) == 5001
    finally:
        writer.close()
        await writer.wait_closed()
        await server.stop()
