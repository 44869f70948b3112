"""Third-party REGISTER (TS 24.229 §5.4.1.7): which ASs get one, what it carries (headers,
Expires, the ServiceInfo / message/sip / multipart bodies), and when a failure
de-registers the user (DefaultHandling, TS 29.228 Annex B.2.2)."""

from __future__ import annotations

import itertools
import random
import xml.etree.ElementTree as ET

import pytest

from ims_core.scscf import ScscfCore
from ims_core.scscf.thirdparty import (
    IMS_XML,
    MESSAGE_SIP,
    matching_ifcs,
    multipart,
    must_deregister,
    on_failure,
    third_party_registers,
)
from ims_core.sip import Request, Response, make_response, parse_message
from ims_core.userdata import (
    DefaultHandling,
    Ifc,
    Profile,
    PublicIdentity,
    RegistrationType,
    ServiceProfile,
    SessionCase,
    Spt,
)
from tests.scscf.helpers import DOMAIN, IMPI, IMPU, SERVER_NAME, config
from tests.sipmsg import build_request, parse_request

INITIAL = RegistrationType.INITIAL_REGISTRATION
RE = RegistrationType.RE_REGISTRATION
DE = RegistrationType.DE_REGISTRATION
TEL = "tel:+15550000001"
AS1 = "sip:as1.example:5070"
REGISTER_SPT = Spt(method="REGISTER")


def rng() -> random.Random:
    return random.Random(11)


def profile(*ifcs: Ifc, barred: bool = False, tel_barred: bool = False) -> Profile:
    ids = (PublicIdentity(IMPU, barred), PublicIdentity(TEL, tel_barred))
    return Profile(IMPI, (ServiceProfile(ids, ifcs),))


def register(extra: list[str] | None = None) -> Request:
    return build_request(
        "REGISTER", f"sip:{DOMAIN}", vias=["SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKi1"],
        from_=f"<{IMPU}>;tag=u1", to=f"<{IMPU}>", call_id="reg-1@ue", cseq=2,
        headers=["Contact: <sip:ue1@192.0.2.50:5060>", "Expires: 600",
                 'P-Access-Network-Info: 3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=0010100010019B01',
                 'P-Visited-Network-ID: "visited.net"',
                 "P-Charging-Vector: icid-value=ab12;icid-generated-at=127.0.0.1;orig-ioi=v",
                 *(extra or [])])


def ok_for(req: Request) -> Response:
    ok = make_response(req, 200, to_tag="s1")
    ok.headers.add("Contact", "<sip:ue1@192.0.2.50:5060>;expires=600")
    ok.headers.add("P-Associated-URI", f"<{IMPU}>, <{TEL}>")
    return ok


def build(ifcs: tuple[Ifc, ...], kind: RegistrationType = INITIAL, *,
          req: Request | None = None, expires: int = 600,
          prof: Profile | None = None) -> list[tuple[Request, Ifc]]:
    req = req if req is not None else register()
    return third_party_registers(req, ok_for(req), prof or profile(*ifcs), IMPU, SERVER_NAME,
                                 expires, rng().randbytes, kind=kind,
                                 contact="sip:127.0.0.3:5060")


def on_the_wire(request: Request) -> Request:
    """What the AS receives: the request with the Via ``originate`` adds, parsed back."""
    out = parse_request(request.to_bytes())
    out.push_via("SIP/2.0/UDP 127.0.0.3:5060;branch=z9hG4bKx")
    wire = parse_request(out.to_bytes())
    wire.validate(full=True)
    return wire


def split_multipart(request: Request) -> list[tuple[str, bytes]]:
    ctype = request.headers.get("content-type") or ""
    kind, _, param = ctype.partition(";")
    assert kind == "multipart/mixed" and param.startswith("boundary=")
    delimiter = b"--" + param.removeprefix("boundary=").encode()
    assert request.body.startswith(delimiter + b"\r\n")
    assert request.body.endswith(b"\r\n" + delimiter + b"--\r\n")
    inner = request.body[len(delimiter) + 2:-len(delimiter) - 6]
    parts = []
    for chunk in inner.split(b"\r\n" + delimiter + b"\r\n"):
        head, _, content = chunk.partition(b"\r\n\r\n")
        name, _, value = head.decode().partition(":")
        assert name.lower() == "content-type"
        parts.append((value.strip(), content))
    return parts


# -- the request ------------------------------------------------------------------------------


