"""REGISTER through the I-CSCF: UAA → S-CSCF, and every UAA failure → SIP status."""

from __future__ import annotations

import pytest

from ims_core.cscf import DOMAIN
from ims_core.diameter import CxResult, DiameterTimeout, DiameterUnavailable, ResultCode
from ims_core.icscf import ScscfEntry
from ims_core.sip import Request, Response, parse_message
from ims_core.sip.addressing import Source
from tests.sipmsg import answer, parse_request

from .util import (
    ICSCF,
    SCSCF_ADDR,
    SCSCF_NAME,
    Harness,
    only_request,
    only_response,
    parsed,
    register,
    uaa,
)


def forwarded(h: Harness, **uaa_kwargs: object) -> tuple[Request, tuple[str, int]]:
    queries, _ = h.rx(register())
    [query] = queries
    fwd, send = only_request(h.answer(query, uaa(query.request, **uaa_kwargs)))  # type: ignore[arg-type]
    return fwd, (send.dest.host, send.dest.port)


@pytest.mark.parametrize("experimental", [CxResult.FIRST_REGISTRATION,
                                          CxResult.SUBSEQUENT_REGISTRATION])
def test_server_name_forwards_to_pool_address_unchanged(experimental: int) -> None:
    fwd, dest = forwarded(Harness(), experimental=experimental)
    assert dest == SCSCF_ADDR
    assert fwd.uri_text == f"sip:{DOMAIN}"  # Request-URI untouched (§5.3.1.2)
    assert "record-route" not in fwd.headers
    vias = fwd.vias()
    assert (vias[0].host, vias[0].port) == ICSCF and len(vias) == 3
    assert fwd.headers.get("path") == "<sip:term@127.0.0.1:5060;lr>"
    assert fwd.headers.get("p-visited-network-id") is not None
    assert fwd.max_forwards == 68


def test_result_code_2001_with_server_name_forwards() -> None:
    # Our HSS answers a DE_REGISTRATION UAR with Result-Code 2001 + Server-Name.
    _, dest = forwarded(Harness(), experimental=None, result_code=ResultCode.SUCCESS)
    assert dest == SCSCF_ADDR


def test_server_name_matches_pool_ignoring_case_and_params() -> None:
    _, dest = forwarded(Harness(), server_name=f"sip:SCSCF.{DOMAIN.upper()}:5060;transport=udp")
    assert dest == SCSCF_ADDR


def test_server_name_outside_pool_with_ip_literal_is_used() -> None:
    _, dest = forwarded(Harness(), server_name="sip:127.0.0.9:5070")
    assert dest == ("127.0.0.9", 5070)


def test_server_name_outside_pool_without_address_is_500() -> None:
    h = Harness()
    queries, _ = h.rx(register())
    [q] = queries
    r = only_response(h.answer(q, uaa(q.request, server_name="sip:unknown.example.net")))
    assert r.status == 500


def test_responses_from_the_scscf_are_relayed_upstream() -> None:
    h = Harness()
    fwd, _ = forwarded(h)
    msg = answer(fwd, 401, extra=(
        f'WWW-Authenticate: Digest realm="{DOMAIN}", nonce="abc", algorithm=AKAv1-MD5, '
        'qop="auth", ck="00", ik="11"\r\n'))
    h.core.receive(msg, Source("UDP", *SCSCF_ADDR), h.now)
    r = only_response(h.core.data_to_send())
    assert r.status == 401
    assert len(r.vias()) == 2  # our Via removed
    assert "www-authenticate" in r.headers


def caps_pool() -> tuple[ScscfEntry, ...]:
    return (
        ScscfEntry("sip:s1.example.net:5060", "127.0.0.11:5060", capabilities=(1,)),
        ScscfEntry("sip:s2.example.net:5060", "127.0.0.12:5060", capabilities=(1, 2, 3)),
        ScscfEntry("sip:s3.example.net:5060", "127.0.0.13:5060", capabilities=(1, 2)),
        ScscfEntry("sip:s4.example.net:5060", "127.0.0.14:5060", capabilities=(4,)),
    )


