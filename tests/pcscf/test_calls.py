"""Calls through the P-CSCF, sans I/O with a fake clock: originating requests
(TS 24.229 §5.2.6.3), terminating ones (§5.2.6.4) and requests within a dialog (§5.2.7)
in both directions."""

from __future__ import annotations

from ims_core.proxy import Send
from ims_core.sip import Request, Response, make_cancel, parse_message
from ims_core.sip.addressing import Destination, Source
from tests.sipmsg import answer, one_request, requests, responses

from .messages import (
    ALICE,
    CONTACT,
    DOMAIN,
    IMPU,
    OUR_ROUTE,
    PATH_ROUTE,
    PCSCF,
    RR_ORIG,
    RR_TERM,
    SCSCF,
    SERVICE_ROUTE,
    TEL,
    UE,
    Harness,
    register,
    request,
    source_for,
)

SDP = (b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
       b"m=audio 49170 RTP/AVP 0\r\na=curr:qos local none\r\n")
BOB_CONTACT = "sip:bob@192.0.2.77:5099"


def originate(h: Harness, method: str = "INVITE", extra: str = "",
              call_id: str = "call-1") -> tuple[Request, Destination]:
    return one_request(h.rx(request(method, call_id=call_id, extra=extra)))


def from_core(h: Harness, req: Request, addr: tuple[str, int] = SCSCF) -> list[Send]:
    return h.rx(req, source_for(req, addr))


def core_request(method: str = "INVITE", uri: str = CONTACT, *, extra: str = PATH_ROUTE,
                 to_tag: str | None = None, call_id: str = "term-1") -> Request:
    return request(method, uri=uri, from_uri=ALICE, ue=SCSCF, call_id=call_id,
                   extra=extra, to_tag=to_tag, branch=f"z9hG4bK{method}{call_id}")


def with_body(resp: Response, extra: str, body: bytes) -> Response:
    text = resp.to_bytes().decode().replace("Content-Length: 0\r\n\r\n", "")
    msg = parse_message((text + extra + f"Content-Length: {len(body)}\r\n\r\n").encode()
                        + body)
    assert isinstance(msg, Response)
    return msg


# -- originating ------------------------------------------------------------------------
def test_originating_invite_is_asserted_charged_service_routed_and_record_routed() -> None:
    h = Harness()
    h.register()
    fwd, dest = originate(h, extra=f"P-Asserted-Identity: <sip:ceo@{DOMAIN}>\r\n")
    assert dest == Destination("UDP", *SCSCF)
    assert fwd.headers.values("p-asserted-identity") == [f"<{IMPU}>"]  # the default IMPU
    pcv = fwd.headers.get("p-charging-vector") or ""
    assert "icid-value=" in pcv and f"icid-generated-at={PCSCF[0]}" in pcv
    assert fwd.headers.values("route") == [SERVICE_ROUTE]
    assert fwd.headers.values("record-route") == [RR_ORIG]


def test_a_charging_vector_already_present_is_kept() -> None:
    h = Harness()
    h.register()
    fwd, _ = originate(h, extra="P-Charging-Vector: icid-value=abc123\r\n")
    assert fwd.headers.get_all("p-charging-vector") == ["icid-value=abc123"]


def test_a_registered_preferred_identity_is_asserted_and_removed() -> None:
    h = Harness()
    h.register()
    fwd, _ = originate(h, extra=f"P-Preferred-Identity: <{TEL}>\r\n")
    assert fwd.headers.values("p-asserted-identity") == [f"<{TEL}>"]
    assert "p-preferred-identity" not in fwd.headers


def test_a_sip_and_a_tel_preferred_identity_are_both_asserted() -> None:
    h = Harness()
    h.register()
    fwd, _ = originate(h, extra=f"P-Preferred-Identity: <{TEL}>, <{IMPU}>\r\n")
    assert fwd.headers.values("p-asserted-identity") == [f"<{TEL}>", f"<{IMPU}>"]


def test_an_unregistered_preferred_identity_is_refused_for_the_default() -> None:
    h = Harness()
    h.register()
    fwd, _ = originate(h, extra=f"P-Preferred-Identity: <sip:boss@{DOMAIN}>\r\n"
                                f"P-Asserted-Identity: <sip:boss@{DOMAIN}>\r\n")
    assert fwd.headers.values("p-asserted-identity") == [f"<{IMPU}>"]
    assert "p-preferred-identity" not in fwd.headers


def test_a_malformed_preferred_identity_counts_as_absent() -> None:
    h = Harness()
    h.register()
    fwd, _ = originate(h, extra="P-Preferred-Identity: <<nonsense\r\n")
    assert fwd.headers.values("p-asserted-identity") == [f"<{IMPU}>"]


