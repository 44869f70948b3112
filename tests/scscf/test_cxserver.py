"""The S-CSCF's answers to RTR and PPR (ims_core.scscf.cxserver), driven without sockets.

The first part puts registrations straight into a real core's store and records what
``answer`` asks of it (the core's own actions still run). The second goes end to end on
the harness: a UE registered over the real HSS handlers, subscribed to its reg event,
then the HSS's own RTR and PPR (``hss.cx.rtr``/``hss.cx.ppr``) through the wire, and the
answers back into the HSS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hss import userdata as hss_userdata
from hss.cx import ppr as hss_ppr
from hss.cx import rtr as hss_rtr
from hss.cx.common import Outcome
from hss.model import PushState, RegState
from ims_core.diameter import (
    FLAG_E,
    VENDOR_3GPP,
    CxResult,
    Message,
    ResultCode,
    decode,
    make_request,
)
from ims_core.scscf import ScscfCore
from ims_core.scscf.cx import AssignmentType
from ims_core.scscf.cxserver import EVENT_FOR_REASON, answer
from ims_core.scscf.store import Binding, Registration
from ims_core.userdata import Profile, PublicIdentity, ServiceProfile, build
from ims_core.userdata import parse as parse_user_data

from .helpers import DOMAIN, IMPI, IMPU, IMSI, config
from .regevent_peers import RegHarness, Watcher, body, pcscf, registered, state_of
from .test_calls import request as orig_request

SCSCF = f"scscf.{DOMAIN}"
HSS = f"hss.{DOMAIN}"
TEL = "tel:+15550001"
WORK = f"sip:alice.work@{DOMAIN}"
IMPI2 = f"tablet@{DOMAIN}"
IMPU2 = f"sip:tablet@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
NOW = 1000.0


class Recording(ScscfCore):
    """The real core, remembering what the answers asked of it; ``fail`` makes its
    actions raise (a bug or a broken store)."""

    def __init__(self) -> None:
        super().__init__(config())
        self.fail = False
        self.deregistered: list[tuple[Registration, str, AssignmentType | None]] = []
        self.updated: list[tuple[Registration, Profile]] = []

    def network_deregister(self, reg: Registration, now: float, *, event: str = "deactivated",
                           sar: AssignmentType | None = None) -> None:
        if self.fail:
            raise RuntimeError("store down")
        self.deregistered.append((reg, event, sar))
        super().network_deregister(reg, now, event=event, sar=sar)

    def update_profile(self, reg: Registration, profile: Profile, now: float) -> None:
        if self.fail:
            raise RuntimeError("store down")
        self.updated.append((reg, profile))
        super().update_profile(reg, profile, now)


def registration(impu: str, impi: str, *more: str, users: tuple[str, ...] = ()) -> Registration:
    """A registration with one contact per IMPI in *users* (default: *impi*'s)."""
    reg = Registration(impu, impi, (impu, *more))
    for n, who in enumerate(users or (impi,), 1):
        uri = f"sip:ue{n}@192.0.2.{n}:5060"
        reg.bindings[uri] = Binding(uri=uri, expires_at=NOW + 600, impi=who,
                                    call_id=f"reg-{n}", cseq=1)
    return reg


def core_with(*regs: Registration) -> Recording:
    core = Recording()
    for reg in regs:
        core.store.save(reg)
    return core


def ask(core: ScscfCore, request: Message) -> Message:
    """*request* answered, checked for what every answer carries, through the wire."""
    ans = answer(core, request, NOW)
    assert not ans.is_request and ans.command_code == request.command_code
    assert ans.session_id == request.session_id
    assert ans.origin_host == SCSCF and ans.origin_realm == DOMAIN
    wire = decode(ans.encode())  # a peer can read it (TS 29.229 §6.1.10, §6.1.12)
    if not ans.is_error:
        assert wire.get("Auth-Session-State") == 1  # NO_STATE_MAINTAINED, echoed
        assert wire.get_grouped("Vendor-Specific-Application-Id") is not None
    assert core.queries_to_send() == []  # nothing goes back to the HSS: it asked
    return wire


def request(command: str, avps: list[tuple[str, Any]]) -> Message:
    """A request as the HSS builds it (not through the decoder, which would refuse the
    ones missing an AVP before the S-CSCF saw them)."""
    return make_request(command, origin_host=HSS, origin_realm=DOMAIN, destination_host=SCSCF,
                        destination_realm=DOMAIN, avps=avps)


def rtr(*public: str, impi: str | None = IMPI, reason: object = "PERMANENT_TERMINATION",
        associated: tuple[str, ...] = ()) -> Message:
    avps: list[tuple[str, Any]] = []
    if impi is not None:
        avps.append(("User-Name", impi))
    if associated:
        avps.append(("Associated-Identities", {"User-Name": list(associated)}))
    avps += [("Public-Identity", p) for p in public]
    if reason is not None:
        avps.append(("Deregistration-Reason", {"Reason-Code": reason, "Reason-Info": "test"}))
    return request("RTR", avps)


def profile_xml(*impus: str) -> bytes:
    ids = tuple(PublicIdentity(i) for i in (impus or (IMPU, TEL)))
    return build(Profile(IMPI, (ServiceProfile(ids),)))


def ppr(user_data: bytes | None = None, *, impi: str = IMPI, charging: bool = False) -> Message:
    avps: list[tuple[str, Any]] = [("User-Name", impi)]
    if user_data is not None:
        avps.append(("User-Data", user_data))
    if charging:
        avps.append(("Charging-Information",
                     {"Primary-Charging-Collection-Function-Name": "aaa://ccf.ims.example"}))
    return request("PPR", avps)


def failed_avp_code(ans: Message) -> int:
    failed = ans.get_grouped("Failed-AVP")
    assert failed is not None and len(failed.avps) == 1
    return failed.avps[0].code


def user_unknown(ans: Message) -> bool:
    return ans.result_code is None and ans.experimental_result == (
        VENDOR_3GPP, CxResult.ERROR_USER_UNKNOWN)


# -- RTR ----------------------------------------------------------------------------------
def test_rtr_impi_only_deregisters_every_registration_of_the_impi() -> None:
    a, b, other = registration(IMPU, IMPI, TEL), registration(WORK, IMPI), registration(
        IMPU2, IMPI2)
    core = core_with(a, b, other)
    ans = ask(core, rtr())
    assert ans.name == "RTA" and ans.result_code == ResultCode.SUCCESS
    assert ans.experimental_result is None and "Associated-Identities" not in ans
    assert [(r.impu, e, s) for r, e, s in core.deregistered] == [(IMPU, "rejected", None),
                                                                 (WORK, "rejected", None)]
    assert core.store.by_impi(IMPI) == [] and core.store.get(TEL) is None
    assert core.store.get(IMPU2) is other


def test_rtr_impu_list_deregisters_only_the_registrations_holding_them() -> None:
    a, b = registration(IMPU, IMPI, TEL), registration(WORK, IMPI)
    core = core_with(a, b)
    # Compared as public identities: visual separators, host case, URI parameters.
    ans = ask(core, rtr("tel:+1-555-0001", reason="NEW_SERVER_ASSIGNED"))
    assert ans.result_code == ResultCode.SUCCESS
    assert core.deregistered == [(a, "deactivated", None)]
    assert core.store.by_impi(IMPI) == [b]
    ans = ask(core, rtr(f"sip:alice.work@{DOMAIN.upper()};user=phone"))
    assert ans.result_code == ResultCode.SUCCESS and core.store.by_impi(IMPI) == []


@pytest.mark.parametrize(("reason", "event"), [
    ("PERMANENT_TERMINATION", "rejected"), ("NEW_SERVER_ASSIGNED", "deactivated"),
    ("SERVER_CHANGE", "deactivated"), ("REMOVE_S-CSCF", "deactivated")])
def test_rtr_reason_code_picks_the_reg_event(reason: str, event: str) -> None:
    core = core_with(registration(IMPU, IMPI))
    assert ask(core, rtr(reason=reason)).result_code == ResultCode.SUCCESS
    assert [e for _, e, _ in core.deregistered] == [event]
    assert set(EVENT_FOR_REASON) == {0, 1, 2, 3}


def test_rtr_associated_identities_both_ways() -> None:
    mine, tablet = registration(IMPU, IMPI), registration(IMPU2, IMPI2)
    # A shared implicit set: another IMPI's contact goes with it.
    shared = registration(f"sip:family@{DOMAIN}", IMPI, users=(IMPI, BOB))
    core = core_with(mine, tablet, shared)
    ans = ask(core, rtr(associated=(IMPI2,)))
    assert ans.result_code == ResultCode.SUCCESS
    assert {r.impu for r, _, _ in core.deregistered} == {IMPU, IMPU2, shared.impu}
    assoc = ans.get_grouped("Associated-Identities")
    assert assoc is not None and assoc.get_all("User-Name") == [BOB]


@pytest.mark.parametrize(("impi", "public"), [
    (f"nobody@{DOMAIN}", ()),  # nothing registered for the IMPI
    (IMPI, (f"sip:nobody@{DOMAIN}",)),  # the IMPU is not registered
    (IMPI, (IMPU2,)),  # registered, by another IMPI
])
def test_rtr_for_nothing_registered_is_user_unknown(impi: str, public: tuple[str, ...]) -> None:
    core = core_with(registration(IMPU, IMPI), registration(IMPU2, IMPI2))
    assert user_unknown(ask(core, rtr(*public, impi=impi)))
    assert core.deregistered == []


@pytest.mark.parametrize(("missing", "code"), [("User-Name", 1), ("Deregistration-Reason", 615)])
def test_rtr_missing_avp_is_5005_with_failed_avp(missing: str, code: int) -> None:
    core = core_with(registration(IMPU, IMPI))
    ans = ask(core, rtr(impi=None) if missing == "User-Name" else rtr(reason=None))
    assert ans.result_code == ResultCode.MISSING_AVP and not ans.is_error
    assert failed_avp_code(ans) == code
    assert core.deregistered == []


def test_rtr_bad_values_are_5004() -> None:
    core = core_with(registration(IMPU, IMPI))
    ans = ask(core, rtr(reason=9))
    assert ans.result_code == ResultCode.INVALID_AVP_VALUE and failed_avp_code(ans) == 616
    ans = ask(core, rtr("not a uri"))
    assert ans.result_code == ResultCode.INVALID_AVP_VALUE and failed_avp_code(ans) == 601
    assert core.deregistered == []


def test_a_failing_core_gets_unable_to_comply_not_an_exception() -> None:
    core = core_with(registration(IMPU, IMPI))
    core.fail = True
    assert ask(core, rtr()).result_code == ResultCode.UNABLE_TO_COMPLY
    assert ask(core, ppr(profile_xml())).result_code == ResultCode.UNABLE_TO_COMPLY


def test_other_commands_are_unsupported() -> None:
    core = core_with(registration(IMPU, IMPI))
    uar = request("UAR", [("User-Name", IMPI), ("Public-Identity", IMPU),
                          ("Visited-Network-Identifier", DOMAIN.encode())])
    ans = ask(core, uar)
    assert ans.result_code == ResultCode.COMMAND_UNSUPPORTED and ans.flags & FLAG_E


# -- PPR ----------------------------------------------------------------------------------
def test_ppr_replaces_the_profile_of_each_registration() -> None:
    a, other = registration(IMPU, IMPI, TEL), registration(IMPU2, IMPI2)
    core = core_with(a, other)
    new = f"sip:alice.new@{DOMAIN}"
    ans = ask(core, ppr(profile_xml(IMPU, TEL, new)))
    assert ans.name == "PPA" and ans.result_code == ResultCode.SUCCESS
    [(reg, profile)] = core.updated
    assert reg is a and profile.private_id == IMPI
    assert [p.key for p in profile.identities] == [IMPU, TEL, new]
    assert core.store.get(new) is a  # the core took it: routable under the new identity
    assert core.deregistered == []


@pytest.mark.parametrize("data", [
    b"<IMSSubscription><PrivateID>x", b"<Other/>", b"\xff\xfe",
    b'<!DOCTYPE x [<!ENTITY a "b">]><IMSSubscription/>'])
def test_ppr_unreadable_user_data_is_not_supported_user_data(data: bytes) -> None:
    core = core_with(registration(IMPU, IMPI))
    ans = ask(core, ppr(data))
    assert ans.result_code is None
    assert ans.experimental_result == (VENDOR_3GPP, CxResult.ERROR_NOT_SUPPORTED_USER_DATA)
    assert core.updated == []


def test_ppr_for_an_unknown_user_is_user_unknown() -> None:
    core = core_with(registration(IMPU2, IMPI2))
    assert user_unknown(ask(core, ppr(profile_xml())))
    assert core.updated == []


def test_ppr_with_charging_information_only_changes_nothing() -> None:
    core = core_with(registration(IMPU, IMPI))
    ans = ask(core, ppr(charging=True))
    assert ans.result_code == ResultCode.SUCCESS
    assert core.updated == [] and core.deregistered == []


def test_ppr_missing_user_name_is_5005() -> None:
    core = core_with(registration(IMPU, IMPI))
    req = ppr(profile_xml())
    req.remove("User-Name")
    ans = ask(core, req)
    assert ans.result_code == ResultCode.MISSING_AVP and failed_avp_code(ans) == 1
    assert core.updated == []


# -- end to end with the HSS's own requests -----------------------------------------------
@pytest.fixture
def h(tmp_path: Path) -> Iterator[RegHarness]:
    yield from registered(tmp_path)


def from_hss(h: RegHarness, msg: Message) -> Message:
    """*msg* through the wire to the core, its answer back through the wire."""
    ans = h.core.handle_cx_request(decode(msg.encode()), h.now)
    return decode(ans.encode())


def test_hss_rtr_ends_registration_and_subscriptions(h: RegHarness) -> None:
    ue, proxy = Watcher(), pcscf()
    ue.join(h)
    proxy.join(h)
    sars = len(h.hss.sar_types())
    ctx, store = h.hss.ctx, h.hss.store
    sub = store.get(IMSI)
    assert sub is not None and sub.scscf_host == SCSCF  # recorded at SAR time
    push = hss_rtr.new_push(sub, hss_rtr.ReasonCode.PERMANENT_TERMINATION, "contract ended")
    assert push is not None
    push = dataclasses.replace(push, id=store.queue_push(push, h.now), state=PushState.SENT)
    ans = from_hss(h, hss_rtr.build(push, ctx))
    assert ans.name == "RTA" and ans.result_code == ResultCode.SUCCESS
    # TS 24.229 §5.4.1.5: each subscriber hears the end, "rejected": do not come back.
    sent = h.notifies()
    assert {str(n.uri) for n, _ in sent} == {ue.contact, proxy.contact}
    for notify, _ in sent:
        assert state_of(notify).startswith("terminated")
        doc = body(notify)
        assert all(r.state == "terminated" for r in doc.registrations)
        assert {(c.state, c.event) for r in doc.registrations for c in r.contacts} == {
            ("terminated", "rejected")}
        h.reply(notify, 200)
    assert h.core.store.get(IMPU) is None and h.subscription_count() == 0
    assert len(h.hss.sar_types()) == sars  # no SAR back
    # The HSS takes the RTA: the subscription is no longer registered anywhere.
    assert hss_rtr.accepted(Outcome.of(ans))
    hss_rtr.on_answer(push, ans, ctx, h.now)
    after = store.get(IMSI)
    assert after is not None and after.state == RegState.NOT_REGISTERED
    # Asked again, the S-CSCF knows nobody: 5001, which the HSS also takes as done.
    again = from_hss(h, hss_rtr.build(push, ctx))
    assert user_unknown(again) and hss_rtr.accepted(Outcome.of(again))


def test_hss_ppr_gives_the_registration_its_new_profile(h: RegHarness) -> None:
    Watcher().join(h)
    sub = h.hss.store.get(IMSI)
    assert sub is not None
    push = hss_ppr.new_push(sub)
    assert push is not None
    ans = from_hss(h, hss_ppr.build(push, sub, h.hss.ctx))
    assert ans.name == "PPA" and ans.result_code == ResultCode.SUCCESS
    reg = h.core.store.get(IMPU)
    assert reg is not None and reg.profile is not None
    assert reg.profile == parse_user_data(hss_userdata.build(sub))
    assert h.notifies() == []  # the same implicit set: nothing to tell
    # The HSS bars an identity: subscribers learn it.
    barred = sub.impus[-1].impu
    sub = dataclasses.replace(sub, impus=tuple(
        dataclasses.replace(p, barred=p.impu == barred) for p in sub.impus))
    ans = from_hss(h, hss_ppr.build(push, sub, h.hss.ctx))
    assert ans.result_code == ResultCode.SUCCESS
    [(notify, _)] = h.notifies()
    gone = body(notify).registration(barred)
    assert gone is not None and gone.state == "terminated"


def test_an_identity_barred_by_ppr_cannot_originate(h: RegHarness) -> None:
    """TS 29.228 §6.2.2 then TS 24.229 §5.4.3.2: once a PPR bars the served identity, its
    next originating request is refused 403 by the S-CSCF itself."""
    sub = h.hss.store.get(IMSI)
    assert sub is not None
    push = hss_ppr.new_push(sub)
    assert push is not None
    sub = dataclasses.replace(sub, impus=tuple(
        dataclasses.replace(p, barred=p.impu == IMPU) for p in sub.impus))
    assert from_hss(h, hss_ppr.build(push, sub, h.hss.ctx)).result_code == ResultCode.SUCCESS
    callee = f"sip:001010000000002@{DOMAIN}"
    resp = h.rx_from(orig_request("INVITE", callee, pai=IMPU), ("127.0.0.1", 5060))
    assert (resp.status, resp.reason) == (403, "Forbidden - Served User Barred")