def test_a_matching_ifc_gets_a_register_built_as_5417_says() -> None:
    ifc = Ifc(5, AS1, spts=(REGISTER_SPT,), service_info="<mmtel a='1'/> & more")
    [(request, which)] = build((ifc,))
    assert which is ifc
    wire = on_the_wire(request)
    assert request.headers.get("via") is None  # originate adds ours
    assert wire.method == "REGISTER" and wire.uri_text == AS1
    assert str(wire.from_addr.uri) == SERVER_NAME and wire.from_tag
    assert str(wire.to_addr.uri) == IMPU and wire.to_tag is None
    assert [str(c.uri) for c in wire.contacts()] == ["sip:127.0.0.3:5060"]
    assert wire.headers.get("expires") == "600"
    assert wire.max_forwards == 70
    assert wire.cseq.seq == 1 and wire.cseq.method == "REGISTER"
    assert wire.call_id.endswith(f"@scscf.{DOMAIN}")
    assert wire.headers.get("p-access-network-info") == \
        "3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=0010100010019B01"
    assert wire.headers.get("p-visited-network-id") == '"visited.net"'
    assert wire.headers.get("p-charging-vector") == "icid-value=ab12"  # not the visited IOI
    assert wire.headers.get("content-type") == IMS_XML
    assert wire.content_length == len(wire.body)
    root = ET.fromstring(wire.body)
    assert root.tag == "ims-3gpp" and root.get("version") == "1"
    assert root.findtext("service-info") == "<mmtel a='1'/> & more"


def test_no_register_for_a_trigger_that_does_not_match() -> None:
    ifcs = (Ifc(1, AS1, spts=(Spt(method="INVITE"),)),
            Ifc(2, "sip:as2.example", spts=(REGISTER_SPT, Spt(session_case=1, groups=(1,)))),
            Ifc(3, "sip:as3.example", condition_type_cnf=False,
                spts=(Spt(header="X-Nope"),)))
    assert build(ifcs) == []


def test_register_triggers_see_the_ues_register_as_an_originating_request() -> None:
    ifcs = (Ifc(1, AS1, spts=(REGISTER_SPT, Spt(session_case=SessionCase.ORIGINATING,
                                                 groups=(1,)))),
            Ifc(2, "sip:as2.example", spts=(REGISTER_SPT,
                                             Spt(header="X-Service", header_content="^vo",
                                                 groups=(1,)))))
    assert [i.priority for _, i in build(ifcs)] == [1]
    with_header = register(["X-Service: volte"])
    assert [i.priority for _, i in build(ifcs, req=with_header)] == [1, 2]


def test_by_priority_and_one_register_per_as() -> None:
    ifcs = (Ifc(30, "sip:as2.example", spts=(REGISTER_SPT,)),
            Ifc(20, AS1, spts=(REGISTER_SPT,), service_info="second"),
            Ifc(10, "sip:AS1.example:5070", spts=(REGISTER_SPT,), service_info="first"),
            Ifc(5, "sip:as3.example"))  # no TriggerPoint: unconditional
    built = build(ifcs)
    assert [i.priority for _, i in built] == [5, 10, 30]
    assert [r.uri_text for r, _ in built] == ["sip:as3.example", "sip:AS1.example:5070",
                                              "sip:as2.example"]
    calls = {r.call_id for r, _ in built} | {r.from_tag for r, _ in built}
    assert len(calls) == 6  # fresh Call-ID and tag each


def test_registration_type_narrows_method_register() -> None:
    only_initial = Ifc(1, AS1, spts=(Spt(method="REGISTER", registration_types=(INITIAL,)),))
    not_de = Ifc(2, "sip:as2.example",
                 spts=(Spt(method="REGISTER", registration_types=(INITIAL, RE)),))
    ifcs = (only_initial, not_de)
    assert [i.priority for _, i in build(ifcs, INITIAL)] == [1, 2]
    assert [i.priority for _, i in build(ifcs, RE)] == [2]
    assert build(ifcs, DE, expires=0) == []
    # The extension narrows REGISTER only: other methods' SPTs ignore it.
    p = profile(Ifc(3, AS1, spts=(Spt(method="INVITE", registration_types=(RE,)),)))
    invite = build_request("INVITE", IMPU, vias=["SIP/2.0/UDP h;branch=z9hG4bK1"],
                           from_="<sip:a@b>;tag=1", to=f"<{IMPU}>", call_id="c")
    assert matching_ifcs(p, IMPU, invite, INITIAL) != []


