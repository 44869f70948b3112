"""The iFC matcher (TS 29.228 Annex B.2.2 / Annex C / Annex F): SPT kinds, negation,
CNF and DNF over groups, session cases, priority order and resuming after an AS."""

from __future__ import annotations

import pytest

from ims_core.scscf.ifc import next_match, spt_matches, trigger_matches
from ims_core.sip import Request
from ims_core.userdata import Ifc, SessionCase, Spt
from tests.sipmsg import build_request

SDP = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" \
      "m=audio 4000 RTP/AVP 0\r\n"


def req(method: str = "INVITE", uri: str = "sip:bob@ims.example", extra: str = "",
        body: str = "") -> Request:
    return build_request(
        method, uri, vias=["SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1"],
        from_="<sip:alice@ims.example>;tag=1", to="<sip:bob@ims.example>", call_id="x",
        headers=["Content-Type: application/sdp"] if body else [], extra=extra,
        body=body.encode())


def ifc(*spts: Spt, cnf: bool = True, priority: int = 0,
        server: str = "sip:as.example") -> Ifc:
    return Ifc(priority, server, condition_type_cnf=cnf, spts=spts)


def test_method_is_case_insensitive() -> None:
    assert spt_matches(Spt(method="invite"), req(), 0)
    assert not spt_matches(Spt(method="MESSAGE"), req(), 0)


def test_negation_inverts() -> None:
    assert spt_matches(Spt(method="MESSAGE", negated=True), req(), 0)
    assert not spt_matches(Spt(method="INVITE", negated=True), req(), 0)


def test_request_uri_is_a_regex() -> None:
    assert spt_matches(Spt(request_uri=r"^sip:bob@"), req(), 0)
    assert not spt_matches(Spt(request_uri=r"^tel:"), req(), 0)
    assert spt_matches(Spt(request_uri=r"^tel:\+1555"), req(uri="tel:+15551234"), 0)


def test_sip_header_presence_and_content_regex() -> None:
    icsi = "urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel"
    r = req(extra=f'Accept-Contact: *;+g.3gpp.icsi-ref="{icsi}"\r\n')
    assert spt_matches(Spt(header="Accept-Contact"), r, 0)
    assert spt_matches(Spt(header="accept-contact", header_content=r"mmtel"), r, 0)
    assert not spt_matches(Spt(header="Accept-Contact", header_content=r"^video"), r, 0)
    assert not spt_matches(Spt(header="P-Preferred-Service"), r, 0)
    assert spt_matches(Spt(header="P-Preferred-Service", negated=True), r, 0)


def test_sip_header_compact_form_is_found() -> None:
    r = req(extra="k: 100rel\r\n")  # Supported, compact
    assert spt_matches(Spt(header="Supported", header_content="100rel"), r, 0)


def test_bad_regex_never_matches() -> None:
    assert not spt_matches(Spt(request_uri="(unclosed"), req(), 0)
    assert spt_matches(Spt(request_uri="(unclosed", negated=True), req(), 0)


@pytest.mark.parametrize("case", list(SessionCase))
def test_session_case(case: SessionCase) -> None:
    spt = Spt(session_case=case)
    assert spt_matches(spt, req(), case)
    assert not spt_matches(spt, req(), (case + 1) % 4)


def test_session_description_line() -> None:
    r = req(body=SDP)
    assert spt_matches(Spt(sdp_line="m", sdp_content="^audio"), r, 0)
    assert not spt_matches(Spt(sdp_line="m", sdp_content="^video"), r, 0)
    assert spt_matches(Spt(sdp_line="m"), r, 0)  # any m= line
    assert not spt_matches(Spt(sdp_line="m"), req(), 0)


def test_cnf_ors_within_a_group_and_ands_across() -> None:
    # (INVITE or MESSAGE) and (originating)
    f = ifc(Spt(method="INVITE"), Spt(method="MESSAGE"), Spt(session_case=0, groups=(1,)))
    assert trigger_matches(f, req("INVITE"), 0)
    assert trigger_matches(f, req("MESSAGE"), 0)
    assert not trigger_matches(f, req("INVITE"), 1)
    assert not trigger_matches(f, req("OPTIONS"), 0)


def test_dnf_ands_within_a_group_and_ors_across() -> None:
    # (INVITE and originating) or (MESSAGE and terminating)
    f = ifc(Spt(method="INVITE"), Spt(session_case=0),
            Spt(method="MESSAGE", groups=(1,)), Spt(session_case=1, groups=(1,)), cnf=False)
    assert trigger_matches(f, req("INVITE"), 0)
    assert trigger_matches(f, req("MESSAGE"), 1)
    assert not trigger_matches(f, req("INVITE"), 1)
    assert not trigger_matches(f, req("MESSAGE"), 0)


def test_an_spt_in_several_groups() -> None:
    # CNF: (INVITE or MESSAGE) and (INVITE or tel URI) -- INVITE sits in both groups
    f = ifc(Spt(method="INVITE", groups=(0, 1)), Spt(method="MESSAGE"),
            Spt(request_uri="^tel:", groups=(1,)))
    assert trigger_matches(f, req("INVITE"), 0)
    assert not trigger_matches(f, req("MESSAGE"), 0)
    assert trigger_matches(f, req("MESSAGE", uri="tel:+1555"), 0)


def test_negated_spt_inside_cnf() -> None:
    # INVITE and not (a Request-URI in the emergency range)
    f = ifc(Spt(method="INVITE"), Spt(request_uri="sos", groups=(1,), negated=True))
    assert trigger_matches(f, req(), 0)
    assert not trigger_matches(f, req(uri="urn:service:sos"), 0)


def test_no_trigger_point_always_matches() -> None:
    assert trigger_matches(ifc(), req("OPTIONS"), 3)


def test_next_match_in_order_and_resuming_after_an_index() -> None:
    ifcs = (ifc(Spt(method="INVITE"), server="sip:a.example"),
            ifc(Spt(method="MESSAGE"), server="sip:b.example"),
            ifc(Spt(method="INVITE"), server="sip:c.example"))
    found = next_match(ifcs, req(), 0)
    assert found is not None and found[0] == 0 and found[1].server_name == "sip:a.example"
    found = next_match(ifcs, req(), 0, start=1)
    assert found is not None and found[0] == 2
    assert next_match(ifcs, req(), 0, start=3) is None
    assert next_match(ifcs, req("BYE"), 0) is None
