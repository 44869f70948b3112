"""Calls through the S-CSCF (TS 24.229 §5.4.3.2 originating, §5.4.3.3 terminating): the
served user, iFCs towards an AS and back, DefaultHandling, Record-Route per leg, forking
through the stored Path, MESSAGE without Record-Route."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from hss.provision import demo_subscribers
from ims_core.proxy import Send
from ims_core.sip import Request, Response, parse_message
from ims_core.sip.addressing import Source
from ims_core.userdata import Ifc, Spt
from tests.sipmsg import answer, build_request

from .helpers import DOMAIN, ICSCF, IMPU, MSISDN, Harness, Ue

PCSCF = ("127.0.0.1", 5060)
AS = ("127.0.0.20", 5080)
AS_URI = f"sip:{AS[0]}:{AS[1]}"
CALLEE_IMPU = f"sip:001010000000002@{DOMAIN}"
ORIG_ROUTE = "<sip:orig@127.0.0.3:5060;lr>"
RR_ORIG = "<sip:127.0.0.3:5060;lr;ims-leg=orig>"
RR_TERM = "<sip:127.0.0.3:5060;lr;ims-leg=term>"
_n = itertools.count(1)


def subscribers(ifcs: tuple[Ifc, ...] = ()) -> list:  # type: ignore[type-arg]
    subs = list(demo_subscribers(2, DOMAIN))
    return [dataclasses.replace(s, ifcs=ifcs) for s in subs]


def harness(tmp_path: Path, ifcs: tuple[Ifc, ...] = ()) -> Harness:
    return Harness(tmp_path, subscribers(ifcs))


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness_ = harness(tmp_path)
    yield harness_
    harness_.close()


def request(method: str, uri: str, *, route: str | None = ORIG_ROUTE, pai: str | None = IMPU,
            via: tuple[str, int] = PCSCF, extra: str = "", call_id: str = "c1@ue") -> Request:
    headers = ["Contact: <sip:ue1@192.0.2.50:5060>"]
    if route:
        headers.append(f"Route: {route}")
    if pai:
        headers.append(f"P-Asserted-Identity: <{pai}>")
    return build_request(
        method, uri, vias=[f"SIP/2.0/UDP {via[0]}:{via[1]};branch=z9hG4bKx{next(_n)}",
                           "SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKue"],
        max_forwards=68, from_=f"<{IMPU}>;tag=a1", to=f"<{uri}>", call_id=call_id,
        headers=headers, extra=extra)


def rx(h: Harness, msg: Request, src: tuple[str, int] = PCSCF) -> list[Send]:
    h.core.receive(msg, Source("UDP", *src, None, None), h.now)
    return h._pump()


def split(sends: list[Send]) -> tuple[list[tuple[Request, tuple[str, int]]], list[Response]]:
    reqs, resps = [], []
    for s in sends:
        m = parse_message(s.data)
        if isinstance(m, Request):
            reqs.append((m, (s.dest.host, s.dest.port)))
        elif m.status != 100:
            resps.append(m)
    return reqs, resps


def reply(h: Harness, fwd: Request, status: int, src: tuple[str, int]) -> list[Send]:
    """A response to *fwd* from the next hop at *src*."""
    h.core.receive(answer(fwd, status, to_tag="b1"), Source("UDP", *src, None, None), h.now)
    return h._pump()


def as_returns(fwd: Request) -> Request:
    """The AS (acting as a proxy) sends the request back along the Route set."""
    back = fwd.copy()
    back.headers.pop_first_value("route")  # its own entry
    back.push_via(f"SIP/2.0/UDP {AS[0]}:{AS[1]};branch=z9hG4bKas{next(_n)}")
    return back


def invite_ifc(priority: int = 0, default_handling: int = 0, case: int = 0,
               server: str = AS_URI) -> Ifc:
    return Ifc(priority=priority, server_name=server, default_handling=default_handling,
               spts=(Spt(method="INVITE"), Spt(session_case=case, groups=(1,))))


# -- originating -------------------------------------------------------------------------


def test_originating_invite_is_record_routed_to_the_icscf(h: Harness) -> None:
    Ue().register_fully(h)
    [(fwd, dest)], [] = split(rx(h, request("INVITE", CALLEE_IMPU)))
    assert dest == ICSCF
    assert fwd.uri_text == CALLEE_IMPU
    assert fwd.headers.values("record-route") == [RR_ORIG]
    assert "route" not in fwd.headers  # the orig Route was ours
    assert fwd.max_forwards == 67


@pytest.mark.parametrize("uri", [f"tel:+{MSISDN}", f"sip:+{MSISDN}@{DOMAIN};user=phone"])
def test_originating_to_a_number_goes_to_the_icscf(h: Harness, uri: str) -> None:
    Ue().register_fully(h)
    [(fwd, dest)], _ = split(rx(h, request("INVITE", uri)))
    assert dest == ICSCF and fwd.uri_text == uri


def test_originating_from_an_unregistered_user_is_403(h: Harness) -> None:
    _, [r] = split(rx(h, request("INVITE", CALLEE_IMPU)))
    assert r.status == 403


def test_originating_without_asserted_identity_is_403(h: Harness) -> None:
    Ue().register_fully(h)
    _, [r] = split(rx(h, request("INVITE", CALLEE_IMPU, pai=None)))
    assert r.status == 403


def test_originating_marked_by_ims_leg_param(h: Harness) -> None:
    Ue().register_fully(h)
    msg = request("INVITE", CALLEE_IMPU, route="<sip:127.0.0.3:5060;lr;ims-leg=orig>")
    [(_, dest)], _ = split(rx(h, msg))
    assert dest == ICSCF


def test_originating_to_a_foreign_domain_is_404_without_static_route(h: Harness) -> None:
    Ue().register_fully(h)
    _, [r] = split(rx(h, request("INVITE", "sip:bob@example.org")))
    assert r.status == 404


def test_originating_to_a_foreign_domain_uses_a_static_route(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.core.cfg = dataclasses.replace(h.core.cfg, static_routes={"Example.org": "127.0.0.9:5070"})
    Ue().register_fully(h)
    [(_, dest)], _ = split(rx(h, request("INVITE", "sip:bob@example.org")))
    assert dest == ("127.0.0.9", 5070)
    h.close()


def test_originating_message_is_not_record_routed(h: Harness) -> None:
    Ue().register_fully(h)
    [(fwd, dest)], _ = split(rx(h, request("MESSAGE", CALLEE_IMPU)))
    assert dest == ICSCF and "record-route" not in fwd.headers


# -- originating iFCs --------------------------------------------------------------------


def test_originating_ifc_sends_to_the_as_and_continues_when_it_comes_back(
        tmp_path: Path) -> None:
    h = harness(tmp_path, (invite_ifc(),))
    Ue().register_fully(h)
    [(to_as, dest)], _ = split(rx(h, request("INVITE", CALLEE_IMPU)))
    assert dest == AS
    assert to_as.headers.values("route") == [
        f"<{AS_URI};lr>", "<sip:127.0.0.3:5060;lr;ims-leg=orig;ifc=0>"]
    assert to_as.headers.values("record-route") == [RR_ORIG]
    [(onward, dest)], _ = split(rx(h, as_returns(to_as), AS))
    assert dest == ICSCF
    assert "route" not in onward.headers
    assert onward.headers.values("record-route") == [RR_ORIG]  # once per leg
    h.close()


def test_ifc_for_another_method_does_not_trigger(tmp_path: Path) -> None:
    h = harness(tmp_path, (invite_ifc(),))
    Ue().register_fully(h)
    [(_, dest)], _ = split(rx(h, request("MESSAGE", CALLEE_IMPU)))
    assert dest == ICSCF
    h.close()


def test_two_ifcs_are_visited_in_priority_order(tmp_path: Path) -> None:
    as2 = "sip:127.0.0.21:5080"
    h = harness(tmp_path, (invite_ifc(priority=5, server=as2), invite_ifc(priority=1)))
    Ue().register_fully(h)
    [(first, dest)], _ = split(rx(h, request("INVITE", CALLEE_IMPU)))
    assert dest == AS
    [(second, dest)], _ = split(rx(h, as_returns(first), AS))
    assert dest == ("127.0.0.21", 5080)
    assert second.headers.values("route")[1] == "<sip:127.0.0.3:5060;lr;ims-leg=orig;ifc=1>"
    [(_, dest)], _ = split(rx(h, as_returns(second), ("127.0.0.21", 5080)))
    assert dest == ICSCF
    h.close()


@pytest.mark.parametrize("status", [500, 503, 408])
def test_as_failure_with_session_continued_goes_on(tmp_path: Path, status: int) -> None:
    h = harness(tmp_path, (invite_ifc(default_handling=0),))
    Ue().register_fully(h)
    [(to_as, _)], _ = split(rx(h, request("INVITE", CALLEE_IMPU)))
    reqs, resps = split(reply(h, to_as, status, AS))
    assert resps == []
    [(onward, dest)] = [(r, d) for r, d in reqs if r.method == "INVITE"]
    assert dest == ICSCF
    assert onward.headers.values("record-route") == [RR_ORIG]
    h.close()


def test_as_failure_with_session_terminated_relays_the_failure(tmp_path: Path) -> None:
    h = harness(tmp_path, (invite_ifc(default_handling=1),))
    Ue().register_fully(h)
    [(to_as, _)], _ = split(rx(h, request("INVITE", CALLEE_IMPU)))
    reqs, [r] = split(reply(h, to_as, 408, AS))
    assert r.status == 408
    assert [q for q, _ in reqs if q.method == "INVITE"] == []


def test_unanswered_as_with_session_continued_goes_on(tmp_path: Path) -> None:
    h = harness(tmp_path, (invite_ifc(default_handling=0),))
    Ue().register_fully(h)
    split(rx(h, request("INVITE", CALLEE_IMPU)))
    sends: list[Send] = []
    for _ in range(80):  # INVITE Timer B = 64*T1 = 32 s (no provisional response)
        sends += h.tick(0.5)
    reqs, resps = split(sends)
    assert resps == []
    assert ICSCF in [d for r, d in reqs if r.method == "INVITE"]
    h.close()


def test_as_success_is_relayed(tmp_path: Path) -> None:
    h = harness(tmp_path, (invite_ifc(),))
    Ue().register_fully(h)
    [(to_as, _)], _ = split(rx(h, request("INVITE", CALLEE_IMPU)))
    _, [r] = split(reply(h, to_as, 486, AS))  # a real answer, not a failure
    assert r.status == 486
    h.close()


# -- terminating -------------------------------------------------------------------------


def term_invite(uri: str = IMPU, method: str = "INVITE") -> Request:
    return request(method, uri, route=None, via=ICSCF)


def test_terminating_invite_forks_to_every_contact_through_the_path(h: Harness) -> None:
    ue = Ue()
    ue.register_fully(h)
    ue2 = Ue(contact="sip:ue1b@192.0.2.51:5060", call_id="reg-2@ue")
    ue2.register_fully(h)
    reqs, resps = split(rx(h, term_invite(), ICSCF))
    assert resps == []
    assert sorted(r.uri_text for r, _ in reqs) == sorted([ue.contact, ue2.contact])
    for fwd, dest in reqs:
        assert dest == PCSCF
        assert fwd.headers.values("route") == ["<sip:term@127.0.0.1:5060;lr>"]
        assert fwd.headers.values("record-route") == [RR_TERM]
    branches = {r.top_via().branch for r, _ in reqs}
    assert len(branches) == 2


def test_terminating_all_branches_fail_is_480(h: Harness) -> None:
    Ue().register_fully(h)
    Ue(contact="sip:ue1b@192.0.2.51:5060", call_id="reg-2@ue").register_fully(h)
    reqs, _ = split(rx(h, term_invite(), ICSCF))
    resps: list[Response] = []
    for fwd, _ in reqs:
        resps += split(reply(h, fwd, 480, PCSCF))[1]
    assert [r.status for r in resps] == [480]


def test_terminating_to_an_unregistered_user_is_480(h: Harness) -> None:
    _, [r] = split(rx(h, term_invite(), ICSCF))
    assert r.status == 480


def test_terminating_by_tel_uri_finds_the_implicit_set(h: Harness) -> None:
    ue = Ue()
    ue.register_fully(h)
    [(fwd, _)], _ = split(rx(h, term_invite(f"tel:+{MSISDN}"), ICSCF))
    assert fwd.uri_text == ue.contact


def test_terminating_message_is_not_record_routed(h: Harness) -> None:
    Ue().register_fully(h)
    [(fwd, dest)], _ = split(rx(h, term_invite(method="MESSAGE"), ICSCF))
    assert dest == PCSCF and "record-route" not in fwd.headers


def test_terminating_ifc_goes_to_the_as_and_then_to_the_contact(tmp_path: Path) -> None:
    h = harness(tmp_path, (invite_ifc(case=1),))
    ue = Ue()
    ue.register_fully(h)
    [(to_as, dest)], _ = split(rx(h, term_invite(), ICSCF))
    assert dest == AS
    assert to_as.headers.values("route")[1] == "<sip:127.0.0.3:5060;lr;ims-leg=term;ifc=0>"
    assert to_as.headers.values("record-route") == [RR_TERM]
    [(fwd, dest)], _ = split(rx(h, as_returns(to_as), AS))
    assert dest == PCSCF and fwd.uri_text == ue.contact
    assert fwd.headers.values("record-route") == [RR_TERM]
    h.close()


@pytest.mark.parametrize("case", [
    pytest.param(0, id="originating"),
    pytest.param(2, id="terminating-unregistered"),  # only for a user not registered
])
def test_ifcs_of_other_session_cases_do_not_fire_for_a_registered_callee(
        tmp_path: Path, case: int) -> None:
    h = harness(tmp_path, (invite_ifc(case=case),))
    ue = Ue()
    ue.register_fully(h)
    [(fwd, dest)], _ = split(rx(h, term_invite(), ICSCF))
    assert dest == PCSCF and fwd.uri_text == ue.contact
    h.close()


# -- in-dialog ---------------------------------------------------------------------------


def test_in_dialog_bye_follows_the_route_set(h: Harness) -> None:
    msg = request("BYE", "sip:ue2@192.0.2.60:5060", route=None, via=PCSCF)
    msg.headers.set("To", f"<{CALLEE_IMPU}>;tag=b1")
    msg.headers.add("Route", RR_ORIG)
    msg.headers.add("Route", "<sip:127.0.0.2:5060;lr>")
    [(fwd, dest)], _ = split(rx(h, msg))
    assert dest == ICSCF
    assert "record-route" not in fwd.headers
    assert fwd.headers.values("route") == ["<sip:127.0.0.2:5060;lr>"]


# -- terminating, unregistered -----------------------------------------------------------


def test_unregistered_user_gets_a_sar_and_480_without_unregistered_services(
        h: Harness) -> None:
    _, [r] = split(rx(h, term_invite(), ICSCF))
    assert r.status == 480
    [sar] = [m for m in h.hss.requests if m.name == "SAR"]
    assert int(sar.get("Server-Assignment-Type")) == 3  # UNREGISTERED_USER
    assert sar.get("User-Name") is None
    assert sar.get("Public-Identity") == IMPU


def test_unregistered_user_with_a_session_case_2_ifc_goes_to_the_as(tmp_path: Path) -> None:
    h = harness(tmp_path, (invite_ifc(case=2),))
    [(to_as, dest)], _ = split(rx(h, term_invite(), ICSCF))
    assert dest == AS
    assert to_as.headers.values("route")[1] == "<sip:127.0.0.3:5060;lr;ims-leg=term;ifc=0>"
    assert to_as.headers.values("record-route") == [RR_TERM]
    _, [r] = split(rx(h, as_returns(to_as), AS))  # no further iFC, still not registered
    assert r.status == 480
    h.close()


def test_unregistered_user_when_the_hss_is_down_is_480(h: Harness) -> None:
    h.hss.down = True
    _, [r] = split(rx(h, term_invite(), ICSCF))
    assert r.status == 480