def test_deregistration_has_expires_0_and_no_body() -> None:
    ifc = Ifc(1, AS1, spts=(REGISTER_SPT,), service_info="x",
              include_register_request=True, include_register_response=True)
    [(request, _)] = build((ifc,), DE, expires=3600)
    wire = on_the_wire(request)
    assert wire.headers.get("expires") == "0"
    assert wire.body == b"" and wire.content_length == 0
    assert wire.headers.get("content-type") is None


def test_network_initiated_deregistration_without_a_register() -> None:
    ifcs = (Ifc(1, AS1, spts=(REGISTER_SPT,)),
            Ifc(2, "sip:as2.example", spts=(REGISTER_SPT, Spt(header="Contact",
                                                               header_content=r"^\*$"))),
            Ifc(3, "sip:as3.example", spts=(Spt(method="INVITE"),)))
    built = third_party_registers(None, None, profile(*ifcs), IMPU, SERVER_NAME, 0,
                                  rng().randbytes, kind=DE)
    assert [i.priority for _, i in built] == [1, 2]
    for request, _ in built:
        wire = on_the_wire(request)
        assert wire.headers.get("expires") == "0" and wire.body == b""
        assert [str(c.uri) for c in wire.contacts()] == [SERVER_NAME]
        assert wire.headers.get("p-charging-vector") is None
    # A tel: identity has no domain to address the stand-in REGISTER to: ours is used.
    [(request, _)] = third_party_registers(None, None, profile(ifcs[0]), TEL, SERVER_NAME, 0,
                                           rng().randbytes, kind=DE)
    assert str(request.to_addr.uri) == TEL and request.headers.get("expires") == "0"


def test_multipart_with_both_include_flags() -> None:
    ifc = Ifc(1, AS1, spts=(REGISTER_SPT,), service_info="svc",
              include_register_request=True, include_register_response=True)
    req = register()
    [(request, _)] = build((ifc,), req=req)
    wire = on_the_wire(request)
    parts = split_multipart(wire)
    assert [t for t, _ in parts] == [IMS_XML, MESSAGE_SIP, MESSAGE_SIP]
    assert ET.fromstring(parts[0][1]).findtext("service-info") == "svc"
    inner_req = parse_message(parts[1][1])
    assert isinstance(inner_req, Request) and inner_req.method == "REGISTER"
    assert inner_req.to_bytes() == req.to_bytes() and inner_req.call_id == "reg-1@ue"
    inner_ok = parse_message(parts[2][1])
    assert isinstance(inner_ok, Response) and inner_ok.status == 200
    assert inner_ok.headers.get("p-associated-uri") == f"<{IMPU}>, <{TEL}>"


@pytest.mark.parametrize("flags,kind", [
    ({"include_register_request": True}, Request),
    ({"include_register_response": True}, Response),
])  # fmt: skip
def test_one_part_is_the_body_itself(flags: dict[str, bool], kind: type) -> None:
    [(request, _)] = build((Ifc(1, AS1, spts=(REGISTER_SPT,), **flags),), RE)
    wire = on_the_wire(request)
    assert wire.headers.get("content-type") == MESSAGE_SIP
    assert isinstance(parse_message(wire.body), kind)


def test_no_service_info_and_no_flags_no_body() -> None:
    [(request, _)] = build((Ifc(1, AS1, spts=(REGISTER_SPT,)),))
    assert request.body == b"" and request.headers.get("content-length") == "0"
    assert request.headers.get("content-type") is None


def test_the_boundary_is_redrawn_when_a_part_contains_it() -> None:
    first = random.Random(11).randbytes  # the draws the build makes: tag, Call-ID, boundary
    first(6), first(10)
    clash = first(12).hex()
    req = build_request("REGISTER", f"sip:{DOMAIN}", vias=["SIP/2.0/UDP h;branch=z9hG4bK1"],
                        from_=f"<{IMPU}>;tag=u1", to=f"<{IMPU}>", call_id="c",
                        headers=["Content-Type: text/plain"], body=clash.encode())
    ifc = Ifc(1, AS1, spts=(REGISTER_SPT,), service_info="s", include_register_request=True)
    [(request, _)] = build((ifc,), req=req)
    ctype = request.headers.get("content-type") or ""
    assert ctype.startswith("multipart/mixed;boundary=") and clash not in ctype
    assert [t for t, _ in split_multipart(on_the_wire(request))] == [IMS_XML, MESSAGE_SIP]


