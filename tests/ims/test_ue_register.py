"""Our UE (``ims-core ue``) through the four-process lab: re-/de-registration, failures,
MD5 digest, AKA resynchronisation and expiry (TS 24.229 §5.1.1, §5.4.1; TS 33.102 §6.3.3)."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from ims_core.sip import Response
from ims_core.ue import demo_profile
from ims_core.ue.client import Flow, send_request, timers_for
from ims_core.ue.messages import message

from .conftest import DOMAIN, MD5_IMSI, MD5_PASSWORD, P_HOST, SIP_PORT, UE_HOST, Lab, imsi

pytestmark = pytest.mark.integration


def _state(lab: Lab, imsi_: str) -> str:
    """The HSS registration state of the subscriber's sip:<imsi> IMPU."""
    out = lab.subscriber(imsi_)
    m = re.search(rf"IMPU:\s+sip:{imsi_}@\S+\s+(\w+)", out)
    assert m, out
    return m.group(1)


def _sqn(lab: Lab, imsi_: str) -> int:
    m = re.search(r"SQN:\s+([0-9a-f]+)", lab.subscriber(imsi_))
    assert m
    return int(m.group(1), 16)


def test_register_reregister_deregister(lab: Lab) -> None:
    sub = imsi(402)
    first = lab.ue("register", "--imsi", sub, local_port=16402)
    assert first.code == 0 and first.status == 200, first.output + lab.logs()
    assert first.data["algorithm"] == "AKAv1-MD5" and first.data["contact_expires"] == 600
    assert _state(lab, sub) == "REGISTERED"
    again = lab.ue("register", "--imsi", sub, "--expires", "900", local_port=16402)
    assert again.code == 0 and again.data["contact_expires"] == 900, again.output
    assert _state(lab, sub) == "REGISTERED"
    assert asyncio.run(_message_status(16402, sub)) != 403  # registered at the P-CSCF
    gone = lab.ue("deregister", "--imsi", sub, local_port=16402)
    assert gone.code == 0 and gone.status == 200, gone.output + lab.logs()
    assert _state(lab, sub) == "NOT_REGISTERED"
    assert asyncio.run(_message_status(16402, sub)) == 403  # the P-CSCF forgot it too
    back = lab.ue("register", "--imsi", sub, local_port=16402)
    assert back.code == 0 and back.status == 200, back.output
    assert _state(lab, sub) == "REGISTERED"
    star = lab.ue("deregister", "--imsi", sub, "--star")
    assert star.code == 0 and _state(lab, sub) == "NOT_REGISTERED", star.output


def test_register_over_tcp(lab: Lab) -> None:
    r = lab.ue("register", "--imsi", imsi(403), transport="tcp")
    assert r.code == 0 and r.status == 200, r.output + lab.logs()
    assert any(";transport=tcp" in str(c) for c in r.data["contact"])  # type: ignore[attr-defined]


def test_wrong_key_is_403(lab: Lab) -> None:
    r = lab.ue("register", "--imsi", imsi(404), "--k", "00" * 16)
    assert r.code == 1 and r.status == 403, r.output
    assert r.data["mac_failure"] is True  # the UE rejected AUTN and sent an empty response
    assert _state(lab, imsi(404)) == "NOT_REGISTERED"


def test_unknown_user_is_403(lab: Lab) -> None:
    r = lab.ue("register", "--imsi", "001019999999999")
    assert r.code == 1 and r.status == 403 and r.data["challenges"] == 0, r.output


def test_md5_registration(lab: Lab) -> None:
    ident = f"{MD5_IMSI}@{DOMAIN}"
    r = lab.ue("register", "--impi", ident, "--impu", f"sip:{ident}", "--password",
               MD5_PASSWORD)
    assert r.code == 0 and r.status == 200 and r.data["algorithm"] == "MD5", r.output + lab.logs()
    bad = lab.ue("register", "--impi", ident, "--impu", f"sip:{ident}", "--password", "wrong")
    assert bad.code == 1 and bad.status == 403, bad.output


def test_resync_with_auts(lab: Lab) -> None:
    sub = imsi(405)
    ahead = 0x100000000000
    assert _sqn(lab, sub) < ahead
    r = lab.ue("register", "--imsi", sub, "--sqn-ms", f"{ahead:012x}")
    assert r.code == 0 and r.status == 200, r.output + lab.logs()
    assert r.data["resynced"] is True and r.data["challenges"] == 2
    assert _sqn(lab, sub) > ahead  # the HSS took SQN_MS from AUTS and moved on from it


async def _message_status(port: int, sub: str) -> int:
    flow = await Flow.open("udp", (P_HOST, SIP_PORT), (UE_HOST, port), timers_for(8))
    try:
        assert flow.local is not None
        prof = demo_profile(sub)
        resp: Response | None = await send_request(
            flow, message(prof, flow.local, f"sip:{imsi(401)}@{DOMAIN}", "ping"))
    finally:
        await flow.close()
    assert resp is not None
    return resp.status


def test_registration_expires(lab: Lab) -> None:
    sub, port = imsi(406), 16406
    r = lab.ue("register", "--imsi", sub, "--expires", "3", local_port=port)
    assert r.code == 0 and r.data["contact_expires"] == 3, r.output + lab.logs()
    assert _state(lab, sub) == "REGISTERED"
    assert asyncio.run(_message_status(port, sub)) != 403  # registered: not refused
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline and _state(lab, sub) != "NOT_REGISTERED":
        time.sleep(0.5)
    assert _state(lab, sub) == "NOT_REGISTERED", lab.logs()  # S-CSCF SAR TIMEOUT_DEREGISTRATION
    assert asyncio.run(_message_status(port, sub)) == 403  # the P-CSCF dropped it too
