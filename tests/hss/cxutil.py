"""Helpers for the Cx handler tests: build requests, run a handler, re-decode the answer."""

from __future__ import annotations

import dataclasses
from typing import Any

from hss.config import CapabilitiesConfig, CxConfig
from hss.cx import HANDLERS
from hss.cx.common import CxContext
from hss.store.base import Store
from ims_core.diameter import VENDOR_3GPP, Message, decode, make_request
from tests.hss.conftest import DOMAIN

SCSCF = f"sip:scscf.{DOMAIN}:5060"
SCSCF2 = f"sip:scscf2.{DOMAIN}:5060"
IMPI = f"001010000000001@{DOMAIN}"
IMPU = f"sip:001010000000001@{DOMAIN}"
TEL = "tel:+15550000001"


def context(store: Store, **cx: Any) -> CxContext:
    caps = cx.pop("capabilities", CapabilitiesConfig(server_names=(SCSCF,)))
    return CxContext(
        store=store,
        cx=dataclasses.replace(CxConfig(capabilities=caps), **cx),
        origin_host=f"hss.{DOMAIN}",
        origin_realm=DOMAIN,
    )


def request(cmd: str, **avps: Any) -> Message:
    req = make_request(
        cmd, origin_host=f"scscf.{DOMAIN}", origin_realm=DOMAIN, destination_realm=DOMAIN
    )
    for name, value in avps.items():
        name = name.replace("_", "-")
        for v in value if isinstance(value, list) else [value]:
            req.add(name, v)
    return req


def run(ctx: CxContext, req: Message) -> Message:
    """Handle *req* after a wire round trip and return the re-decoded answer."""
    wire_req = decode(req.encode())
    ans = HANDLERS[req.command_code](wire_req, ctx)
    assert ans.hop_by_hop == req.hop_by_hop and not ans.is_request
    assert ans.session_id == req.session_id
    assert ans.origin_host == f"hss.{DOMAIN}"
    return decode(ans.encode())


def result(ans: Message) -> tuple[str, int]:
    """("base", code) or ("exp", code) — and never both."""
    er = ans.experimental_result
    rc = ans.result_code
    assert (er is None) != (rc is None), ans
    if er is not None:
        assert er[0] == VENDOR_3GPP
        return ("exp", er[1])
    assert rc is not None
    return ("base", rc)
