"""The trust-domain edge at the P-CSCF: what a UE claims in its responses (RFC 3325 §5;
TS 24.229 §5.2.6.4.4, §5.2.6.4.8) and the credentials it sends (TS 24.229 §5.2.6.3)."""

from __future__ import annotations

import pytest

from ims_core.pcscf import PcscfCore
from ims_core.proxy import Send
from ims_core.sip import Request, Response, parse_message
from ims_core.sip.addressing import Destination, Source
from tests.sipmsg import answer, one_request, requests, responses

from .messages import (
    ALICE,
    CONTACT,
    DOMAIN,
    IMPI,
    IMPU,
    PATH_ROUTE,
    PCSCF,
    RR_ORIG,
    RR_TERM,
    SCSCF,
    TEL,
    UE,
    Harness,
    register,
    request,
    source_for,
)

FORGED = f"<sip:ceo@{DOMAIN}>"
PROXY_AUTH = (f'Proxy-Authorization: Digest username="{IMPI}", realm="{DOMAIN}", '
              f'nonce="n1", uri="sip:bob@{DOMAIN}", response="0123456789abcdef"\r\n')


def to_ue(h: Harness, method: str = "INVITE", *, to_tag: str | None = None,
          route: str = PATH_ROUTE, call_id: str = "term-1") -> Send:
    """A request from the S-CSCF that the P-CSCF delivers to the UE."""
    req = request(method, uri=CONTACT, from_uri=ALICE, ue=SCSCF, call_id=call_id,
                  to_tag=to_tag, extra=route + f"P-Asserted-Identity: <{ALICE}>\r\n",
                  branch=f"z9hG4bK{method}{call_id}")
    [send] = requests(h.rx(req, source_for(req, SCSCF)))
    assert send.dest == Destination("UDP", *UE)
    return send


def ue_answers(h: Harness, send: Send, status: int, extra: str = "") -> Response:
    """The UE's response, as the P-CSCF relays it to the S-CSCF."""
    sends = h.rx(answer(send.data, status, extra=extra, to_tag="ue"), Source("UDP", *UE))
    [up] = [s for s in sends if s.dest == Destination("UDP", *SCSCF)]
    relayed = parse_message(up.data)
    assert isinstance(relayed, Response) and relayed.status == status
    return relayed


def asserted(resp: Response) -> list[str]:
    return resp.headers.values("p-asserted-identity")


# -- P-Asserted-Identity on the UE's responses -----------------------------------------------
def test_18x_and_2xx_without_identity_get_the_default_public_identity() -> None:
    h = Harness()
    h.register()
    send = to_ue(h)
    assert asserted(ue_answers(h, send, 180)) == [f"<{IMPU}>"]  # §5.2.6.4.4
    assert asserted(ue_answers(h, send, 183)) == [f"<{IMPU}>"]
    assert asserted(ue_answers(h, send, 200)) == [f"<{IMPU}>"]


def test_a_pai_the_ue_put_in_its_response_is_replaced() -> None:
    h = Harness()
    h.register()
    send = to_ue(h)
    ringing = ue_answers(h, send, 180, f"P-Asserted-Identity: {FORGED}\r\n")
    assert asserted(ringing) == [f"<{IMPU}>"]
    ok = ue_answers(h, send, 200, f"P-Asserted-Identity: {FORGED}, <tel:+19990000000>\r\n")
    assert asserted(ok) == [f"<{IMPU}>"]


def test_a_registered_ppi_in_the_response_is_asserted_and_removed() -> None:
    h = Harness()
    h.register()
    send = to_ue(h)
    ringing = ue_answers(h, send, 183, f"P-Preferred-Identity: <{TEL}>\r\n"
                                        f"P-Asserted-Identity: {FORGED}\r\n")
    assert asserted(ringing) == [f"<{TEL}>"]
    assert "p-preferred-identity" not in ringing.headers
    ok = ue_answers(h, send, 200, f"P-Preferred-Identity: <{TEL}>, <{IMPU}>\r\n")
    assert asserted(ok) == [f"<{TEL}>", f"<{IMPU}>"]  # one tel, one SIP (RFC 3325 §9.1)
    assert "p-preferred-identity" not in ok.headers


def test_an_unregistered_ppi_in_the_response_gives_the_default() -> None:
    h = Harness()
    h.register()
    ok = ue_answers(h, to_ue(h), 200, f"P-Preferred-Identity: {FORGED}\r\n")
    assert asserted(ok) == [f"<{IMPU}>"]
    assert "p-preferred-identity" not in ok.headers