def test_multipart_layout() -> None:
    body = multipart([("a/b", b"one"), ("c/d", b"two\r\n")], "XyZ")
    assert body == (b"--XyZ\r\nContent-Type: a/b\r\n\r\none\r\n"
                    b"--XyZ\r\nContent-Type: c/d\r\n\r\ntwo\r\n\r\n--XyZ--\r\n")


def test_charging_function_addresses_from_our_200_else_the_register() -> None:
    ifc = Ifc(1, AS1, spts=(REGISTER_SPT,))
    req = register(["P-Charging-Function-Addresses: ccf=from-register"])
    ok = ok_for(req)
    ok.headers.add("P-Charging-Function-Addresses", "ccf=from-ok")
    [(request, _)] = third_party_registers(req, ok, profile(ifc), IMPU, SERVER_NAME, 600,
                                           rng().randbytes, kind=INITIAL)
    assert request.headers.get_all("p-charging-function-addresses") == ["ccf=from-ok"]
    [(request, _)] = build((ifc,), req=req)
    assert request.headers.get_all("p-charging-function-addresses") == ["ccf=from-register"]


def test_to_is_a_non_barred_identity_of_the_implicit_set() -> None:
    ifc = Ifc(1, AS1, spts=(REGISTER_SPT,))
    [(request, _)] = build((ifc,), DE, expires=0, prof=profile(ifc, barred=True))
    assert str(request.to_addr.uri) == TEL
    assert build((ifc,), DE, expires=0, prof=profile(ifc, barred=True, tel_barred=True)) == []


def test_no_profile_no_register() -> None:
    req = register()
    assert third_party_registers(req, ok_for(req), None, IMPU, SERVER_NAME, 600,
                                 rng().randbytes, kind=INITIAL) == []


def test_the_proxy_core_sends_it_to_the_as_with_one_via() -> None:
    core = ScscfCore(config(), rng=random.Random(3).randbytes)
    [(request, _)] = build((Ifc(1, AS1, spts=(REGISTER_SPT,), service_info="s"),))
    got: list[int] = []
    assert core.originate(request, lambda r, now: got.append(r.status), 0.0)
    [send] = core.data_to_send()
    assert (send.dest.host, send.dest.port) == ("as1.example", 5070)
    sent = parse_request(send.data)
    assert len(sent.vias()) == 1 and sent.body == request.body


# -- failure handling -------------------------------------------------------------------------


def _answer(status: int, *, generated: bool = False) -> Response:
    response = make_response(register(), status)
    response.generated = generated
    return response


@pytest.mark.parametrize("handling,status,generated,expires,deregister", [
    (DefaultHandling.SESSION_TERMINATED, 408, True, 600, True),  # no answer
    (DefaultHandling.SESSION_TERMINATED, 503, True, 600, True),  # transport failure
    (DefaultHandling.SESSION_TERMINATED, 500, False, 600, True),
    (DefaultHandling.SESSION_TERMINATED, 200, False, 600, False),
    (DefaultHandling.SESSION_TERMINATED, 403, False, 600, False),  # answered, not failed
    (DefaultHandling.SESSION_TERMINATED, 408, True, 0, False),  # a de-registration
    (DefaultHandling.SESSION_CONTINUED, 408, True, 600, False),
    (DefaultHandling.SESSION_CONTINUED, 500, False, 600, False),
])  # fmt: skip
def test_default_handling_decides_a_failure(handling: DefaultHandling, status: int,
                                            generated: bool, expires: int,
                                            deregister: bool) -> None:
    ifc = Ifc(1, AS1, default_handling=handling, spts=(REGISTER_SPT,))
    assert on_failure(ifc) is (handling == DefaultHandling.SESSION_TERMINATED)
    assert must_deregister(ifc, _answer(status, generated=generated), expires) is deregister


def test_requests_are_new_each_time() -> None:
    ifc = Ifc(1, AS1, spts=(REGISTER_SPT,))
    draw = itertools.count()

    def seq(n: int) -> bytes:  # a counting rng: each draw differs from the last
        return bytes([next(draw) % 256]) * n

    req = register()
    a = third_party_registers(req, None, profile(ifc), IMPU, SERVER_NAME, 600, seq,
                              kind=INITIAL)
    b = third_party_registers(req, None, profile(ifc), IMPU, SERVER_NAME, 600, seq,
                              kind=RE)
    assert a[0][0].call_id != b[0][0].call_id and a[0][0].from_tag != b[0][0].from_tag
