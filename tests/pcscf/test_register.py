"""REGISTER through the P-CSCF core (TS 24.229 §5.2.2) with a fake clock."""

from __future__ import annotations

from ims_core.pcscf import PcscfCore
from ims_core.sip import Request, parse_auth, parse_message
from ims_core.sip.addressing import Destination
from tests.sipmsg import answer, one_request, requests, responses

from .messages import (
    CHALLENGE,
    DOMAIN,
    ICSCF,
    IMPU,
    PCSCF,
    SCSCF,
    TEL,
    UE,
    Harness,
    config,
    register,
    source_for,
)

PATH = f"<sip:term@{PCSCF[0]}:{PCSCF[1]};lr>"


def forwarded(h: Harness, req: Request) -> tuple[Request, Destination]:
    return one_request(h.rx(req))


def test_register_gets_path_pheaders_and_goes_to_the_icscf() -> None:
    h = Harness()
    fwd, dest = forwarded(h, register(extra="Supported: sec-agree\r\n"))
    assert dest == Destination("UDP", *ICSCF)
    assert fwd.uri_text == f"sip:{DOMAIN}"
    assert fwd.headers.values("path") == [PATH]
    assert "path" in fwd.headers.values("require")
    assert fwd.headers.values("supported") == ["sec-agree", "path"]
    assert fwd.headers.get("p-visited-network-id") == '"visited.example.net"'
    pcv = fwd.headers.get("p-charging-vector") or ""
    params = dict(p.split("=", 1) for p in pcv.split(";"))
    assert len(params["icid-value"]) == 32
    assert params["icid-generated-at"] == PCSCF[0]
    assert [v.host for v in fwd.vias()] == [PCSCF[0], UE[0]]
    assert fwd.max_forwards == 69


def test_each_register_gets_its_own_icid_and_an_existing_one_is_kept() -> None:
    h = Harness()
    a, _ = forwarded(h, register(call_id="a"))
    b, _ = forwarded(h, register(call_id="b"))
    assert a.headers.get("p-charging-vector") != b.headers.get("p-charging-vector")
    kept = "icid-value=abc123;icid-generated-at=elsewhere"
    c, _ = forwarded(h, register(call_id="c", extra=f"P-Charging-Vector: {kept}\r\n"))
    assert c.headers.get_all("p-charging-vector") == [kept]


def test_the_icid_comes_from_the_core_s_rng() -> None:
    h = Harness(PcscfCore(config(), rng=lambda n: bytes(range(n))))
    fwd, _ = forwarded(h, register())
    icid = bytes(range(16)).hex()
    assert (fwd.headers.get("p-charging-vector") or "").startswith(f"icid-value={icid};")


def test_existing_supported_path_is_not_duplicated_and_ue_pvni_is_replaced() -> None:
    h = Harness()
    fwd, _ = forwarded(h, register(
        extra='Supported: path\r\nP-Visited-Network-ID: "spoofed"\r\n'))
    assert fwd.headers.values("supported") == ["path"]
    assert fwd.headers.get_all("p-visited-network-id") == ['"visited.example.net"']


def test_our_route_is_removed_and_ue_routes_do_not_steer_the_register() -> None:
    h = Harness()
    route = f"Route: <sip:{PCSCF[0]}:{PCSCF[1]};lr>, <sip:192.0.2.99;lr>\r\n"
    fwd, dest = forwarded(h, register(extra=route))
    assert "route" not in fwd.headers
    assert dest == Destination("UDP", *ICSCF)


def test_register_over_tcp_goes_to_the_icscf_over_tcp() -> None:
    h = Harness()
    req = register(transport="TCP")
    [send] = requests(h.rx(req, source_for(req, transport="TCP", conn=object())))
    assert send.dest == Destination("TCP", *ICSCF)


def test_icscf_with_transport_parameter_forces_it() -> None:
    h = Harness(PcscfCore(config(home_networks={DOMAIN: f"sip:{ICSCF[0]}:5070;transport=tcp"})))
    _, dest = forwarded(h, register())
    assert dest == Destination("TCP", ICSCF[0], 5070)


def test_unknown_home_domain_is_403_and_nothing_is_forwarded() -> None:
    h = Harness()
    sends = h.rx(register(uri="sip:other.example.org"))
    assert requests(sends) == []
    assert [r.status for r in responses(sends)] == [403]


def test_register_without_contact_or_with_user_in_uri_is_400_and_tel_is_416() -> None:
    h = Harness()
    assert [r.status for r in responses(h.rx(register(contact="")))] == [400]
    bad = register(uri=f"sip:someone@{DOMAIN}", call_id="x2")
    assert [r.status for r in responses(h.rx(bad))] == [400]
    tel = register(uri="tel:+15550000001", call_id="x3")
    assert [r.status for r in responses(h.rx(tel))] == [416]