def test_only_the_pcscf_in_route_still_gets_the_service_route() -> None:
    h = Harness()
    h.register()
    fwd, dest = originate(h, extra=f"Route: {OUR_ROUTE}\r\n")
    assert fwd.headers.values("route") == [SERVICE_ROUTE]
    assert dest == Destination("UDP", *SCSCF)


def test_a_route_other_than_the_service_route_is_replaced() -> None:
    h = Harness()
    h.register()
    fwd, dest = originate(h, extra=f"Route: {OUR_ROUTE}, <sip:evil.example.com;lr>, "
                                   "<sip:orig@203.0.113.1;lr>\r\n")
    assert fwd.headers.values("route") == [SERVICE_ROUTE]
    assert dest == Destination("UDP", *SCSCF)


def test_sec_agree_headers_and_option_tags_are_consumed() -> None:
    h = Harness()
    h.register()
    extra = ("Security-Verify: ipsec-3gpp; alg=hmac-sha-1-96; spi-c=1; spi-s=2; "
             "port-c=5062; port-s=5064\r\n"
             "Security-Client: ipsec-3gpp; alg=hmac-sha-1-96; spi-c=3; spi-s=4\r\n"
             "Require: sec-agree, 100rel\r\nProxy-Require: sec-agree\r\n"
             "Supported: timer\r\n")
    fwd, _ = originate(h, extra=extra)  # no 420 for our own Proxy-Require tag
    assert "security-verify" not in fwd.headers
    assert "security-client" not in fwd.headers
    assert "proxy-require" not in fwd.headers
    assert fwd.headers.values("require") == ["100rel"]
    assert fwd.headers.values("supported") == ["timer"]


def test_register_sec_agree_is_consumed_too() -> None:
    h = Harness()
    req = register(extra="Security-Client: ipsec-3gpp; alg=hmac-sha-1-96; spi-c=1; spi-s=2\r\n"
                         "Require: sec-agree\r\nProxy-Require: sec-agree\r\n")
    fwd, _ = one_request(h.rx(req))
    for name in ("security-client", "proxy-require"):
        assert name not in fwd.headers
    assert fwd.headers.values("require") == ["path"]


def test_caller_cancel_is_answered_and_passed_on() -> None:
    h = Harness()
    h.register()
    invite = request("INVITE", call_id="c")
    [send] = requests(h.rx(invite))
    assert [r.status for r in responses(h.rx(answer(send.data, 180, to_tag="b"),
                                             Source("UDP", *SCSCF)))] == [180]
    cancel = make_cancel(invite)
    sends = h.rx(cancel, source_for(cancel))
    assert [r.status for r in responses(sends)] == [200]
    fwd, dest = one_request(sends)
    assert fwd.method == "CANCEL" and dest == Destination("UDP", *SCSCF)


def test_other_proxy_require_tags_are_still_refused() -> None:
    h = Harness()
    h.register()
    req = request("INVITE", extra="Proxy-Require: sec-agree, foo\r\n")
    [resp] = responses(h.rx(req))
    assert resp.status == 420
    assert resp.headers.get("unsupported") == "foo"


def test_message_and_subscribe() -> None:
    h = Harness()
    h.register()
    fwd, _ = originate(h, "MESSAGE", call_id="m")
    assert "record-route" not in fwd.headers  # page mode creates no dialog
    assert fwd.headers.values("p-asserted-identity") == [f"<{IMPU}>"]
    fwd, _ = originate(h, "SUBSCRIBE", call_id="s")
    assert fwd.headers.values("record-route") == [RR_ORIG]


def test_tcp_ue_is_record_routed_with_its_transport() -> None:
    h = Harness()
    conn = object()
    h.register(transport="TCP", conn=conn)
    req = request("INVITE", transport="TCP")
    fwd, dest = one_request(h.rx(req, source_for(req, UE, "TCP", conn)))
    assert fwd.headers.values("record-route") == [
        f"<sip:{PCSCF[0]}:{PCSCF[1]};transport=tcp;lr;ims-leg=orig>"]
    assert dest.transport == "TCP" and (dest.host, dest.port) == SCSCF


def test_unregistered_ue_cannot_originate_or_send_in_dialog() -> None:
    h = Harness()
    [_, r403] = responses(h.rx(request("INVITE")))
    assert r403.status == 403
    bye = request("BYE", uri=BOB_CONTACT, to_tag="b",
                  extra=f"Route: {RR_ORIG}, <sip:{SCSCF[0]};lr>\r\n")
    assert [r.status for r in responses(h.rx(bye))] == [403]


