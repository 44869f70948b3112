"""Several public identities registered over one flow (RFC 3261 §10; TS 24.229 §5.2.2
keeps state per registration): a softphone with two accounts on one socket, UEs behind
an IMS-ALG, SIPp's users sharing a socket. Each registration stays, is served as itself
and ends on its own."""

from __future__ import annotations

import itertools

from ims_core.sip import Message, Request
from ims_core.sip.addressing import Destination
from tests.sipmsg import answer, build_request, one_request, requests, responses

from .messages import (
    ALICE,
    DOMAIN,
    IMPU,
    PATH_ROUTE,
    SCSCF,
    TEL,
    UE,
    Harness,
    request,
    source_for,
)
from .test_regevent import accept, notified, notify, reginfo, subscribes

BOB = f"sip:bob@{DOMAIN}"  # the second account
BOB_TEL = "tel:+15550000002"
CONTACT_A = f"sip:001010000000001@{UE[0]}:{UE[1]}"
CONTACT_B = f"sip:bob@{UE[0]}:{UE[1]}"
ROUTE_A = f"<sip:orig-a@{SCSCF[0]}:{SCSCF[1]};lr>"  # each registration's Service-Route
ROUTE_B = f"<sip:orig-b@{SCSCF[0]}:{SCSCF[1]};lr>"
FLOW = ("UDP", *UE)
_seq = itertools.count(1)


def two_accounts(h: Harness, *, bob_expires: int = 600000,
                 bob_user: str = "bob") -> tuple[Request, Request]:
    """Register IMPU (implicit set IMPU, TEL) then BOB (BOB, BOB_TEL) over the one flow
    UE; our SUBSCRIBE for each, accepted."""
    subs = []
    for kw in ({"service_route": ROUTE_A},
               {"to": BOB, "associated": (BOB, BOB_TEL), "user": bob_user,
                "service_route": ROUTE_B, "reg_expires": bob_expires, "call_id": "bob@ue"}):
        h.register(**kw)
        [(sub, send)] = subscribes(h.after_register)
        accept(h, send)
        subs.append(sub)
    return subs[0], subs[1]


def originated(h: Harness, *, from_uri: str, extra: str = "",
               method: str = "MESSAGE") -> tuple[Request, Destination]:
    n = next(_seq)
    req = request(method, from_uri=from_uri, call_id=f"o-{n}", branch=f"z9hG4bKo{n}",
                  extra=extra)
    return one_request(h.rx(req, source_for(req)))


def asserted(fwd: Message) -> list[str]:
    return fwd.headers.values("p-asserted-identity")


def route_of(fwd: Request) -> list[str]:
    return fwd.headers.values("route")


def term(uri: str, to: str, *, method: str = "MESSAGE", extra: str = "") -> Request:
    """A request from the S-CSCF via our Path to contact `uri` for identity `to`."""
    n = next(_seq)
    return build_request(
        method, uri, vias=[f"SIP/2.0/UDP {SCSCF[0]}:{SCSCF[1]};branch=z9hG4bKt{n}"],
        from_=f"<{ALICE}>;tag=a{n}", to=f"<{to}>", call_id=f"t-{n}",
        headers=[f"Contact: <sip:alice@{SCSCF[0]}>"], extra=PATH_ROUTE + extra)


def term_status(h: Harness, uri: str, to: str) -> int:
    req = term(uri, to)
    sends = h.rx(req, source_for(req, SCSCF))
    return 0 if requests(sends) else responses(sends)[-1].status


# -- both stay --------------------------------------------------------------------------
def test_two_identities_over_one_flow_both_stay_registered() -> None:
    h = Harness()
    two_accounts(h)
    regs = h.core.store.by_flow(FLOW)
    assert [r.registered_impu for r in regs] == [IMPU, BOB]
    assert [r.impus for r in regs] == [(IMPU, TEL), (BOB, BOB_TEL)]
    assert h.core.store.by_impu(IMPU) == regs[:1] and h.core.store.by_impu(BOB) == regs[1:]
    assert h.core.store.by_contact(CONTACT_A) == regs[0]
    assert h.core.store.by_contact(CONTACT_B) == regs[1]
    assert len(h.core.regsub) == 2  # one subscription per identity (§5.2.3)


