"""Non-REGISTER requests: terminating routing to registered contacts through the Path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ims_core.sip import Request, Response, parse_message
from ims_core.sip.addressing import Source
from tests.sipmsg import build_request, parse_request

from .helpers import DOMAIN, ICSCF, IMPU, MSISDN, Harness, Ue


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.close()


def invite(uri: str, route: str = "") -> Request:
    return build_request(
        "INVITE", uri, vias=[f"SIP/2.0/UDP {ICSCF[0]}:{ICSCF[1]};branch=z9hG4bKinv1"],
        max_forwards=69, from_="<sip:alice@example.net>;tag=a1", to=f"<{uri}>",
        call_id="call-1@example.net", headers=["Contact: <sip:alice@198.51.100.1>"],
        extra=route)


def rx(h: Harness, msg: Request) -> tuple[list[Request], list[Response]]:
    h.core.receive(msg, Source("UDP", *ICSCF, None, None), h.now)
    reqs, resps = [], []
    for s in h._pump():
        m = parse_message(s.data)
        if isinstance(m, Request):
            reqs.append(m)
            assert (s.dest.host, s.dest.port) == ("127.0.0.1", 5060)  # the P-CSCF, by Path
        elif m.status != 100:
            resps.append(m)
    return reqs, resps


@pytest.mark.parametrize("uri", [IMPU, f"tel:+{MSISDN}", f"sip:+{MSISDN}@{DOMAIN};user=phone"])
def test_terminating_request_goes_to_the_contact_through_the_path(h: Harness, uri: str) -> None:
    ue = Ue()
    ue.register_fully(h)
    [fwd], _ = rx(h, invite(uri))
    assert fwd.uri_text == ue.contact
    assert fwd.headers.values("route") == ["<sip:term@127.0.0.1:5060;lr>"]
    assert fwd.headers.get("record-route") is not None  # the S-CSCF stays on the path


def test_unregistered_home_user_is_480(h: Harness) -> None:
    _, [r] = rx(h, invite(IMPU))
    assert r.status == 480


def test_foreign_user_is_404(h: Harness) -> None:
    _, [r] = rx(h, invite("sip:bob@example.org"))
    assert r.status == 404


def test_originating_request_via_service_route_goes_to_the_icscf(h: Harness) -> None:
    Ue().register_fully(h)
    h.core.receive(invite(IMPU, "Route: <sip:orig@127.0.0.3:5060;lr>\r\n"
                               f"P-Asserted-Identity: <{IMPU}>\r\n"),
                   Source("UDP", "127.0.0.1", 5060, None, None), h.now)
    [send] = [s for s in h.core.data_to_send() if s.data.startswith(b"INVITE")]
    assert (send.dest.host, send.dest.port) == ICSCF
    fwd = parse_message(send.data)
    assert isinstance(fwd, Request) and fwd.uri_text == IMPU


def test_after_expiry_the_user_is_unavailable(h: Harness) -> None:
    Ue().register_fully(h, expires=600)
    h.tick(601)
    _, [r] = rx(h, invite(IMPU))
    assert r.status == 480


def test_options_to_us_is_answered(h: Harness) -> None:
    msg = invite("sip:127.0.0.3:5060")
    text = msg.to_bytes().replace(b"INVITE", b"OPTIONS")
    _, [r] = rx(h, parse_request(text))
    assert r.status == 200 and "REGISTER" in (r.headers.get("allow") or "")
    assert r.headers.get("supported") == "path"  # RFC 3327
    assert h.hss.requests == []  # answered by the proxy core, no SAR for "a user"