def test_responses_pass_untouched() -> None:
    h = Harness()
    h.register()
    [send] = requests(h.rx(request("INVITE")))
    ringing = with_body(answer(send.data, 183, to_tag="b"),
                        "Require: 100rel\r\nRSeq: 1\r\nContent-Type: application/sdp\r\n"
                        f"P-Asserted-Identity: <sip:bob@{DOMAIN}>\r\n"
                        f"Record-Route: <sip:{SCSCF[0]};lr>, {RR_ORIG}\r\n", SDP)
    [up] = [s for s in h.rx(ringing, Source("UDP", *SCSCF))]
    assert up.dest == Destination("UDP", *UE)
    relayed = parse_message(up.data)
    assert isinstance(relayed, Response) and relayed.status == 183
    assert relayed.body == SDP
    ours = ringing.to_bytes().split(b"\r\n", 2)[2]  # below the first (our) Via
    assert relayed.to_bytes().endswith(ours)


# -- terminating ------------------------------------------------------------------------
def test_terminating_invite_goes_over_the_udp_flow_with_term_record_route() -> None:
    h = Harness()
    h.register()
    req = core_request(extra=PATH_ROUTE + f"P-Asserted-Identity: <{ALICE}>\r\n"
                       "P-Charging-Vector: icid-value=x1\r\n")
    fwd, dest = one_request(from_core(h, req))
    assert dest == Destination("UDP", *UE)
    assert fwd.uri_text == CONTACT and "route" not in fwd.headers
    assert fwd.headers.values("record-route") == [RR_TERM]
    assert fwd.headers.values("p-asserted-identity") == [f"<{ALICE}>"]  # trusted
    assert "p-charging-vector" not in fwd.headers  # RFC 3455: not for the UE


def test_a_large_terminating_invite_stays_on_the_udp_flow() -> None:
    """After five hops an INVITE with SDP is well past 1300 bytes; a UE registered over
    UDP still gets it over UDP (RFC 5626 §5.3), not over a TCP connection it never made."""
    h = Harness()
    h.register()
    padding = "".join(f"X-Pad-{i}: {'p' * 60}\r\n" for i in range(25))
    fwd, dest = one_request(from_core(h, core_request(extra=PATH_ROUTE + padding)))
    assert len(fwd.to_bytes()) > 1300
    assert dest == Destination("UDP", *UE)
    assert fwd.top_via().transport == "UDP"


def test_terminating_invite_goes_over_the_tcp_connection() -> None:
    h = Harness()
    conn = object()
    h.register(transport="TCP", conn=conn)
    fwd, dest = one_request(from_core(h, core_request()))
    assert dest == Destination("TCP", *UE, conn) and dest.conn is conn
    assert fwd.headers.values("record-route") == [
        f"<sip:{PCSCF[0]}:{PCSCF[1]};transport=tcp;lr;ims-leg=term>"]


def test_privacy_id_removes_the_asserted_identity_towards_the_ue() -> None:
    h = Harness()
    h.register()
    pai = f"P-Asserted-Identity: <{ALICE}>\r\n"
    fwd, _ = one_request(from_core(h, core_request(extra=PATH_ROUTE + pai +
                                                   "Privacy: id;critical\r\n")))
    assert "p-asserted-identity" not in fwd.headers
    fwd, _ = one_request(from_core(h, core_request(extra=PATH_ROUTE + pai + "Privacy: none\r\n",
                                                   call_id="term-2")))
    assert fwd.headers.values("p-asserted-identity") == [f"<{ALICE}>"]


def test_terminating_message_is_not_record_routed() -> None:
    h = Harness()
    h.register()
    fwd, dest = one_request(from_core(h, core_request("MESSAGE")))
    assert dest == Destination("UDP", *UE)
    assert "record-route" not in fwd.headers


def test_our_path_from_an_unknown_peer_is_refused() -> None:
    h = Harness()
    h.register()
    req = core_request("MESSAGE")
    sends = h.rx(req, source_for(req, ("203.0.113.9", 5060)))
    assert [r.status for r in responses(sends)] == [403]


def test_our_path_from_the_registered_ue_is_originating() -> None:
    h = Harness()
    h.register()
    fwd, dest = originate(h, "MESSAGE", extra=PATH_ROUTE)  # no short cut past the S-CSCF
    assert dest == Destination("UDP", *SCSCF)
    assert fwd.headers.values("route") == [SERVICE_ROUTE]