@pytest.mark.parametrize(("caps", "expected"), [
    ({"Mandatory-Capability": [1], "Optional-Capability": [2, 3]}, ("127.0.0.12", 5060)),
    ({"Mandatory-Capability": [1, 2], "Optional-Capability": []}, ("127.0.0.12", 5060)),
    ({"Mandatory-Capability": [4]}, ("127.0.0.14", 5060)),
    ({"Mandatory-Capability": [1], "Server-Name": ["sip:s3.example.net:5060"]},
     ("127.0.0.13", 5060)),
    # A preferred name lacking a mandatory capability is passed over.
    ({"Mandatory-Capability": [3], "Server-Name": ["sip:s3.example.net:5060"]},
     ("127.0.0.12", 5060)),
    ({}, ("127.0.0.11", 5060)),
    ({"Server-Name": ["sip:127.0.0.20:5062"]}, ("127.0.0.11", 5060)),
])
def test_server_capabilities_select_from_pool(caps: dict[str, list[object]],
                                              expected: tuple[str, int]) -> None:
    _, dest = forwarded(Harness(caps_pool()), server_name=None, capabilities=caps)
    assert dest == expected


def test_capabilities_naming_an_unpooled_ip_server_when_pool_cannot_serve() -> None:
    pool = (ScscfEntry("sip:s4.example.net:5060", "127.0.0.14:5060", capabilities=(4,)),)
    _, dest = forwarded(Harness(pool), server_name=None,
                        capabilities={"Optional-Capability": [9],
                                      "Server-Name": ["sip:127.0.0.20:5062"]})
    assert dest == ("127.0.0.14", 5060)  # the pool entry fits: no mandatory capability
    h = Harness(pool)
    queries, _ = h.rx(register())
    [q] = queries
    r = only_response(h.answer(q, uaa(q.request, server_name=None,
                                      capabilities={"Mandatory-Capability": [7]})))
    assert (r.status, r.reason) == (500, "Server Internal Error - No Suitable S-CSCF")


def test_the_default_lab_pool_takes_the_hss_default_capabilities() -> None:
    # config/hss.toml's [cx.capabilities]: no numbers, the lab S-CSCF's name.
    _, dest = forwarded(Harness(), server_name=None,
                        capabilities={"Server-Name": [SCSCF_NAME]})
    assert dest == SCSCF_ADDR


def reject(h: Harness, outcome_kwargs: dict[str, object] | Exception) -> Response:
    queries, _ = h.rx(register())
    [q] = queries
    outcome = outcome_kwargs if isinstance(outcome_kwargs, Exception) else uaa(
        q.request, server_name=None, **outcome_kwargs)  # type: ignore[arg-type]
    return only_response(h.answer(q, outcome))


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"experimental": CxResult.ERROR_USER_UNKNOWN}, "Forbidden - User Unknown"),
    ({"experimental": CxResult.ERROR_IDENTITIES_DONT_MATCH},
     "Forbidden - Identities Don't Match"),
    ({"experimental": CxResult.ERROR_IDENTITY_NOT_REGISTERED}, "Forbidden - Not Registered"),
    ({"experimental": CxResult.ERROR_ROAMING_NOT_ALLOWED}, "Forbidden - Roaming Not Allowed"),
    ({"result_code": ResultCode.AUTHORIZATION_REJECTED}, "Forbidden - Authorization Rejected"),
    # The shared Cx table names these (the I-CSCF's own table said "HSS
    # Experimental-Result 5007" and answered 4001 with the HSS-failure 480).
    ({"experimental": CxResult.ERROR_IN_ASSIGNMENT_TYPE}, "Forbidden - Error In Assignment Type"),
    ({"experimental": CxResult.ERROR_AUTH_SCHEME_NOT_SUPPORTED},
     "Forbidden - Authentication Scheme Not Supported"),
    ({"result_code": ResultCode.AUTHENTICATION_REJECTED}, "Forbidden - Authentication Rejected"),
    # Any other negative UAA is a refusal too (TS 24.229 §5.3.1.2).
    ({"experimental": CxResult.ERROR_IDENTITY_ALREADY_REGISTERED},
     f"Forbidden - HSS Experimental-Result {CxResult.ERROR_IDENTITY_ALREADY_REGISTERED}"),
])
def test_negative_uaa_is_403_with_reason(kwargs: dict[str, object], reason: str) -> None:
    r = reject(Harness(), kwargs)
    assert (r.status, r.reason) == (403, reason)
    assert r.to_tag is not None
    # Every Cx-caused failure says why on the wire (RFC 3326).
    assert (r.headers.get("reason") or "").startswith("SIP;cause=403;text=")


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"result_code": ResultCode.UNABLE_TO_COMPLY}, 500),
    ({"result_code": ResultCode.MISSING_AVP}, 500),
    ({"experimental": CxResult.FIRST_REGISTRATION}, 500),  # neither name nor capabilities
])
def test_other_uaa_errors_are_500(kwargs: dict[str, object], status: int) -> None:
    assert reject(Harness(), kwargs).status == status