def test_refreshes_touch_their_own_registration_and_never_subscribe_again() -> None:
    h = Harness()
    two_accounts(h, bob_expires=600)
    h.advance(300)
    h.register(service_route=ROUTE_A, call_id="a-refresh@ue", reg_expires=900)
    assert subscribes(h.after_register) == []
    a, b = h.core.store.by_flow(FLOW)
    assert (a.expires, b.expires) == (h.now + 900, h.now + 300)
    h.register(to=BOB, associated=(BOB, BOB_TEL), user="bob", service_route=ROUTE_B,
               call_id="b-refresh@ue", reg_expires=600)
    assert subscribes(h.after_register) == [] and len(h.core.regsub) == 2
    a, b = h.core.store.by_flow(FLOW)
    assert (a.registered_impu, b.registered_impu) == (IMPU, BOB)  # each keeps its place
    assert b.expires == h.now + 600


# -- originating ------------------------------------------------------------------------
def test_a_request_is_asserted_as_the_identity_it_comes_from() -> None:
    h = Harness()
    two_accounts(h)
    for from_uri, identity, route in ((IMPU, IMPU, ROUTE_A), (BOB, BOB, ROUTE_B),
                                      (TEL, IMPU, ROUTE_A), (BOB_TEL, BOB, ROUTE_B)):
        fwd, _ = originated(h, from_uri=from_uri)
        assert asserted(fwd) == [f"<{identity}>"], from_uri  # the default of its set
        assert route_of(fwd) == [route]  # and its own Service-Route


def test_the_preferred_identity_picks_the_registration_before_from() -> None:
    """TS 24.229 §5.2.6.3.1: a P-Preferred-Identity the flow's registrations serve."""
    h = Harness()
    two_accounts(h)
    for ppi, from_uri, identity, route in ((BOB_TEL, IMPU, BOB_TEL, ROUTE_B),
                                           (TEL, BOB, TEL, ROUTE_A),
                                           (BOB, "sip:anonymous@anonymous.invalid", BOB,
                                            ROUTE_B)):
        fwd, _ = originated(h, from_uri=from_uri, extra=f"P-Preferred-Identity: <{ppi}>\r\n")
        assert asserted(fwd) == [f"<{identity}>"], ppi
        assert route_of(fwd) == [route] and "p-preferred-identity" not in fwd.headers


def test_claiming_nothing_registered_gets_the_newest_registration() -> None:
    h = Harness()
    two_accounts(h)
    fwd, _ = originated(h, from_uri="sip:anonymous@anonymous.invalid",
                        extra="P-Preferred-Identity: <sip:stranger@elsewhere>\r\n")
    assert asserted(fwd) == [f"<{BOB}>"] and route_of(fwd) == [ROUTE_B]


def test_many_users_on_one_socket_are_each_asserted_as_themselves() -> None:
    """SIPp's users share one socket: none is served as another."""
    h = Harness()
    users = [f"sip:u{i}@{DOMAIN}" for i in range(40)]
    for i, user in enumerate(users):
        h.register(to=user, associated=(user,), user=f"u{i}", call_id=f"u{i}@ue")
    assert len(h.core.store.by_flow(FLOW)) == len(users)
    for user in users:
        fwd, _ = originated(h, from_uri=user, method="SUBSCRIBE",
                            extra=f"P-Preferred-Identity: <{user}>\r\nEvent: reg\r\n")
        assert asserted(fwd) == [f"<{user}>"]


# -- terminating ------------------------------------------------------------------------
def test_a_terminating_request_reaches_each_by_its_contact() -> None:
    h = Harness()
    two_accounts(h)
    for contact, identity in ((CONTACT_A, IMPU), (CONTACT_B, BOB)):
        req = term(contact, identity)
        fwd, dest = one_request(h.rx(req, source_for(req, SCSCF)))
        assert dest == Destination("UDP", *UE) and fwd.uri_text == contact


def test_a_contact_both_registered_answers_as_the_identity_called() -> None:
    """One contact registered for both identities (an IMS UE registering a second
    IMPU): the UE's answer gets the identity the request was for (§5.2.6.4.4)."""
    h = Harness()
    two_accounts(h, bob_user="001010000000001")  # BOB registers CONTACT_A as well
    assert h.core.store.all_by_contact(CONTACT_A) == h.core.store.by_flow(FLOW)
    for to, identity in ((IMPU, IMPU), (BOB_TEL, BOB), (f"sip:other@{DOMAIN}", BOB)):
        req = term(CONTACT_A, to, method="INVITE")
        [send] = requests(h.rx(req, source_for(req, SCSCF)))
        assert send.dest == Destination("UDP", *UE)
        sends = h.rx(answer(send.data, 180, to_tag=f"r{next(_seq)}"), source_for(req))
        [ringing] = responses(sends)
        assert asserted(ringing) == [f"<{identity}>"], to