# -- within a dialog --------------------------------------------------------------------
def ue_in_dialog(method: str, route: str, *, uri: str = BOB_CONTACT,
                 extra: str = "") -> Request:
    return request(method, uri=uri, call_id="call-1", to_tag="b",
                   branch=f"z9hG4bK{method}ue", extra=f"Route: {route}\r\n{extra}")


def test_in_dialog_requests_from_the_ue_go_to_the_scscf() -> None:
    h = Harness()
    h.register()
    route = f"{RR_ORIG}, <sip:{SCSCF[0]}:{SCSCF[1]};lr;ims-leg=orig>"
    for method in ("PRACK", "UPDATE", "INVITE", "BYE", "INFO"):
        fwd, dest = one_request(h.rx(ue_in_dialog(
            method, route, extra=f"P-Asserted-Identity: <sip:x@{DOMAIN}>\r\n")))
        assert dest == Destination("UDP", *SCSCF), method
        assert fwd.headers.values("route") == [
            f"<sip:{SCSCF[0]}:{SCSCF[1]};lr;ims-leg=orig>"]
        assert "record-route" not in fwd.headers  # a re-INVITE keeps the route set
        assert "p-asserted-identity" not in fwd.headers
        assert fwd.uri_text == BOB_CONTACT
    ack = ue_in_dialog("ACK", route, extra="Proxy-Require: sec-agree\r\n")
    fwd, dest = one_request(h.rx(ack))  # ACK for a 2xx: stateless (RFC 3261 §16.11)
    assert dest == Destination("UDP", *SCSCF)
    assert "proxy-require" not in fwd.headers


def test_the_callee_ue_routes_by_its_term_entry_towards_the_core() -> None:
    h = Harness()
    h.register()
    route = f"{RR_TERM}, <sip:{SCSCF[0]}:{SCSCF[1]};lr;ims-leg=term>, <sip:p2.example;lr>"
    fwd, dest = one_request(h.rx(ue_in_dialog("BYE", route, uri=f"sip:{ALICE[4:]}")))
    assert dest == Destination("UDP", *SCSCF)
    assert len(fwd.headers.values("route")) == 2


def test_in_dialog_requests_from_the_core_go_over_the_flow() -> None:
    h = Harness()
    h.register()
    for method in ("BYE", "UPDATE", "PRACK", "INVITE"):
        req = core_request(method, extra=f"Route: {RR_TERM}\r\nP-Charging-Vector: icid-value=1\r\n",
                           to_tag="a")
        fwd, dest = one_request(from_core(h, req))
        assert dest == Destination("UDP", *UE), method
        assert "route" not in fwd.headers and "record-route" not in fwd.headers
        assert "p-charging-vector" not in fwd.headers
        assert fwd.uri_text == CONTACT
    ack = core_request("ACK", extra=f"Route: {RR_ORIG}\r\n", to_tag="a")
    _, dest = one_request(from_core(h, ack))
    assert dest == Destination("UDP", *UE)


def test_in_dialog_from_the_core_to_a_tcp_ue_uses_its_connection() -> None:
    h = Harness()
    conn = object()
    h.register(transport="TCP", conn=conn)
    bye = core_request("BYE", uri=f"{CONTACT};transport=tcp", extra=f"Route: {RR_TERM}\r\n",
                       to_tag="a")
    _, dest = one_request(from_core(h, bye))
    assert dest == Destination("TCP", *UE, conn)


def test_in_dialog_to_an_unregistered_contact_uses_the_flow_or_the_uri() -> None:
    h = Harness()
    h.register()
    other_user = f"sip:dialog-contact@{UE[0]}:{UE[1]}"  # not registered, same address
    _, dest = one_request(from_core(h, core_request(
        "BYE", uri=other_user, extra=f"Route: {RR_TERM}\r\n", to_tag="a")))
    assert dest == Destination("UDP", *UE)
    _, dest = one_request(from_core(h, core_request(
        "BYE", uri="sip:x@198.51.100.50:5080", extra=f"Route: {RR_TERM}\r\n", to_tag="a",
        call_id="c2")))
    assert dest == Destination("UDP", "198.51.100.50", 5080)


def test_in_dialog_from_an_unknown_peer_or_past_the_core_is_refused() -> None:
    h = Harness()
    h.register()
    req = core_request("BYE", extra=f"Route: {RR_TERM}\r\n", to_tag="a")
    assert [r.status for r in responses(h.rx(req, source_for(req, ("203.0.113.9", 5060))))] \
        == [403]
    sneaky = ue_in_dialog("BYE", RR_ORIG)  # nothing after us: would skip the core
    assert [r.status for r in responses(h.rx(sneaky))] == [403]


