"""The S-CSCF as notifier of the reg event package (TS 24.229 §5.4.2.1; RFC 3680;
RFC 6665): who may subscribe, the SUBSCRIBE answers, the dialog, the first full-state
NOTIFY, refresh, unsubscribe and expiry, and what a failed NOTIFY does."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from hss.provision import DEMO_OP, demo_k, demo_subscribers
from ims_core import auth
from ims_core.sip import Request, SipUri
from ims_core.sip.addressing import Source
from ims_core.userdata import Ifc, Profile, PublicIdentity, ServiceProfile, Spt
from tests.sipmsg import requests

from .helpers import DOMAIN, IMPU, Ue
from .regevent_peers import (
    AS,
    OUR_CONTACT,
    PCSCF,
    PCSCF_RR,
    UE_CONTACT,
    RegHarness,
    Watcher,
    app_server,
    body,
    implicit_set,
    pcscf,
    register,
    registered,
    state_of,
)

IMPU_B = f"sip:001010000000002@{DOMAIN}"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[RegHarness]:
    yield from registered(tmp_path)


def ue_b() -> Ue:
    k = demo_k("001010000000002")
    return Ue(impi=f"001010000000002@{DOMAIN}", impu=IMPU_B, k=k, opc=auth.opc(k, DEMO_OP),
              contact="sip:ueb@192.0.2.60:5060", call_id="reg-b@ue")


# -- a subscription and its first NOTIFY ------------------------------------------------
def test_ue_subscribes_and_gets_the_full_state_at_once(tmp_path: Path) -> None:
    h = RegHarness(tmp_path)
    instance = '"<urn:gsma:imei:35209900-176148-0>"'
    register(h, contact=f"<{UE_CONTACT}>;+sip.instance={instance};+g.3gpp.smsip")
    ue = Watcher()
    sub = ue.subscribe()
    ok = h.rx_from(sub, PCSCF)
    assert ok.status == 200
    assert ok.to_tag
    assert [str(c.uri) for c in ok.contacts()] == [OUR_CONTACT]
    assert ok.headers.get("expires") == "600000"
    assert ok.headers.values("record-route") == [PCSCF_RR]  # RFC 3261 §12.1.1
    [(notify, send)] = h.notifies()
    # The dialog as RFC 3261 §12.1.1 makes it from the notifier's side.
    assert str(notify.uri) == UE_CONTACT
    assert notify.headers.values("route") == [PCSCF_RR]
    assert (send.dest.host, send.dest.port) == PCSCF
    assert notify.from_tag == ok.to_tag and str(notify.from_addr.uri) == IMPU
    assert notify.to_tag == sub.from_tag and str(notify.to_addr.uri) == IMPU
    assert notify.call_id == sub.call_id and notify.cseq.method == "NOTIFY"
    assert notify.headers.get("event") == "reg"
    assert [str(c.uri) for c in notify.contacts()] == [OUR_CONTACT]
    assert state_of(notify) == "active;expires=600000"
    doc = body(notify)
    assert doc.version == 0 and doc.state == "full"
    assert {r.aor for r in doc.registrations} == implicit_set()
    for reg in doc.registrations:
        assert reg.state == "active"
        [contact] = reg.contacts
        assert (contact.state, contact.event, contact.uri) == ("active", "registered",
                                                               UE_CONTACT)
        assert contact.expires == 600
        assert contact.params == (("+sip.instance", instance), ("+g.3gpp.smsip", None))
    # One id per registration, one per contact, stable across NOTIFYs (RFC 3680 §5.2).
    assert len({r.id for r in doc.registrations}) == 3
    assert len({c.id for r in doc.registrations for c in r.contacts}) == 3


def test_the_pcscf_on_the_path_may_subscribe(h: RegHarness) -> None:
    watcher = pcscf()
    ok = h.rx_from(watcher.subscribe(), PCSCF)
    assert ok.status == 200
    [(notify, send)] = h.notifies()
    assert str(notify.uri) == watcher.contact and "route" not in notify.headers
    assert (send.dest.host, send.dest.port) == PCSCF
    assert {r.aor for r in body(notify).registrations} == implicit_set()


def test_a_subscription_by_another_identity_of_the_set_or_by_tel_uri(h: RegHarness) -> None:
    tel = "tel:+15550000001"
    ok = h.rx_from(Watcher(identity=f"sip:+15550000001@{DOMAIN}").subscribe(resource=tel),
                   PCSCF)
    assert ok.status == 200
    [(notify, _)] = h.notifies()
    assert {r.aor for r in body(notify).registrations} == implicit_set()


def test_someone_elses_identity_is_403(tmp_path: Path) -> None:
    h = RegHarness(tmp_path)
    register(h)
    register(h, ue_b())
    snoop = Watcher(identity=IMPU_B, contact="sip:ueb@192.0.2.60:5060")
    assert h.rx_from(snoop.subscribe(resource=IMPU), PCSCF).status == 403
    # A P-CSCF that is not on the registration's Path, an AS nobody trusts, a From
    # naming the home domain without assertion: all refused.
    other_pcscf = Watcher(kind="pcscf", identity="sip:127.0.0.9:5060",
                          contact="sip:127.0.0.9:5060")
    assert h.rx_from(other_pcscf.subscribe(), PCSCF).status == 403
    assert h.rx_from(app_server().subscribe(), AS).status == 403
    assert h.notifies() == []
    assert h.subscription_count() == 0


def forwarded(h: RegHarness, request: Request) -> list[tuple[str, int]]:
    """Where the core sent *request* on to (it answered nothing itself)."""
    h.core.receive(request, Source("UDP", *PCSCF, None, None), h.now)
    return [(s.dest.host, s.dest.port) for s in requests(h._pump())]


def test_trusted_as_by_config_and_by_the_users_ifc(tmp_path: Path) -> None:
    ifc = Ifc(priority=0, server_name="sip:tas.example.net:5070",
              spts=(Spt(method="REGISTER"),))
    subs = list(demo_subscribers(2, DOMAIN))
    subs[0] = dataclasses.replace(subs[0], ifcs=(ifc,))
    h = RegHarness(tmp_path, subs, trusted_as=("as.example.net",))
    register(h)
    assert h.rx_from(app_server("as.example.net").subscribe(), AS).status == 200
    assert h.rx_from(app_server("tas.example.net").subscribe(), AS).status == 200
    assert h.rx_from(app_server("evil.example.net").subscribe(), AS).status == 403
    assert h.subscription_count() == 2
    h.close()


def test_a_barred_identity_may_not_subscribe_and_is_not_shown(h: RegHarness) -> None:
    reg = h.core.store.get(IMPU)
    assert reg is not None and reg.profile is not None
    sp = reg.profile.service_profiles[0]
    barred = f"sip:+15550000001@{DOMAIN}"
    ids = tuple(PublicIdentity(p.identity, barred=p.key == barred) for p in sp.identities)
    h.core.update_profile(reg, Profile(reg.profile.private_id, (ServiceProfile(ids),)), h.now)
    assert h.rx_from(Watcher(identity=barred).subscribe(), PCSCF).status == 403
    assert h.rx_from(Watcher().subscribe(), PCSCF).status == 200
    [(notify, _)] = h.notifies()
    assert {r.aor for r in body(notify).registrations} == implicit_set() - {barred}


# -- what is not ours, or not well formed ------------------------------------------------
def test_another_event_package_at_the_notifier_is_489(h: RegHarness) -> None:
    ours = Watcher().subscribe(resource=OUR_CONTACT, event="presence")
    r = h.rx_from(ours, PCSCF)
    assert r.status == 489 and r.headers.get("allow-events") == "reg"
    inside = Watcher(remote_tag="x1", remote_target=OUR_CONTACT).subscribe(event="dialog")
    assert h.rx_from(inside, PCSCF).status == 489


def test_another_event_package_for_a_user_is_routed_on(h: RegHarness) -> None:
    presence = Watcher().subscribe(resource=IMPU_B, event="presence")
    assert forwarded(h, presence) == [("127.0.0.2", 5060)]  # to the I-CSCF


def test_an_identity_not_registered_here(h: RegHarness) -> None:
    # TS 24.229 §5.4.2.1.1 step 0: 480 on the terminating side; on the originating leg
    # the user's own S-CSCF answers, reached through the I-CSCF.
    term = Watcher(kind="as", identity=f"sip:{AS[0]}", pai=False, source=AS)
    assert h.rx_from(term.subscribe(resource=IMPU_B), AS).status == 480
    assert forwarded(h, Watcher().subscribe(resource=IMPU_B)) == [("127.0.0.2", 5060)]


@pytest.mark.parametrize(("expires", "status", "granted"), [
    (10, 423, None), (59, 423, None), (60, 200, "60"), (3600, 200, "3600"),
    (10**9, 200, "600000"), (None, 200, "3761"),
])
def test_expires_bounds(h: RegHarness, expires: int | None, status: int,
                        granted: str | None) -> None:
    r = h.rx_from(Watcher().subscribe(expires=expires), PCSCF)
    assert r.status == status
    assert r.headers.get("expires") == granted
    if status == 423:  # RFC 6665 §4.2.1.1
        assert r.headers.get("min-expires") == "60"
        assert h.notifies() == []
    else:
        [(notify, _)] = h.notifies()
        assert state_of(notify) == f"active;expires={granted}"


@pytest.mark.parametrize("headers", [
    ("Expires: soon",), ("P-Asserted-Identity: <<<",),
])
def test_malformed_subscribe_is_400(h: RegHarness, headers: tuple[str, ...]) -> None:
    w = Watcher(pai="P-Asserted" not in headers[0])
    r = h.rx_from(w.subscribe(expires=None if "Expires" in headers[0] else 600, headers=headers),
                  PCSCF)
    assert r.status == 400
    assert h.subscription_count() == 0


def test_a_subscriber_that_cannot_read_reginfo_is_406(h: RegHarness) -> None:
    r = h.rx_from(Watcher().subscribe(accept="application/pidf+xml"), PCSCF)
    assert r.status == 406 and r.headers.get("accept") == "application/reginfo+xml"
    assert h.rx_from(Watcher().subscribe(accept="application/*"), PCSCF).status == 200
    assert h.rx_from(Watcher().subscribe(accept=None), PCSCF).status == 200


def test_subscribe_without_a_sip_contact_is_400(h: RegHarness) -> None:
    r = h.rx_from(Watcher(contact="tel:+15550000001").subscribe(), PCSCF)
    assert r.status == 400 and h.subscription_count() == 0


def test_over_tcp_our_contact_says_so(h: RegHarness) -> None:
    ok = h.rx_from(pcscf().subscribe(), PCSCF, transport="TCP")
    [contact] = ok.contacts()
    assert isinstance(contact.uri, SipUri) and contact.uri.transport == "tcp"
    [(notify, send)] = h.notifies()
    assert send.dest.transport == "TCP"
    assert "transport=tcp" in (notify.headers.get("contact") or "")


# -- refresh, unsubscribe, fetch, expiry --------------------------------------------------
def test_refresh_inside_the_dialog_sends_the_full_state_again(h: RegHarness) -> None:
    ue = Watcher()
    first = ue.join(h)
    refresh = ue.subscribe(expires=3600)
    assert str(refresh.uri) == OUR_CONTACT
    ok = h.rx_from(refresh, PCSCF)
    assert ok.status == 200 and ok.headers.get("expires") == "3600"
    [(notify, _)] = h.notifies()
    assert notify.cseq.seq == first.cseq.seq + 1
    assert state_of(notify) == "active;expires=3600"
    assert body(notify).version == 1 and body(notify).state == "full"
    # §12.2.2: a lower CSeq in the dialog is refused; an unknown dialog is 481.
    ue.cseq -= 2
    assert h.rx_from(ue.subscribe(), PCSCF).status == 500
    assert h.notifies() == []
    stranger = Watcher(remote_tag="nope", remote_target=OUR_CONTACT)
    assert h.rx_from(stranger.subscribe(), PCSCF).status == 481


def test_a_refresh_with_the_last_cseq_again_is_in_order(h: RegHarness) -> None:
    # RFC 3261 §12.2.2 refuses only a lower CSeq: an equal one (a new transaction, not a
    # retransmission) is in order and refreshes like any other.
    ue = Watcher()
    ue.join(h)
    assert h.rx_from(ue.subscribe(expires=3600), PCSCF).status == 200
    h.notifies()
    ue.cseq -= 1
    again = ue.subscribe(expires=1800)
    assert again.cseq.seq == 2
    ok = h.rx_from(again, PCSCF)
    assert ok.status == 200 and ok.headers.get("expires") == "1800"
    [(notify, _)] = h.notifies()
    assert state_of(notify) == "active;expires=1800" and body(notify).version == 2


def test_unsubscribe_ends_with_a_final_notify(h: RegHarness) -> None:
    ue = Watcher()
    ue.join(h)
    ok = h.rx_from(ue.subscribe(expires=0), PCSCF)
    assert ok.status == 200 and ok.headers.get("expires") == "0"
    [(notify, _)] = h.notifies()
    assert state_of(notify) == "terminated;reason=timeout"  # RFC 6665 §4.2.1.4
    assert body(notify).version == 1
    assert h.subscription_count() == 0
    register(h)  # a later change notifies nobody
    assert h.notifies() == []
    assert h.rx_from(ue.subscribe(), PCSCF).status == 481


def test_a_fetch_gets_one_notify_and_keeps_nothing(h: RegHarness) -> None:
    ok = h.rx_from(pcscf().subscribe(expires=0), PCSCF)  # RFC 6665 §4.4.3
    assert ok.status == 200 and ok.headers.get("expires") == "0"
    [(notify, _)] = h.notifies()
    assert state_of(notify) == "terminated;reason=timeout"
    assert {r.aor for r in body(notify).registrations} == implicit_set()
    assert h.subscription_count() == 0


def test_a_subscription_not_refreshed_expires_with_a_final_notify(h: RegHarness) -> None:
    ue = Watcher()
    ue.join(h, expires=60)
    h.tick(59)
    assert h.notifies() == []
    h.tick(2)
    [(notify, _)] = h.notifies()
    assert state_of(notify) == "terminated;reason=timeout"
    assert body(notify).version == 1
    assert h.subscription_count() == 0


def test_a_refreshed_subscription_does_not_expire_at_the_old_time(h: RegHarness) -> None:
    ue = Watcher()
    ue.join(h, expires=60)
    h.tick(30)
    assert h.rx_from(ue.subscribe(expires=120), PCSCF).status == 200
    [(notify, _)] = h.notifies()
    h.reply(notify, 200)
    h.tick(40)
    assert h.notifies() == [] and h.subscription_count() == 1
    h.tick(81)
    [(notify, _)] = h.notifies()
    assert state_of(notify).startswith("terminated")


# -- more than one subscription ------------------------------------------------------------
def test_two_dialogs_of_one_subscriber_are_both_kept(h: RegHarness) -> None:
    # RFC 6665 allows several subscriptions of one subscriber to one resource: each dialog
    # is its own. The same SUBSCRIBE again outside its dialog replaces the earlier one.
    first, second = pcscf(), pcscf()
    first.join(h)
    second.join(h)
    assert h.subscription_count() == 2
    retry = pcscf()
    retry.call_id, retry.tag = second.call_id, second.tag
    assert h.rx_from(retry.subscribe(), PCSCF).status == 200
    h.notifies()
    assert h.subscription_count() == 2


def test_subscriptions_per_registration_are_bounded(tmp_path: Path) -> None:
    h = RegHarness(tmp_path, max_subscriptions=2)
    register(h)
    assert [h.rx_from(pcscf().subscribe(), PCSCF).status for _ in range(3)] == [200, 200, 403]
    h.close()


# -- failed NOTIFYs ------------------------------------------------------------------------
def test_an_unanswered_notify_ends_its_subscription_and_nothing_else(h: RegHarness) -> None:
    ue = Watcher()
    assert h.rx_from(ue.subscribe(), PCSCF).status == 200
    assert len(h.notifies()) == 1
    for _ in range(12):  # Timer E retransmissions, then Timer F: a generated 408
        h.tick(4.0)
    assert len(h.notified) > 1
    h.notifies()
    assert h.subscription_count() == 0
    # The S-CSCF still registers (a refresh: SAR, 200) and sends no NOTIFY to anyone.
    ok = register(h)
    assert ok.status == 200 and h.notifies() == []
    assert h.rx_from(ue.subscribe(), PCSCF).status == 200  # a new subscription works


def test_a_notify_answered_481_ends_only_that_subscription(h: RegHarness) -> None:
    ue, proxy = Watcher(), pcscf()
    ue.join(h)
    proxy.join(h)
    register(h)  # a refresh: one NOTIFY for each
    [(to_ue, _), (to_pcscf, _)] = h.notifies()
    h.reply(to_ue, 481)
    h.reply(to_pcscf, 200)
    assert h.subscription_count() == 1
    register(h)
    [(notify, _)] = h.notifies()
    assert str(notify.uri) == proxy.contact


@pytest.mark.parametrize(("status", "extra", "kept"), [
    (500, "", False), (503, "", False), (503, "Retry-After: 30\r\n", True),
    (481, "Retry-After: 30\r\n", False), (404, "", False),
])
def test_notify_error_answers(h: RegHarness, status: int, extra: str, kept: bool) -> None:
    # RFC 6665 §4.2.2: a NOTIFY failed unless the answer says how it recovers.
    ue = Watcher()
    assert h.rx_from(ue.subscribe(), PCSCF).status == 200
    [(notify, _)] = h.notifies()
    h.reply(notify, status, extra)
    assert h.subscription_count() == (1 if kept else 0)


# -- the reginfo document stays well-formed whatever the contact holds --------------------
def test_contact_parameters_with_markup_are_escaped(tmp_path: Path) -> None:
    h = RegHarness(tmp_path)
    register(h, contact=f'<{UE_CONTACT}>;+x="<a&b>"')
    notify = Watcher().join(h)
    [contact] = body(notify).registrations[0].contacts
    assert contact.params == (("+x", '"<a&b>"'),)
    h.close()