# -- one ends, the other stays ------------------------------------------------------------
def test_de_registering_one_leaves_the_other_served() -> None:
    h = Harness()
    two_accounts(h)
    h.register(expires=0, reg_expires=0, call_id="a-dereg@ue")
    [reg] = h.core.store.by_flow(FLOW)
    assert reg.registered_impu == BOB and h.core.store.by_impu(IMPU) == []
    assert h.core.regsub.get(IMPU) is None and h.core.regsub.get(BOB) is not None
    fwd, _ = originated(h, from_uri=BOB)
    assert asserted(fwd) == [f"<{BOB}>"]
    fwd, _ = originated(h, from_uri=IMPU)  # the flow is still registered: as BOB
    assert asserted(fwd) == [f"<{BOB}>"]
    assert term_status(h, CONTACT_A, IMPU) == 404
    assert term_status(h, CONTACT_B, BOB) == 0  # relayed


def test_a_notify_terminating_one_leaves_the_other() -> None:
    h = Harness()
    sub_a, _ = two_accounts(h)
    body = reginfo(1, "terminated", ((CONTACT_A, "terminated", "deactivated"),))
    assert notified(h, notify(sub_a, body, state="terminated;reason=deactivated")).status == 200
    [reg] = h.core.store.by_flow(FLOW)
    assert reg.registered_impu == BOB
    assert h.core.regsub.get(IMPU) is None and h.core.regsub.get(BOB) is not None
    assert term_status(h, CONTACT_A, IMPU) == 404 and term_status(h, CONTACT_B, BOB) == 0
    fwd, _ = originated(h, from_uri=BOB)
    assert asserted(fwd) == [f"<{BOB}>"]


def test_a_notify_for_one_identity_leaves_the_other_on_a_shared_contact() -> None:
    h = Harness()
    sub_a, _ = two_accounts(h, bob_user="001010000000001")
    body = reginfo(1, "terminated", ((CONTACT_A, "terminated", "deactivated"),))
    assert notified(h, notify(sub_a, body, state="terminated;reason=deactivated")).status == 200
    [reg] = h.core.store.by_flow(FLOW)
    assert reg.registered_impu == BOB and h.core.store.by_contact(CONTACT_A) == reg
    req = term(CONTACT_A, BOB)
    [send] = requests(h.rx(req, source_for(req, SCSCF)))
    assert send.dest == Destination("UDP", *UE)


def test_expiry_of_one_leaves_the_other() -> None:
    h = Harness()
    two_accounts(h, bob_expires=60)
    h.advance(61)
    [reg] = h.core.store.by_flow(FLOW)
    assert reg.registered_impu == IMPU and h.core.store.by_impu(BOB) == []
    assert h.core.regsub.get(BOB) is None and h.core.regsub.get(IMPU) is not None
    assert term_status(h, CONTACT_B, BOB) == 404 and term_status(h, CONTACT_A, IMPU) == 0
    fwd, _ = originated(h, from_uri=BOB)  # the flow is still registered: as IMPU
    assert asserted(fwd) == [f"<{IMPU}>"]
    n = next(_seq)  # BOB registering again is an initial registration: subscribed again
    h.register(to=BOB, associated=(BOB, BOB_TEL), user="bob", call_id=f"b{n}@ue")
    [(sub, _)] = subscribes(h.after_register)
    assert sub.uri_text == BOB and len(h.core.store.by_flow(FLOW)) == 2


def test_a_single_registration_still_serves_whatever_the_request_claims() -> None:
    h = Harness()
    h.register()
    fwd, _ = originated(h, from_uri=f"sip:someone@{DOMAIN}",
                        extra=f"P-Preferred-Identity: <{BOB}>\r\n")
    assert asserted(fwd) == [f"<{IMPU}>"]
    assert term_status(h, CONTACT_A, BOB) == 0  # the contact's only registration