def test_401_reaches_the_ue_without_ck_and_ik_and_otherwise_intact() -> None:
    h = Harness()
    [send] = requests(h.rx(register()))
    sends = h.rx(answer(send.data, 401, extra=f"WWW-Authenticate: {CHALLENGE}\r\n"))
    [r401] = responses(sends)
    assert r401.status == 401
    assert [s.dest for s in sends] == [Destination("UDP", *UE)]
    value = r401.headers.get("www-authenticate") or ""
    assert value == (f'Digest realm="{DOMAIN}", nonce="bm9uY2UtcmFuZC1hdXRu", '
                     'algorithm=AKAv1-MD5, qop="auth"')
    auth = parse_auth(value)
    assert (auth.ck, auth.ik) == (None, None)
    assert (auth.realm, auth.algorithm, auth.qop) == (DOMAIN, "AKAv1-MD5", "auth")
    assert len(r401.vias()) == 1
    assert h.core.store.by_flow(("UDP", *UE)) == []


def test_200_records_the_registration() -> None:
    h = Harness()
    r200 = h.register(reg_expires=600)
    assert r200.status == 200
    [reg] = h.core.store.by_flow(("UDP", *UE))
    assert reg.service_route == (f"<sip:orig@{SCSCF[0]}:{SCSCF[1]};lr>",)
    assert reg.impus == (IMPU, TEL)
    assert reg.default_impu == IMPU
    assert reg.path == PATH
    [binding] = reg.bindings
    assert binding.uri == f"sip:001010000000001@{UE[0]}:{UE[1]}"
    assert binding.expires == h.now + 600
    assert h.core.store.by_impu(TEL) == [reg]
    assert h.core.store.by_impu(f"sip:001010000000001@{DOMAIN.upper()}") == [reg]
    assert h.core.store.by_contact(binding.uri) == reg
    assert h.core.store.next_expiry() == h.now + 600
    assert (t := h.core.get_timer()) is not None and t <= h.now + 600


def test_deregistration_200_removes_it() -> None:
    h = Harness()
    h.register()
    assert len(h.core.store) == 1
    h.now += 10
    h.register(expires=0, reg_expires=0, call_id="dereg@ue")
    assert len(h.core.store) == 0
    assert h.core.store.by_impu(IMPU) == []


def test_reregistration_refreshes_expiry() -> None:
    h = Harness()
    h.register(reg_expires=600)
    h.advance(300)
    h.register(reg_expires=600, call_id="rereg@ue")
    [reg] = h.core.store.by_flow(("UDP", *UE))
    assert reg.expires == h.now + 600
    h.advance(599)
    assert len(h.core.store) == 1


def test_registration_expires_on_its_own() -> None:
    h = Harness()
    h.register(reg_expires=600)
    h.advance(599.9)
    assert len(h.core.store) == 1
    h.advance(0.2)
    assert len(h.core.store) == 0
    assert h.core.store.by_contact(f"sip:001010000000001@{UE[0]}:{UE[1]}") is None


def test_a_200_for_other_contacts_only_does_not_register_this_ue() -> None:
    h = Harness()
    req = register()
    [send] = requests(h.rx(req))
    extra = ("Contact: <sip:someone-else@203.0.113.1:5060>;expires=600\r\n"
             f"Service-Route: <sip:orig@{SCSCF[0]};lr>\r\n")
    [r200] = responses(h.rx(answer(send.data, 200, extra=extra)))
    assert r200.status == 200
    assert len(h.core.store) == 0


def test_a_contact_registered_again_from_a_new_flow_leaves_the_old_one() -> None:
    h = Harness()
    h.register(transport="TCP", conn=object())
    req = register(transport="TCP", call_id="new-conn")
    new_flow = (UE[0], 40001)
    src = source_for(req, new_flow, "TCP", object())
    [send] = requests(h.rx(req, src))
    fwd = parse_message(send.data)
    contact = f"sip:001010000000001@{UE[0]}:{UE[1]}"
    extra = f"Contact: <{contact}>;expires=600\r\nPath: {fwd.headers.values('path')[0]}\r\n"
    h.rx(answer(send.data, 200, extra=extra))
    assert h.core.store.by_flow(("TCP", *UE)) == []
    reg = h.core.store.by_contact(contact)
    assert reg is not None and reg.flow == ("TCP", *new_flow)


def test_a_challenge_we_cannot_parse_is_not_relayed() -> None:
    h = Harness()
    [send] = requests(h.rx(register()))
    bad = 'WWW-Authenticate: Digest realm="x, ck="00"\r\n'
    [r401] = responses(h.rx(answer(send.data, 401, extra=bad)))
    assert r401.status == 401
    assert "www-authenticate" not in r401.headers


def test_binding_expiry_falls_back_to_expires_header_then_default() -> None:
    contact = f"<sip:001010000000001@{UE[0]}:{UE[1]}>"
    for extra, lifetime in ((f"Contact: {contact}\r\nExpires: 120\r\n", 120),
                            (f"Contact: {contact}\r\n", 3600)):
        h = Harness()
        [send] = requests(h.rx(register()))
        h.rx(answer(send.data, 200, extra=extra))
        [reg] = h.core.store.by_flow(("UDP", *UE))
        assert reg.expires == h.now + lifetime
        assert reg.service_route == () and reg.impus == (IMPU,)


def test_contact_star_deregistration_removes_the_ue() -> None:
    h = Harness()
    h.register()
    req = register(contact="*", expires=0, call_id="star")
    [send] = requests(h.rx(req))
    h.rx(answer(send.data, 200))
    assert len(h.core.store) == 0
