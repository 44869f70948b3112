"""Requests other than REGISTER: originating from UEs (TS 24.229 §5.2.6.3) and
terminating towards them (§5.2.6.4)."""

from __future__ import annotations

import pytest

from ims_core.sip import Request, parse_message
from ims_core.sip.addressing import Destination
from tests.sipmsg import requests, responses

from .messages import (
    CONTACT,
    DOMAIN,
    ICSCF,
    IMPU,
    PCSCF,
    SCSCF,
    TEL,
    UE,
    Harness,
    request,
    source_for,
)


def statuses(h: Harness, req: Request, **src: object) -> list[int]:
    return [r.status for r in responses(h.rx(req, source_for(req, **src)))]  # type: ignore[arg-type]


def test_unregistered_ue_invite_and_message_are_403() -> None:
    h = Harness()
    assert statuses(h, request("INVITE", call_id="i1")) == [100, 403]
    assert statuses(h, request("MESSAGE", call_id="m1")) == [403]


def test_registered_ue_message_goes_along_the_service_route() -> None:
    h = Harness()
    h.register()
    preloaded = (f"Route: <sip:{PCSCF[0]}:{PCSCF[1]};lr>, <sip:somewhere.else;lr>\r\n"
                 f"P-Preferred-Identity: <{TEL}>\r\n")
    sends = h.rx(request(extra=preloaded))
    [send] = requests(sends)
    assert send.dest == Destination("UDP", *SCSCF)
    fwd = parse_message(send.data)
    assert fwd.headers.values("route") == [f"<sip:orig@{SCSCF[0]}:{SCSCF[1]};lr>"]
    assert fwd.body == b"hello"
    assert "record-route" not in fwd.headers  # MESSAGE creates no dialog


def test_served_identity_is_a_registered_preferred_identity_else_the_default() -> None:
    h = Harness()
    h.register()
    [reg] = h.core.store.by_flow(("UDP", *UE))
    ppi = request(extra=f"P-Preferred-Identity: <{TEL}>\r\n")
    assert h.core.served_identity(ppi, reg) == TEL
    stranger = request(from_uri=f"sip:someone@{DOMAIN}")
    assert h.core.served_identity(stranger, reg) == IMPU


def test_registered_ue_invite_is_record_routed_and_in_dialog_follows_its_routes() -> None:
    h = Harness()
    h.register()
    [send] = requests(h.rx(request("INVITE", call_id="inv")))
    fwd = parse_message(send.data)
    assert fwd.headers.values("record-route") == [
        f"<sip:{PCSCF[0]}:{PCSCF[1]};lr;ims-leg=orig>"]
    bye = request("BYE", uri="sip:bob@192.0.2.77:5099", call_id="inv", to_tag="b",
                  extra=f"Route: <sip:{PCSCF[0]}:{PCSCF[1]};lr>, <sip:192.0.2.88;lr>\r\n")
    [send] = requests(h.rx(bye))
    assert send.dest == Destination("UDP", "192.0.2.88", 5060)


def test_same_address_other_port_or_transport_is_not_the_registered_flow() -> None:
    h = Harness()
    h.register()
    req = request(ue=(UE[0], 6000))
    assert statuses(h, req, addr=(UE[0], 6000)) == [403]
    req = request(call_id="m-tcp", transport="TCP")
    assert statuses(h, req, transport="TCP") == [403]


def test_other_address_claiming_a_registered_identity_is_403() -> None:
    h = Harness()
    h.register()
    req = request(ue=("203.0.113.66", UE[1]))
    assert statuses(h, req, addr=("203.0.113.66", UE[1])) == [403]


def test_after_expiry_the_ue_is_unregistered_again() -> None:
    h = Harness()
    h.register(reg_expires=60)
    h.advance(61)
    assert statuses(h, request(call_id="late")) == [403]


def term_request(uri: str = CONTACT, route: str = f"term@{PCSCF[0]}:{PCSCF[1]}") -> Request:
    req = request("MESSAGE", uri=uri, from_uri=f"sip:bob@{DOMAIN}", ue=SCSCF,
                  call_id="t1", extra=f"Route: <sip:{route};lr>\r\n")
    return req


def test_request_via_our_path_goes_to_the_ue_over_its_flow() -> None:
    h = Harness()
    h.register()
    req = term_request()
    [send] = requests(h.rx(req, source_for(req, SCSCF)))
    assert send.dest == Destination("UDP", *UE)
    fwd = parse_message(send.data)
    assert isinstance(fwd, Request)
    assert "route" not in fwd.headers
    assert fwd.uri_text == CONTACT


def test_request_via_our_path_to_a_tcp_ue_uses_its_connection() -> None:
    h = Harness()
    conn = object()
    h.register(transport="TCP", conn=conn)
    req = term_request()
    [send] = requests(h.rx(req, source_for(req, SCSCF)))
    assert send.dest == Destination("TCP", *UE, conn)
    assert send.dest.conn is conn


def test_request_via_our_path_to_an_unknown_contact_is_404() -> None:
    h = Harness()
    h.register()
    req = term_request(uri="sip:nobody@198.51.100.99:5060")
    assert statuses(h, req, addr=SCSCF) == [404]


@pytest.mark.parametrize("core", [
    pytest.param(ICSCF, id="icscf"),
    pytest.param(SCSCF, id="scscf-of-the-service-route"),
])
def test_request_from_a_core_node_without_our_path_is_terminating(
        core: tuple[str, int]) -> None:
    h = Harness()
    h.register()
    req = request("MESSAGE", uri=CONTACT, ue=core, call_id="t2")
    [send] = requests(h.rx(req, source_for(req, core)))
    assert send.dest == Destination("UDP", *UE)


def test_from_a_core_node_to_no_registered_contact_is_403() -> None:
    h = Harness()
    h.register()
    req = request("MESSAGE", uri=f"sip:bob@{DOMAIN}", ue=ICSCF, call_id="t4")
    assert statuses(h, req, addr=ICSCF) == [403]