# -- both parties behind this P-CSCF (the lab): the INVITE and the BYE pass us twice --------
UE_B = ("198.51.100.8", 5080)
CONTACT_B = f"sip:001010000000001@{UE_B[0]}:{UE_B[1]}"
SCSCF_RR = (f"<sip:{SCSCF[0]}:{SCSCF[1]};lr;ims-leg=term>, "
            f"<sip:{SCSCF[0]}:{SCSCF[1]};lr;ims-leg=orig>")


def scscf_relay(data: bytes, *, first: bool) -> Request:
    """What a (fake) S-CSCF makes of a request we sent it: pops its Routes and, on the
    first pass, Record-Routes twice and retargets to B's contact via B's Path."""
    req = parse_message(data)
    assert isinstance(req, Request)
    while SCSCF[0] in (req.headers.values("route") or [""])[0]:
        req.headers.pop_first_value("route")  # RFC 3261 §16.4: all of its own entries
    if first:
        for value in reversed(SCSCF_RR.split(", ")):
            req.push_address("Record-Route", value)
        req = parse_message(req.to_bytes().replace(f"INVITE sip:bob@{DOMAIN}".encode(),
                                                   f"INVITE {CONTACT_B}".encode(), 1))
        assert isinstance(req, Request)
        req.push_address("Route", f"<sip:term@{PCSCF[0]}:{PCSCF[1]};lr>")
    branch = f"z9hG4bKs{abs(hash(req.headers.get('via'))):x}"  # one per hop it relays
    req.push_via(f"SIP/2.0/UDP {SCSCF[0]}:{SCSCF[1]};branch={branch}")
    return req


def unvia(resp: Response) -> Response:
    resp.headers.pop_first_value("via")
    return resp


def test_a_call_between_two_ues_of_this_pcscf() -> None:
    h = Harness()
    h.register()
    h.register(ue=UE_B, call_id="reg-b")
    # A → P-CSCF (orig) → S-CSCF → P-CSCF (term) → B
    fwd, dest = originate(h, extra="Content-Type: application/sdp\r\n")
    assert dest == Destination("UDP", *SCSCF)
    at_scscf = scscf_relay(fwd.to_bytes(), first=True)
    [send_b] = requests(from_core(h, at_scscf))
    assert send_b.dest == Destination("UDP", *UE_B)
    to_b = parse_message(send_b.data)
    rr = [RR_TERM, *SCSCF_RR.split(", "), RR_ORIG]
    assert to_b.headers.values("record-route") == rr
    # B's 200 goes back the Via path: P-CSCF → S-CSCF → P-CSCF → A, untouched.
    ok = with_body(answer(send_b.data, 200, to_tag="b"),  # B copies Record-Route (§12.1.1)
                   f"Record-Route: {', '.join(rr)}\r\nContact: <{CONTACT_B}>\r\n"
                   "Content-Type: application/sdp\r\n", SDP)
    [up] = h.rx(ok, Source("UDP", *UE_B))
    assert up.dest == Destination("UDP", *SCSCF)
    at_scscf_resp = parse_message(up.data)
    assert isinstance(at_scscf_resp, Response)
    [to_a] = h.rx(unvia(at_scscf_resp), Source("UDP", *SCSCF))
    assert to_a.dest == Destination("UDP", *UE)
    final = parse_message(to_a.data)
    assert isinstance(final, Response) and final.status == 200 and final.body == SDP
    assert final.headers.values("record-route") == rr
    # A's ACK and BYE use the route set (reversed Record-Route, RFC 3261 §12.1.2).
    route_a = ", ".join(reversed(rr))
    for method in ("ACK", "BYE"):
        req = ue_in_dialog(method, route_a, uri=CONTACT_B)
        [s1] = requests(h.rx(req))
        assert s1.dest == Destination("UDP", *SCSCF), method
        [s2] = requests(from_core(h, scscf_relay(s1.data, first=False)))
        assert s2.dest == Destination("UDP", *UE_B), method
        assert "route" not in parse_message(s2.data).headers
    # B's BYE uses the Record-Route order (RFC 3261 §12.1.1).
    bye_b = request("BYE", uri=CONTACT, call_id="call-1", to_tag="a", ue=UE_B,
                    branch="z9hG4bKbyeb", extra=f"Route: {', '.join(rr)}\r\n")
    [s1] = requests(h.rx(bye_b, source_for(bye_b, UE_B)))
    assert s1.dest == Destination("UDP", *SCSCF)
    [s2] = requests(from_core(h, scscf_relay(s1.data, first=False)))
    assert s2.dest == Destination("UDP", *UE)
