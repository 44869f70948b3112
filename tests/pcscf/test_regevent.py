"""The P-CSCF as subscriber to the reg event package (TS 24.229 §5.2.3, §5.2.5;
RFC 3680; RFC 6665), sans I/O with a fake clock: the SUBSCRIBE after an initial
registration, its refresh and back-off, and the NOTIFYs it answers itself."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from ims_core.pcscf import PcscfCore
from ims_core.pcscf.config import RegEventConfig
from ims_core.pcscf.registrations import Binding, MemoryRegistrationStore, Registration
from ims_core.pcscf.regsub import (
    TRANSITIONS,
    Action,
    Event,
    RegEventSubscriber,
    State,
    retry_delay,
)
from ims_core.proxy import Send
from ims_core.proxy.uac import OnResponse
from ims_core.sip import Request, Response, refresh_delay
from ims_core.sip.addressing import Destination
from tests.sipmsg import answer, build_request, parse_request, requests, responses

from .messages import (
    ALICE,
    CONTACT,
    DOMAIN,
    IMPU,
    PATH_ROUTE,
    PCSCF,
    RR_ORIG,
    SCSCF,
    SERVICE_ROUTE,
    TEL,
    UE,
    Harness,
    config,
    ok_extra,
    register,
    request,
    source_for,
)

ME = f"sip:{PCSCF[0]}:{PCSCF[1]}"  # our own URI as a UA (the host:port of our Path)
NOTIFIER = f"sip:{SCSCF[0]}:{SCSCF[1]}"  # the S-CSCF's Contact
UE2 = ("198.51.100.8", 5070)
CONTACT2 = f"sip:001010000000001@{UE2[0]}:{UE2[1]}"
_seq = itertools.count(1)  # unique branches: a repeated one is a retransmission


def subscribes(sends: Sequence[Send]) -> list[tuple[Request, Send]]:
    """The SUBSCRIBEs among the sends, retransmissions left out."""
    out: dict[tuple[str, int], tuple[Request, Send]] = {}
    for s in requests(sends):
        r = parse_request(s.data)
        if r.method == "SUBSCRIBE":
            out.setdefault((r.call_id, r.cseq.seq), (r, s))
    return list(out.values())


def registered(h: Harness, **kw: object) -> tuple[Request, Send]:
    """Register the UE; the SUBSCRIBE that followed the 200, and its send."""
    h.register(**kw)  # type: ignore[arg-type]
    [(sub, send)] = subscribes(h.after_register)
    return sub, send


def accept(h: Harness, send: Send, *, expires: int | None = 600000,
           record_route: Sequence[str] = ()) -> None:
    extra = f"Contact: <{NOTIFIER}>\r\n" + "".join(f"Record-Route: {v}\r\n"
                                                   for v in record_route)
    if expires is not None:
        extra += f"Expires: {expires}\r\n"
    assert h.rx(answer(send.data, 200, to_tag="sc1", extra=extra)) == []


def subscribed(h: Harness, **kw: object) -> Request:
    sub, send = registered(h, **kw)
    accept(h, send)
    return sub


def reginfo(version: int, state: str = "active",
            contacts: Sequence[tuple[str, str, str]] = ((CONTACT, "active", "registered"),),
            aors: Sequence[str] = (IMPU, TEL)) -> bytes:
    regs = ""
    for n, aor in enumerate(aors):
        cs = "".join(f'<contact id="c{i}" state="{s}" event="{e}"><uri>{u}</uri></contact>'
                     for i, (u, s, e) in enumerate(contacts))
        regs += f'<registration aor="{aor}" id="r{n}" state="{state}">{cs}</registration>'
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<reginfo xmlns='
            f'"urn:ietf:params:xml:ns:reginfo" version="{version}" state="full">'
            f"{regs}</reginfo>").encode()


def notify(sub: Request, body: bytes = b"", *, state: str = "active;expires=599990",
           cseq: int = 1, call_id: str | None = None, to_tag: str | None = None,
           from_tag: str = "sc1", content_type: str = "application/reginfo+xml",
           event: str = "reg", uri: str = ME) -> Request:
    """The S-CSCF's NOTIFY in the dialog of our SUBSCRIBE `sub` (the contract's form)."""
    headers = [f"Contact: <{NOTIFIER}>", f"Event: {event}", f"Subscription-State: {state}"]
    if body:
        headers.append(f"Content-Type: {content_type}")
    return build_request(
        "NOTIFY", uri, vias=[f"SIP/2.0/UDP {SCSCF[0]}:{SCSCF[1]};branch=z9hG4bKn{next(_seq)}"],
        from_=f"<{IMPU}>;tag={from_tag}", to=f"<{ME}>;tag={to_tag or sub.from_tag}",
        call_id=call_id or sub.call_id, cseq=cseq, headers=headers, body=body)


def notified(h: Harness, req: Request, peer: tuple[str, int] = SCSCF) -> Response:
    """Our answer to a NOTIFY for us: never relayed anywhere."""
    sends = h.rx(req, source_for(req, peer))
    assert requests(sends) == []
    [resp] = responses(sends)
    assert [s.dest.host for s in sends] == [peer[0]]
    return resp


def ue_invite_status(h: Harness, ue: tuple[str, int] = UE) -> int:
    """The last response to a new INVITE from `ue`: 100 when it went on."""
    n = next(_seq)
    req = request("INVITE", call_id=f"inv-{n}", ue=ue, branch=f"z9hG4bKi{n}")
    return responses(h.rx(req, source_for(req, ue)))[-1].status


# -- the SUBSCRIBE ----------------------------------------------------------------------
def test_initial_registration_is_followed_by_the_subscribe_of_the_contract() -> None:
    h = Harness()
    h.register()
    first, second = h.after_register
    assert responses([first])[0].status == 200 and first.dest == Destination("UDP", *UE)
    [(sub, send)] = subscribes([second])  # after the 200 went to the UE
    assert send.dest == Destination("UDP", *SCSCF)  # along the Service-Route
    assert sub.uri_text == IMPU
    assert sub.headers.get_all("route") == [SERVICE_ROUTE]
    assert str(sub.to_addr.uri) == IMPU and sub.to_tag is None
    assert str(sub.from_addr.uri) == ME and sub.from_tag
    assert sub.headers.get_all("p-asserted-identity") == [f"<{ME}>"]
    assert sub.headers.get_all("contact") == [f"<{ME}>"]
    assert sub.headers.get("event") == "reg"
    assert sub.headers.get("accept") == "application/reginfo+xml"
    assert sub.headers.get("expires") == "600000"
    assert (sub.cseq.seq, sub.cseq.method) == (1, "SUBSCRIBE")
    assert sub.max_forwards == 70
    [via] = sub.vias()
    assert (via.host, via.port) == PCSCF
    assert sub.headers.get("p-charging-vector") is None and not sub.body


def test_the_first_p_associated_uri_is_the_subscribed_identity() -> None:
    h = Harness()
    sub, _ = registered(h, associated=(TEL, IMPU))
    assert sub.uri_text == TEL and str(sub.to_addr.uri) == TEL


def test_no_second_subscription_on_refresh_or_for_another_ue_of_the_identity() -> None:
    h = Harness()
    _, send = registered(h)
    h.advance(100)
    h.register(call_id="rereg@ue")  # a refresh: TS 24.229 §5.2.3 says initial only
    assert subscribes(h.after_register) == []
    accept(h, send)
    h.advance(100)
    h.register(call_id="rereg2@ue")
    assert subscribes(h.after_register) == []
    h.register(ue=UE2, call_id="ue2@ue")  # another UE with the same identity
    assert subscribes(h.after_register) == []
    assert len(h.core.regsub) == 1


def test_a_refresh_that_changes_the_set_forgets_what_no_ue_has_any_more() -> None:
    h = Harness()
    registered(h, associated=(TEL, IMPU))
    h.register(call_id="rereg@ue", associated=(TEL, IMPU))  # the same set: kept
    assert h.core.regsub.get(TEL) is not None
    h.register(call_id="rereg2@ue", associated=(IMPU,))  # TEL left the set
    assert h.core.regsub.get(TEL) is None and len(h.core.regsub) == 0
    assert [r.impus for r in h.core.store.by_impu(IMPU)] == [(IMPU,)]


def test_subscribe_can_be_configured_off() -> None:
    h = Harness(PcscfCore(config(regevent=RegEventConfig(subscribe=False))))
    h.register()
    assert subscribes(h.after_register) == []
    assert len(h.core.regsub) == 0


def test_the_requested_expires_is_configurable() -> None:
    h = Harness(PcscfCore(config(regevent=RegEventConfig(expires=7200))))
    sub, _ = registered(h)
    assert sub.headers.get("expires") == "7200"


# -- refresh ----------------------------------------------------------------------------
@pytest.mark.parametrize(("granted", "delay"), [
    (600000, 599400), (3600, 3000), (1000, 500), (60, 30),
])
def test_refresh_delay(granted: int, delay: float) -> None:
    assert refresh_delay(granted) == delay


def test_the_subscription_is_refreshed_within_its_dialog_before_it_lapses() -> None:
    h = Harness()
    sub, send = registered(h, reg_expires=600000)
    rr = ("<sip:rr1.example.net;lr>", "<sip:rr2.example.net;lr>")
    accept(h, send, expires=3600, record_route=rr)
    assert subscribes(h.advance(2999)) == []
    [(refresh, rsend)] = subscribes(h.advance(2))
    assert refresh.uri_text == NOTIFIER  # the remote target: the 2xx Contact
    assert refresh.headers.values("route") == list(reversed(rr))  # RFC 3261 §12.1.2
    assert rsend.dest == Destination("UDP", "rr2.example.net", 5060)
    assert refresh.call_id == sub.call_id
    assert refresh.from_tag == sub.from_tag and refresh.to_tag == "sc1"
    assert refresh.cseq.seq == 2
    assert refresh.headers.get("event") == "reg"
    assert refresh.headers.get("expires") == "600000"
    h.rx(answer(rsend.data, 200, to_tag="sc1", extra="Expires: 7200\r\n"))
    assert subscribes(h.advance(6599)) == []  # 600 s before the new grant ends
    [(again, _)] = subscribes(h.advance(2))
    assert again.cseq.seq == 3 and again.call_id == sub.call_id


def test_a_notify_s_expires_reschedules_the_refresh() -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    assert notified(h, notify(sub, reginfo(0), state="active;expires=1000")).status == 200
    assert subscribes(h.advance(499)) == []
    [(refresh, _)] = subscribes(h.advance(2))
    assert refresh.to_tag == "sc1"


# -- failures ---------------------------------------------------------------------------
def test_retry_delay_doubles_from_retry_min_up_to_retry_max() -> None:
    s = RegEventConfig(retry_min=30, retry_max=1800)
    assert [retry_delay(s, n) for n in range(1, 9)] == [
        30, 60, 120, 240, 480, 960, 1800, 1800]
    assert retry_delay(s, 1, retry_after=300) == 300
    assert retry_delay(s, 1, retry_after=99999) == 1800
    assert retry_delay(s, 10**6) == 1800


def test_a_failed_subscribe_is_retried_with_a_bounded_back_off() -> None:
    h = Harness(PcscfCore(config(regevent=RegEventConfig(retry_min=30, retry_max=100))))
    sub, send = registered(h, reg_expires=600000)
    call_ids = {sub.call_id}
    for wait in (30, 60, 100, 100):
        h.rx(answer(send.data, 403, to_tag="sc1"))
        assert subscribes(h.advance(wait - 0.5)) == []  # never a tight loop
        [(sub, send)] = subscribes(h.advance(1))
        assert sub.to_tag is None and sub.uri_text == IMPU  # a new initial SUBSCRIBE
        assert sub.headers.get_all("route") == [SERVICE_ROUTE]
        call_ids.add(sub.call_id)
    assert len(call_ids) == 5
    accept(h, send)
    assert h.core.regsub.get(IMPU).failures == 0  # type: ignore[union-attr]


def test_retry_after_is_a_floor_for_the_retry() -> None:
    h = Harness()
    _, send = registered(h, reg_expires=600000)
    h.rx(answer(send.data, 503, to_tag="sc1", extra="Retry-After: 300 (busy);duration=60\r\n"))
    assert subscribes(h.advance(299)) == []
    assert len(subscribes(h.advance(2))) == 1


def test_a_subscribe_nobody_answers_reads_as_408_and_is_retried() -> None:
    h = Harness()
    sub, _ = registered(h, reg_expires=600000)
    sends = h.advance(32.5)  # Timer F (64*T1): the transaction gives up
    assert {r.call_id for r, _ in subscribes(sends)} == {sub.call_id}  # retransmissions
    assert subscribes(h.advance(29)) == []
    [(retry, _)] = subscribes(h.advance(2))
    assert retry.call_id != sub.call_id


def test_a_failed_refresh_keeps_the_dialog_and_481_ends_it() -> None:
    h = Harness()
    sub, send = registered(h, reg_expires=600000)
    accept(h, send, expires=3600)
    [(refresh, rsend)] = subscribes(h.advance(3001))
    assert refresh.cseq.seq == 2
    h.rx(answer(rsend.data, 500, to_tag="sc1"))  # RFC 6665 §4.1.2.2: still valid
    [(again, asend)] = subscribes(h.advance(31))
    assert again.to_tag == "sc1" and again.call_id == sub.call_id and again.cseq.seq == 3
    h.rx(answer(asend.data, 481, to_tag="sc1"))  # the notifier knows it no more
    [(fresh, _)] = subscribes(h.advance(61))
    assert fresh.to_tag is None and fresh.call_id != sub.call_id
    assert fresh.uri_text == IMPU


def test_nowhere_to_send_counts_as_a_failure() -> None:
    store = MemoryRegistrationStore()
    reg = Registration(("UDP", *UE), (Binding(CONTACT, 5000.0),), (IMPU,),
                       (SERVICE_ROUTE,), "<sip:term@p;lr>", IMPU)
    store.save(reg)
    tried: list[Request] = []

    def originate(request: Request, on_response: OnResponse, now: float, *,
                  transport: str = "UDP", strict: bool = False) -> bool:
        tried.append(request)
        return False

    subs = RegEventSubscriber(RegEventConfig(), store, originate, lambda: ME,
                              lambda n: bytes(n))
    sub = subs.subscribe(reg, 100.0)
    assert sub is not None and sub.state is State.WAITING and len(tried) == 1
    assert subs.get_timer() == 130.0
    subs.handle_timer(130.0)
    assert len(tried) == 2 and subs.get_timer() == 190.0


def test_only_the_timer_leaves_waiting_and_a_restart_always_waits() -> None:
    # Answers to a SUBSCRIBE the subscription moved past find no transition (stale).
    assert {e for (s, e) in TRANSITIONS if s is State.WAITING} == {Event.DUE}
    assert all(nxt is State.WAITING or action is not Action.RESTART
               for action, nxt in TRANSITIONS.values())


def test_a_2xx_without_contact_is_a_failure() -> None:
    h = Harness()
    sub, send = registered(h, reg_expires=600000)
    h.rx(answer(send.data, 200, to_tag="sc1", extra="Expires: 600000\r\n"))
    assert not h.core.regsub.get(IMPU).established  # type: ignore[union-attr]
    assert notified(h, notify(sub, reginfo(0))).status == 481  # that dialog is not kept
    [(retry, _)] = subscribes(h.advance(31))
    assert retry.call_id != sub.call_id


# -- NOTIFY -----------------------------------------------------------------------------
def test_a_notify_is_answered_200_and_a_deactivation_removes_the_registration() -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    assert notified(h, notify(sub, reginfo(0))).status == 200
    assert h.core.store.by_flow(("UDP", *UE)) != []
    assert ue_invite_status(h) == 100  # still registered: the INVITE goes on
    # RTR / network-initiated de-registration (TS 24.229 §5.4.1.5):
    body = reginfo(1, "terminated", ((CONTACT, "terminated", "deactivated"),))
    resp = notified(h, notify(sub, body, cseq=2, state="terminated;reason=deactivated"))
    assert resp.status == 200 and resp.to_tag == sub.from_tag
    assert h.core.store.by_flow(("UDP", *UE)) == []
    assert h.core.store.by_impu(IMPU) == [] and h.core.store.by_contact(CONTACT) is None
    assert ue_invite_status(h) == 403  # §5.2.6.3.1: not registered any more
    term = request("INVITE", uri=CONTACT, from_uri=ALICE, ue=SCSCF, extra=PATH_ROUTE,
                   call_id="term-after", branch="z9hG4bKterm")
    assert responses(h.rx(term, source_for(term, SCSCF)))[-1].status == 404
    assert len(h.core.regsub) == 0
    assert notified(h, notify(sub, reginfo(2), cseq=3)).status == 481


def _ue_notify(body: bytes, n: int) -> Request:
    """The S-CSCF's NOTIFY in the UE's own subscription (Record-Routed by us)."""
    return build_request(
        "NOTIFY", CONTACT, vias=[f"SIP/2.0/UDP {SCSCF[0]}:{SCSCF[1]};branch=z9hG4bKu{n}"],
        from_=f"<{IMPU}>;tag=sc2", to=f"<{IMPU}>;tag=f1", call_id="ue-sub", cseq=n,
        headers=[f"Route: {RR_ORIG}", f"Contact: <{NOTIFIER}>", "Event: reg",
                 "Subscription-State: terminated;reason=noresource",
                 "Content-Type: application/reginfo+xml"], body=body)


def test_the_ue_still_gets_its_own_notify_over_its_flow_after_ours() -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    body = reginfo(1, "terminated", ((CONTACT, "terminated", "rejected"),))
    assert notified(h, notify(sub, body, state="terminated;reason=noresource")).status == 200
    big = body + b" " * 1400  # past the UDP size rule (RFC 3261 §18.1.1)
    req = _ue_notify(big, 1)
    [send] = requests(h.rx(req, source_for(req, SCSCF)))
    assert send.dest.transport == "UDP" and (send.dest.host, send.dest.port) == UE
    h.advance(33)  # the grace is over: no flow is known for the contact any more
    req = _ue_notify(big, 2)
    [send] = requests(h.rx(req, source_for(req, SCSCF)))
    assert send.dest.transport == "TCP"


def test_a_terminated_contact_removes_that_ue_only() -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    h.register(ue=UE2, call_id="ue2@ue")
    body = reginfo(0, "active", ((CONTACT, "terminated", "rejected"),
                                 (CONTACT2, "active", "registered")))
    assert notified(h, notify(sub, body)).status == 200
    assert h.core.store.by_flow(("UDP", *UE)) == []
    assert h.core.store.by_flow(("UDP", *UE2)) != []
    assert ue_invite_status(h) == 403 and ue_invite_status(h, UE2) == 100
    assert h.core.regsub.get(IMPU) is not None  # UE2 still has the identity


def test_an_identity_leaving_the_set_leaves_the_ue_registered() -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    body = reginfo(0, aors=(IMPU,)).replace(b"</reginfo>", (
        f'<registration aor="{TEL}" id="rt" state="terminated"><contact id="ct" '
        f'state="terminated" event="deactivated"><uri>{CONTACT}</uri></contact>'
        "</registration></reginfo>").encode())
    assert notified(h, notify(sub, body)).status == 200
    [reg] = h.core.store.by_flow(("UDP", *UE))
    assert reg.impus == (IMPU,)  # TS 24.229 §5.2.5: that identity
    assert h.core.store.by_impu(TEL) == [] and h.core.store.by_contact(CONTACT) == reg
    assert ue_invite_status(h) == 100


def test_an_expired_contact_is_dropped_whatever_the_event() -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    body = reginfo(0, "active", ((CONTACT, "terminated", "expired"),))
    assert notified(h, notify(sub, body)).status == 200
    assert h.core.store.by_contact(CONTACT) is None


def test_a_notify_never_touches_ues_outside_the_subscribed_identity() -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    other = f"sip:other@{DOMAIN}"
    h.register(ue=UE2, call_id="ue2@ue", associated=(other,), to=other)
    body = reginfo(0, "terminated", ((CONTACT2, "terminated", "deactivated"),), aors=(other,))
    assert notified(h, notify(sub, body)).status == 200
    assert h.core.store.by_flow(("UDP", *UE2)) != []


@pytest.mark.parametrize("body", [
    b"<reginfo", b"<?xml version='1.0'?><other/>",
    b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="x" state="full"/>',
])
def test_a_malformed_reginfo_is_400_and_changes_nothing(body: bytes) -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    assert notified(h, notify(sub, body, state="terminated")).status == 400
    assert h.core.store.by_flow(("UDP", *UE)) != []
    assert h.core.regsub.get(IMPU) is not None
    assert ue_invite_status(h) == 100
    # Nor did it advance the dialog's CSeq: the S-CSCF may send CSeq 1 again.
    assert notified(h, notify(sub, reginfo(0))).status == 200


def test_another_body_type_is_415_with_accept() -> None:
    h = Harness()
    sub = subscribed(h)
    resp = notified(h, notify(sub, b"{}", content_type="application/json"))
    assert resp.status == 415
    assert resp.headers.get("accept") == "application/reginfo+xml"


def test_a_notify_outside_our_dialogs_is_481() -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    body = reginfo(0, "terminated", ((CONTACT, "terminated", "deactivated"),))
    for bad in (notify(sub, body, call_id="unknown@x"), notify(sub, body, to_tag="nottag"),
                notify(sub, body, from_tag="other-notifier")):
        assert notified(h, bad).status == 481
    assert h.core.store.by_flow(("UDP", *UE)) != []


def test_a_notify_out_of_order_is_500() -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    assert notified(h, notify(sub, reginfo(1), cseq=5)).status == 200
    body = reginfo(2, "terminated", ((CONTACT, "terminated", "deactivated"),))
    assert notified(h, notify(sub, body, cseq=4)).status == 500
    assert h.core.store.by_flow(("UDP", *UE)) != []


def test_a_notify_with_the_last_cseq_again_is_in_order() -> None:
    # RFC 3261 §12.2.2 refuses only a lower CSeq: an equal one (a new transaction, not a
    # retransmission) is accepted and applied.
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    assert notified(h, notify(sub, reginfo(0), cseq=3)).status == 200
    body = reginfo(1, "terminated", ((CONTACT, "terminated", "deactivated"),))
    assert notified(h, notify(sub, body, cseq=3)).status == 200
    assert h.core.store.by_flow(("UDP", *UE)) == []


def test_an_old_reginfo_version_is_not_applied() -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    assert notified(h, notify(sub, reginfo(3))).status == 200
    body = reginfo(2, "terminated", ((CONTACT, "terminated", "deactivated"),))
    assert notified(h, notify(sub, body, cseq=2)).status == 200  # RFC 3680 §5.2.1
    assert h.core.store.by_flow(("UDP", *UE)) != []


def test_subscription_state_terminated_ends_the_subscription() -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    resp = notified(h, notify(sub, reginfo(0), state="terminated;reason=rejected"))
    assert resp.status == 200
    assert len(h.core.regsub) == 0
    assert h.core.store.by_flow(("UDP", *UE)) != []  # the registration stays
    assert notified(h, notify(sub, reginfo(1), cseq=2)).status == 481
    assert subscribes(h.advance(1000)) == []  # no refresh of an ended subscription
    h.register(reg_expires=600000, call_id="rereg@ue")  # nor a new one on a refresh
    assert subscribes(h.after_register) == []


def test_terminated_deactivated_while_registered_subscribes_again() -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    assert notified(h, notify(sub, state="terminated;reason=deactivated")).status == 200
    assert subscribes(h.advance(29)) == []
    [(again, _)] = subscribes(h.advance(2))  # RFC 6665 §4.1.3, after the back-off
    assert again.to_tag is None and again.call_id != sub.call_id


def test_a_2xx_after_the_notifier_ended_the_dialog_does_not_revive_it() -> None:
    h = Harness()
    sub, send = registered(h, reg_expires=600000)
    accept(h, send, expires=3600)
    [(_, rsend)] = subscribes(h.advance(3001))  # a refresh in flight
    assert notified(h, notify(sub, state="terminated;reason=timeout")).status == 200
    h.rx(answer(rsend.data, 200, to_tag="sc1", extra=f"Contact: <{NOTIFIER}>\r\n"))
    assert notified(h, notify(sub, reginfo(0), cseq=2)).status == 481
    [(again, _)] = subscribes(h.advance(31))
    assert again.to_tag is None and again.call_id != sub.call_id


def test_subscription_state_is_required() -> None:
    h = Harness()
    sub = subscribed(h)
    req = notify(sub, reginfo(0))
    req.headers.remove("subscription-state")
    assert notified(h, req).status == 400


def test_a_notify_may_come_before_the_2xx_and_sets_up_the_dialog() -> None:
    h = Harness()
    sub, send = registered(h, reg_expires=600000)
    assert notified(h, notify(sub, reginfo(0), state="active;expires=3600")).status == 200
    assert h.core.regsub.get(IMPU).established  # type: ignore[union-attr]
    accept(h, send, expires=3600)
    [(refresh, _)] = subscribes(h.advance(3001))
    assert refresh.uri_text == NOTIFIER and refresh.to_tag == "sc1"


def test_our_notify_only_from_the_core_and_only_for_reg() -> None:
    h = Harness()
    sub = subscribed(h, reg_expires=600000)
    body = reginfo(0, "terminated", ((CONTACT, "terminated", "deactivated"),))
    forged = notify(sub, body)
    assert notified(h, forged, UE).status == 403  # a UE cannot de-register anyone
    assert h.core.store.by_flow(("UDP", *UE)) != []
    resp = notified(h, notify(sub, body, event="presence"))
    assert resp.status == 489 and resp.headers.get("allow-events") == "reg"
    assert h.core.store.by_flow(("UDP", *UE)) != []


# -- forgetting -------------------------------------------------------------------------
def test_de_registration_and_expiry_forget_the_subscription_locally() -> None:
    h = Harness()
    subscribed(h, reg_expires=600)
    h.register(expires=0, reg_expires=0, call_id="dereg@ue")
    assert len(h.core.regsub) == 0
    assert requests(h.after_register) == []  # no un-SUBSCRIBE: the S-CSCF ends it
    sub = subscribed(h, reg_expires=600, call_id="again@ue")  # initial again
    assert len(h.core.regsub) == 1
    assert subscribes(h.advance(601)) == []
    assert len(h.core.store) == 0 and len(h.core.regsub) == 0
    assert notified(h, notify(sub, reginfo(0))).status == 481


def test_a_ue_moving_to_a_new_flow_keeps_the_subscription() -> None:
    h = Harness()
    subscribed(h, transport="TCP", conn=object())
    before = h.core.regsub.get(IMPU)
    req = register(transport="TCP", call_id="new-conn")
    new_flow = (UE[0], 40001)
    [send] = requests(h.rx(req, source_for(req, new_flow, "TCP", object())))
    path = parse_request(send.data).headers.values("path")[0]
    sends = h.rx(answer(send.data, 200, extra=ok_extra(CONTACT, 600, path=path)))
    assert subscribes(sends) == []  # the same identity is subscribed already
    assert h.core.store.by_flow(("TCP", *UE)) == []
    assert h.core.regsub.get(IMPU) is before


def test_a_flow_registering_another_identity_subscribes_to_it_too() -> None:
    """RFC 3261 §10: the flow now carries both registrations, so both are watched."""
    h = Harness()
    subscribed(h)
    other = f"sip:other@{DOMAIN}"
    h.register(call_id="other@ue", to=other, associated=(other,))
    [(sub, _)] = subscribes(h.after_register)
    assert sub.uri_text == other
    assert h.core.regsub.get(IMPU) is not None and h.core.regsub.get(other) is not None
    h.register(call_id="other2@ue", to=other, associated=(other,))  # a refresh
    assert subscribes(h.after_register) == [] and len(h.core.regsub) == 2


def test_an_answer_after_forgetting_changes_nothing() -> None:
    h = Harness()
    _, send = registered(h, reg_expires=600)
    h.register(expires=0, reg_expires=0, call_id="dereg@ue")
    accept(h, send)
    assert len(h.core.regsub) == 0 and h.core.regsub.get_timer() is None


# -- the UE's own subscription ----------------------------------------------------------
def test_the_ue_s_reg_subscribe_is_proxied_and_its_notify_reaches_the_ue() -> None:
    h = Harness()
    subscribed(h, reg_expires=600000)
    ue_sub = request("SUBSCRIBE", uri=IMPU, call_id="ue-sub",
                     extra="Event: reg\r\nExpires: 600000\r\n")
    [send] = requests(h.rx(ue_sub))
    fwd = parse_request(send.data)
    assert send.dest == Destination("UDP", *SCSCF)
    assert fwd.uri_text == IMPU and fwd.headers.get("event") == "reg"
    assert fwd.headers.get_all("route") == [SERVICE_ROUTE]
    assert fwd.headers.values("record-route") == [RR_ORIG]  # dialog-creating
    assert fwd.headers.values("p-asserted-identity") == [f"<{IMPU}>"]
    body = reginfo(0)
    ue_notify = build_request(
        "NOTIFY", CONTACT, vias=[f"SIP/2.0/UDP {SCSCF[0]}:{SCSCF[1]};branch=z9hG4bKun"],
        from_=f"<{IMPU}>;tag=sc2", to=f"<{IMPU}>;tag=f1", call_id="ue-sub", cseq=1,
        headers=[f"Route: {RR_ORIG}", f"Contact: <{NOTIFIER}>", "Event: reg",
                 "Subscription-State: active;expires=600000",
                 "Content-Type: application/reginfo+xml"], body=body)
    sends = h.rx(ue_notify, source_for(ue_notify, SCSCF))
    assert responses(sends) == []  # not answered by us
    [send] = requests(sends)
    assert send.dest == Destination("UDP", *UE)
    assert parse_request(send.data).body == body


def test_the_ue_s_refresh_goes_to_the_s_cscf_s_contact_and_nowhere_else() -> None:
    h = Harness()
    subscribed(h, reg_expires=600000)
    # The S-CSCF does not Record-Route its own dialogs: the UE's route set is us alone,
    # and the remote target the S-CSCF's Contact (a core node).
    refresh = request("SUBSCRIBE", uri=NOTIFIER, call_id="ue-sub", to_tag="sc2",
                      branch="z9hG4bKuref", extra=f"Route: {RR_ORIG}\r\nEvent: reg\r\n")
    [send] = requests(h.rx(refresh))
    assert send.dest == Destination("UDP", *SCSCF)
    assert parse_request(send.data).uri_text == NOTIFIER
    elsewhere = request("SUBSCRIBE", uri="sip:192.0.2.99:5060", call_id="ue-sub2",
                        to_tag="x", branch="z9hG4bKuref2",
                        extra=f"Route: {RR_ORIG}\r\nEvent: reg\r\n")
    sends = h.rx(elsewhere)
    assert requests(sends) == []
    [resp] = responses(sends)
    assert resp.status == 403  # a UE does not leave the core out