def test_a_standalone_request_s_2xx_is_asserted_too() -> None:
    h = Harness()
    h.register()
    ok = ue_answers(h, to_ue(h, "MESSAGE"), 200, f"P-Asserted-Identity: {FORGED}\r\n")
    assert asserted(ok) == [f"<{IMPU}>"]  # §5.2.6.4.8


@pytest.mark.parametrize(("method", "to_tag", "route", "status"), [
    pytest.param("INVITE", None, PATH_ROUTE, 486, id="failure"),
    pytest.param("BYE", "a", f"Route: {RR_TERM}\r\n", 200, id="within-a-dialog"),
])
def test_responses_that_assert_nothing_lose_the_ue_identity(
        method: str, to_tag: str | None, route: str, status: int) -> None:
    h = Harness()
    h.register()
    resp = ue_answers(h, to_ue(h, method, to_tag=to_tag, route=route), status,
                      f"P-Asserted-Identity: {FORGED}\r\nP-Preferred-Identity: <{TEL}>\r\n")
    assert "p-asserted-identity" not in resp.headers
    assert "p-preferred-identity" not in resp.headers


def test_responses_from_the_core_to_the_ue_keep_their_identity() -> None:
    h = Harness()
    h.register()
    [send] = requests(h.rx(request("INVITE", call_id="orig-1")))
    resp = answer(send.data, 180, extra=f"P-Asserted-Identity: <{ALICE}>\r\n", to_tag="b")
    [up] = responses(h.rx(resp, Source("UDP", *SCSCF)))
    assert asserted(up) == [f"<{ALICE}>"]  # from inside the trust domain: it passes


# -- Proxy-Authorization stays at the UE's hop -----------------------------------------------
def forwarded(sends: list[Send]) -> Request:
    return one_request(sends)[0]


def test_originating_requests_lose_proxy_authorization() -> None:
    h = Harness()
    h.register()
    fwd = forwarded(h.rx(request("INVITE", call_id="pa-1", extra=PROXY_AUTH)))
    assert "proxy-authorization" not in fwd.headers
    fwd = forwarded(h.rx(request("MESSAGE", call_id="pa-2", extra=PROXY_AUTH + PROXY_AUTH)))
    assert "proxy-authorization" not in fwd.headers


def test_register_keeps_authorization_and_loses_proxy_authorization() -> None:
    h = Harness()
    fwd = forwarded(h.rx(register(extra=PROXY_AUTH)))
    assert "proxy-authorization" not in fwd.headers
    [auth] = fwd.auth_headers("authorization")
    assert auth.username == IMPI


def test_in_dialog_requests_and_acks_from_the_ue_lose_proxy_authorization() -> None:
    h = Harness()
    h.register()
    route = f"Route: {RR_ORIG}, <sip:{SCSCF[0]}:{SCSCF[1]};lr>\r\n"
    for method in ("BYE", "ACK"):  # an ACK for a 2xx is relayed statelessly (§16.11)
        req = request(method, uri="sip:bob@192.0.2.77:5099", call_id="pa-3", to_tag="b",
                      branch=f"z9hG4bKpa{method}", extra=route + PROXY_AUTH)
        fwd = forwarded(h.rx(req))
        assert "proxy-authorization" not in fwd.headers, method


# -- requests the P-CSCF answers or cannot deliver --------------------------------------------
def test_options_to_the_pcscf_itself_is_answered_200_even_unregistered() -> None:
    """RFC 3261 §11.2: the proxy core answers; the P-CSCF says what it relays and that it
    supports Path, and does not offer sec-agree (no IPsec yet)."""
    h = Harness()
    req = request("OPTIONS", uri=f"sip:{PCSCF[0]}:{PCSCF[1]}", call_id="opt-1")
    sends = h.rx(req)
    assert requests(sends) == []
    [resp] = responses(sends)
    assert resp.status == 200
    allow = {m.strip() for m in (resp.headers.get("allow") or "").split(",")}
    assert {"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "MESSAGE", "OPTIONS"} <= allow
    assert resp.headers.values("supported") == ["path"]
    assert PcscfCore.supported == "path" and "sec-agree" not in PcscfCore.supported


def test_a_transport_failure_towards_the_icscf_still_answers_the_ue() -> None:
    """RFC 3261 §16.9: a send that fails counts as a 503 from that branch; the UE gets
    a 500 over its own flow (§16.7 step 6: a 503 is not passed upstream)."""
    h = Harness()
    [send] = requests(h.rx(register()))
    h.core.send_failed(send, h.now)
    out = h.core.data_to_send()
    [resp] = responses(out)
    assert resp.status == 500
    assert [s.dest for s in out] == [Destination("UDP", *UE)]
    assert len(h.core.store) == 0
