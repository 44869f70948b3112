"""Initial requests through the I-CSCF (TS 24.229 §5.3.2.1): the LIR it sends
(TS 29.228 §6.1.4), every LIA outcome's SIP mapping, and an INVITE through to the
S-CSCF against the real HSS handlers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hss.config import CxConfig
from hss.cx import HANDLERS, CxContext
from hss.model import RegState
from hss.provision import demo_subscribers
from hss.store.sqlite import SqliteStore
from ims_core.cscf import DOMAIN
from ims_core.diameter import (
    CxResult,
    DiameterTimeout,
    DiameterUnavailable,
    Message,
    ResultCode,
    decode,
)
from ims_core.icscf import ScscfEntry
from ims_core.icscf.lir import NotRoutable, public_identity
from ims_core.sip import Request, Response, parse_message, parse_uri
from tests.sipmsg import build_request

from .util import (
    ICSCF,
    IMPU,
    SCSCF_ADDR,
    SCSCF_NAME,
    Harness,
    only_request,
    only_response,
    uaa,
)

SCSCF_SRC = ("127.0.0.3", 5060)


def invite(uri: str = IMPU, method: str = "INVITE", extra: str = "") -> Request:
    return build_request(
        method, uri, vias=["SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsc1",
                           "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKue1"],
        max_forwards=67, from_=f"<sip:001010000000002@{DOMAIN}>;tag=a1", to=f"<{uri}>",
        call_id="call-1@ue", headers=["Record-Route: <sip:127.0.0.3:5060;lr;ims-leg=orig>",
                                      "Contact: <sip:ue2@10.0.0.2:5060>",
                                      "Content-Type: application/sdp"],
        extra=extra, body=b"v=0\n")


def lir_of(h: Harness, req: Request) -> Message:
    queries, sends = h.rx(req)
    assert [m for m in sends if b" 100 " not in m.data[:20]] == []  # held for the LIA
    [q] = queries
    assert q.ctx is not None  # a failing callback gets answered 500
    return q.request


# -- the LIR ------------------------------------------------------------------------------


@pytest.mark.parametrize(("uri", "expected"), [
    (IMPU, IMPU),
    (f"sip:+15550000001@{DOMAIN};user=phone", f"sip:+15550000001@{DOMAIN}"),
    ("tel:+15550000001", "tel:+15550000001"),
    ("tel:+15550000001;foo=bar", "tel:+15550000001"),
    # A local number means nothing without its context (RFC 3966 §5.1.5).
    ("tel:5550001;foo=bar;phone-context=example.net", "tel:5550001;phone-context=example.net"),
    (f"sip:alice:secret@{DOMAIN}", f"sip:alice@{DOMAIN}"),  # no password to the HSS
    (f"sip:001010000000001@{DOMAIN.upper()}:5060;transport=udp?x=y",
     f"sip:001010000000001@{DOMAIN.upper()}:5060"),
])
def test_public_identity_from_the_request_uri(uri: str, expected: str) -> None:
    assert public_identity(parse_uri(uri), DOMAIN) == expected


@pytest.mark.parametrize("uri", ["sip:bob@example.org", f"sip:{DOMAIN}", "urn:service:sos"])
def test_request_uris_the_hss_is_not_asked_about(uri: str) -> None:
    with pytest.raises(NotRoutable):
        public_identity(parse_uri(uri), DOMAIN)


def test_lir_contents() -> None:
    h = Harness()
    lir = lir_of(h, invite(f"sip:+15550000001@{DOMAIN};user=phone"))
    assert lir.name == "LIR"
    assert lir.get("Public-Identity") == f"sip:+15550000001@{DOMAIN}"
    assert lir.get("Originating-Request") is None
    assert lir.get("User-Authorization-Type") is None
    assert lir.get("Session-Id") and lir.get("Auth-Session-State") == 1
    assert lir.get("Destination-Realm") == DOMAIN
    decode(lir.encode())  # encodes and decodes cleanly


def test_foreign_request_uri_is_404_without_lir() -> None:
    h = Harness()
    queries, sends = h.rx(invite("sip:bob@example.org"))
    assert queries == []
    statuses = [m.status for m in map(parse_message, (s.data for s in sends))
                if isinstance(m, Response)]
    assert statuses == [100, 404]


# -- the LIA ------------------------------------------------------------------------------


def answered(h: Harness, req: Request, **kwargs: object) -> list:  # type: ignore[type-arg]
    queries, _ = h.rx(req)
    [q] = queries
    return h.answer(q, uaa(q.request, **kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize("experimental", [CxResult.FIRST_REGISTRATION,
                                          CxResult.UNREGISTERED_SERVICE])
def test_server_name_forwards_the_invite_unchanged(experimental: int) -> None:
    h = Harness()
    fwd, send = only_request(answered(h, invite(), experimental=experimental))
    assert (send.dest.host, send.dest.port) == SCSCF_ADDR
    assert fwd.uri_text == IMPU  # Request-URI untouched
    assert fwd.headers.values("record-route") == ["<sip:127.0.0.3:5060;lr;ims-leg=orig>"]
    assert "route" not in fwd.headers
    assert fwd.max_forwards == 66
    assert fwd.body == b"v=0\n"
    assert (fwd.vias()[0].host, fwd.vias()[0].port) == ICSCF


def test_result_code_success_forwards() -> None:
    h = Harness()
    _, send = only_request(answered(h, invite(), experimental=None,
                                    result_code=ResultCode.SUCCESS))
    assert (send.dest.host, send.dest.port) == SCSCF_ADDR


def test_capabilities_select_from_the_pool() -> None:
    pool = (ScscfEntry("sip:other.example:5060", "127.0.0.8:5060", capabilities=(1,)),
            ScscfEntry(SCSCF_NAME, "127.0.0.3:5060", capabilities=(1, 2)))
    h = Harness(pool)
    _, send = only_request(answered(
        h, invite(), experimental=CxResult.UNREGISTERED_SERVICE, server_name=None,
        capabilities={"Mandatory-Capability": [1], "Optional-Capability": [2]}))
    assert (send.dest.host, send.dest.port) == SCSCF_ADDR


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"experimental": CxResult.ERROR_USER_UNKNOWN, "server_name": None}, 404),
    ({"experimental": CxResult.ERROR_IDENTITY_NOT_REGISTERED, "server_name": None}, 480),
    ({"experimental": CxResult.FIRST_REGISTRATION, "server_name": None}, 480),
    ({"experimental": CxResult.UNREGISTERED_SERVICE, "server_name": None}, 480),
    ({"experimental": CxResult.ERROR_ROAMING_NOT_ALLOWED, "server_name": None}, 500),
    ({"result_code": ResultCode.AUTHORIZATION_REJECTED, "server_name": None}, 404),
    ({"result_code": ResultCode.UNABLE_TO_COMPLY, "server_name": None}, 500),
    ({"server_name": "sip:unknown.example.net"}, 500),
])
def test_lia_outcomes(kwargs: dict[str, object], status: int) -> None:
    h = Harness()
    assert only_response(answered(h, invite(), **kwargs)).status == status


@pytest.mark.parametrize("outcome", [DiameterTimeout("no LIA"), DiameterUnavailable("down")])
def test_hss_failure_is_504_with_reason(outcome: Exception) -> None:
    h = Harness()
    queries, _ = h.rx(invite())
    r = only_response(h.answer(queries[0], outcome))
    assert r.status == 504 and r.reason == "Server Time-out"
    assert "cause=504" in (r.headers.get("reason") or "")
    assert "HSS" in (r.headers.get("reason") or "")


def test_protocol_error_result_is_the_hss_failure_status() -> None:
    h = Harness()
    r = only_response(answered(h, invite(), experimental=None,
                               result_code=ResultCode.UNABLE_TO_DELIVER, server_name=None))
    assert r.status == 504 and r.headers.get("reason")


def test_lir_failure_status_is_configurable() -> None:
    h = Harness()
    h.core.lir_failure_status = 480
    queries, _ = h.rx(invite())
    r = only_response(h.answer(queries[0], DiameterTimeout("x")))
    assert r.status == 480 and r.headers.get("reason")


def test_message_gets_an_lir_too() -> None:
    h = Harness()
    _, send = only_request(answered(h, invite(method="MESSAGE")))
    assert (send.dest.host, send.dest.port) == SCSCF_ADDR


def test_cancel_while_the_lir_is_pending_is_487_and_the_lia_is_ignored() -> None:
    h = Harness()
    req = invite()
    queries, _ = h.rx(req)
    cancel = parse_message(req.to_bytes().decode().replace("INVITE", "CANCEL")
                           .replace("Content-Type: application/sdp\r\n", "")
                           .replace("Content-Length: 4\r\n\r\nv=0\n",
                                    "Content-Length: 0\r\n\r\n").encode())
    assert isinstance(cancel, Request)
    _, sends = h.rx(cancel)
    statuses = sorted(m.status for m in map(parse_message, (s.data for s in sends)))  # type: ignore[union-attr]
    assert statuses == [200, 487]
    assert h.answer(queries[0], uaa(queries[0].request)) == []


def test_in_dialog_request_without_route_follows_the_request_uri() -> None:
    h = Harness()
    bye = invite("sip:ue1@10.0.0.9:5060", method="BYE")
    bye.headers.set("To", f"<{IMPU}>;tag=b1")
    queries, sends = h.rx(bye)
    assert queries == []
    _, send = only_request(sends)
    assert (send.dest.host, send.dest.port) == ("10.0.0.9", 5060)


# -- against the real HSS -------------------------------------------------------------------


@pytest.fixture
def hss(tmp_path: Path) -> Iterator[CxContext]:
    store = SqliteStore(tmp_path / "hss.sqlite")
    store.add(list(demo_subscribers(2, DOMAIN)))
    yield CxContext(store=store, cx=CxConfig(domain=DOMAIN), origin_host=f"hss.{DOMAIN}",
                    origin_realm=DOMAIN)
    store.close()


def real_answer(ctx: CxContext, request: Message) -> Message:
    wire = decode(request.encode())
    return decode(HANDLERS[wire.command_code](wire, ctx).encode())


def test_invite_to_a_registered_user_reaches_its_scscf(hss: CxContext) -> None:
    sub = next(iter(demo_subscribers(1, DOMAIN)))
    hss.store.update_registration(
        sub.imsi, {i: RegState.REGISTERED for i in sub.impu_names}, SCSCF_NAME)
    h = Harness()
    queries, _ = h.rx(invite("tel:+" + (sub.msisdn or "")))
    [q] = queries
    fwd, send = only_request(h.answer(q, real_answer(hss, q.request)))
    assert (send.dest.host, send.dest.port) == SCSCF_ADDR
    assert fwd.method == "INVITE" and fwd.uri_text == f"tel:+{sub.msisdn}"


def test_invite_to_an_unknown_user_is_404(hss: CxContext) -> None:
    h = Harness()
    queries, _ = h.rx(invite(f"sip:999999999999999@{DOMAIN}"))
    assert only_response(h.answer(queries[0], real_answer(hss, queries[0].request))).status == 404


def test_invite_to_a_never_registered_user_is_480(hss: CxContext) -> None:
    h = Harness()
    queries, _ = h.rx(invite())
    assert only_response(h.answer(queries[0], real_answer(hss, queries[0].request))).status == 480