@pytest.mark.parametrize(("outcome", "text"), [
    (DiameterUnavailable("no open Diameter peer for UAR"),
     "HSS unreachable: no open Diameter peer for UAR"),
    (DiameterTimeout("late"), "HSS timeout: no UAA in time"),
    ({"result_code": ResultCode.UNABLE_TO_DELIVER}, "HSS error DIAMETER_UNABLE_TO_DELIVER"),
    ({"result_code": ResultCode.TOO_BUSY}, "HSS error TOO_BUSY (3004)"),
])
@pytest.mark.parametrize("status", [480, 504])
def test_hss_failures_give_configured_status_with_reason(
    outcome: dict[str, object] | Exception, text: str, status: int
) -> None:
    r = reject(Harness(hss_failure_status=status), outcome)
    assert r.status == status
    assert r.reason == ("Server Time-out" if status == 504 else "Temporarily Unavailable")
    reason = r.headers.get("reason")
    assert reason is not None
    assert reason.startswith(f"SIP;cause={status};text=\"")
    assert text.split(" (")[0].replace("DIAMETER_", "") in reason.replace("DIAMETER_", "")


def test_no_diameter_configured_fails_at_once() -> None:
    h = Harness(diameter=False)
    queries, sends = h.rx(register())
    assert queries == []
    r = only_response(sends)
    assert r.status == 480 and "HSS not configured" in (r.headers.get("reason") or "")


def test_late_uaa_after_cancel_or_final_is_ignored() -> None:
    h = Harness()
    queries, _ = h.rx(register())
    [q] = queries
    h.answer(q, DiameterTimeout("late"))
    assert h.answer(q, uaa(q.request)) == []


def test_every_register_gets_its_own_uar_and_no_state_is_kept() -> None:
    h = Harness()
    for i in range(3):
        queries, _ = h.rx(register(branch=f"z9hG4bKp{i}", call_id=f"c{i}"))
        [q] = queries
        only_request(h.answer(q, uaa(q.request)))
    assert not hasattr(h.core, "registrations")


def test_retransmitted_register_sends_no_second_uar() -> None:
    h = Harness()
    req = register()
    queries, _ = h.rx(req)
    assert len(queries) == 1
    again, sends = h.rx(register())
    assert again == [] and sends == []


@pytest.mark.parametrize("method", ["INVITE", "MESSAGE"])
def test_initial_request_to_the_bare_domain_is_404_without_lir(method: str) -> None:
    h = Harness()
    req = register()
    text = req.to_bytes().decode().replace("REGISTER", method)
    msg = parse_request(text.encode())
    queries, sends = h.rx(msg)
    assert queries == []
    statuses = [m.status for m, _ in parsed(sends) if isinstance(m, Response)]
    assert statuses[-1] == 404


def test_loose_routed_request_follows_its_route() -> None:
    h = Harness()
    text = register().to_bytes().decode().replace("REGISTER", "MESSAGE").replace(
        "Require: path\r\n",
        f"Route: <sip:{ICSCF[0]}:{ICSCF[1]};lr>\r\nRoute: <sip:127.0.0.3:5060;lr>\r\n")
    msg = parse_request(text.encode())
    queries, sends = h.rx(msg)
    assert queries == []
    fwd, send = only_request(sends)
    assert (send.dest.host, send.dest.port) == SCSCF_ADDR
    assert fwd.headers.get_all("route") == ["<sip:127.0.0.3:5060;lr>"]


def test_a_broken_uaa_is_answered_500_not_left_hanging() -> None:
    h = Harness()
    queries, _ = h.rx(register())
    [q] = queries
    ans = uaa(q.request, server_name=None,
              capabilities={"Server-Name": [SCSCF_NAME]})
    h.core.pool.candidates = None  # type: ignore[assignment, method-assign]  # simulate a bug
    assert only_response(h.answer(q, ans)).status == 500


def test_an_impi_that_is_not_utf8_gets_400_and_no_uar() -> None:
    # A UTF8String AVP cannot carry it (header bytes that are not UTF-8 parse as received).
    data = register().to_bytes()
    queries, sends = Harness().rx(parse_message(
        data.replace(b'username="', b'username="\xd1', 1)))
    assert queries == []
    resp = only_response(sends)
    assert resp.status == 400 and "UTF-8" in resp.reason


def test_a_visited_network_that_is_not_utf8_goes_as_the_octets_received() -> None:
    header = b'P-Visited-Network-ID: "'
    data = register().to_bytes().replace(header, header + b"\xff")
    [query], _ = Harness().rx(parse_message(data))
    network = query.request.get("Visited-Network-Identifier")
    assert network == b"\xffims.mnc001.mcc001.3gppnetwork.org"
