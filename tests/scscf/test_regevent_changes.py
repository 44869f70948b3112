"""What the S-CSCF NOTIFYs when a registration changes (TS 24.229 §5.4.2.1.2, §5.4.1.4,
§5.4.1.5, §5.4.1.6; RFC 3680 §5.1): re-registration, a new contact, shortening,
expiry, the user's de-registration, network de-registration and a new profile (PPR) —
and that a registration nobody subscribes to does no reg-event work at all."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ims_core.reginfo import Reginfo
from ims_core.scscf import Registration, regevent
from ims_core.scscf.cx import AssignmentType
from ims_core.sip import Request
from ims_core.userdata import Profile, PublicIdentity, ServiceProfile

from .helpers import DOMAIN, IMPU, Ue
from .regevent_peers import (
    PCSCF,
    UE_CONTACT,
    RegHarness,
    Watcher,
    body,
    implicit_set,
    pcscf,
    register,
    registered,
    state_of,
)

CONTACT_2 = "sip:ue1@192.0.2.51:5060"
MSISDN_SIP = f"sip:+15550000001@{DOMAIN}"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[RegHarness]:
    yield from registered(tmp_path)


def record(h: RegHarness) -> Registration:
    reg = h.core.store.get(IMPU)
    assert reg is not None
    return reg


def one_notify(h: RegHarness) -> tuple[Request, Reginfo]:
    [(notify, _)] = h.notifies()
    h.reply(notify, 200)
    return notify, body(notify)


def contacts(doc: Reginfo, aor: str = IMPU) -> dict[str, tuple[str, str, int | None]]:
    reg = doc.registration(aor)
    assert reg is not None, doc
    return {c.uri: (c.state, c.event, c.expires) for c in reg.contacts}


def test_re_registration_notifies_each_subscriber_once(h: RegHarness) -> None:
    ue, proxy = Watcher(), pcscf()
    ue.join(h)
    proxy.join(h)
    h.now += 100
    register(h)
    sent = h.notifies()
    assert sorted(str(n.uri) for n, _ in sent) == sorted([UE_CONTACT, proxy.contact])
    for notify, _ in sent:
        doc = body(notify)
        assert doc.version == 1 and state_of(notify).startswith("active")
        assert contacts(doc) == {UE_CONTACT: ("active", "refreshed", 600)}
        h.reply(notify, 200)
    # A re-registration never opens another NOTIFY stream: still two subscriptions.
    assert h.subscription_count() == 2
    register(h)
    assert len(h.notifies()) == 2


def test_subscribers_at_other_versions_get_the_same_state(h: RegHarness) -> None:
    ue = Watcher()
    ue.join(h)
    h.now += 100
    register(h)
    one_notify(h)  # the UE's subscription moves on to version 2
    pcscf().join(h)
    h.now += 100
    register(h)
    docs = sorted((body(n) for n, _ in h.notifies()), key=lambda d: d.version)
    assert [d.version for d in docs] == [1, 2]
    assert docs[0].registrations == docs[1].registrations
    assert contacts(docs[0]) == {UE_CONTACT: ("active", "refreshed", 600)}


def test_a_new_contact_is_registered_the_other_unchanged(h: RegHarness) -> None:
    Watcher().join(h)
    second = Ue(contact=CONTACT_2, call_id="reg-2@ue")
    register(h, second)
    _, doc = one_notify(h)
    assert contacts(doc) == {UE_CONTACT: ("active", "registered", 600),
                             CONTACT_2: ("active", "registered", 600)}
    assert {r.aor for r in doc.registrations} == implicit_set()


def test_network_reauthentication_shortens(h: RegHarness) -> None:
    Watcher().join(h)
    h.core.reauthenticate(record(h), 30, h.now)
    _, doc = one_notify(h)
    assert contacts(doc) == {UE_CONTACT: ("active", "shortened", 30)}
    h.tick(31)  # the UE did not register again: expired
    _, last = one_notify(h)
    assert contacts(last) == {UE_CONTACT: ("terminated", "expired", 0)}


def test_one_contact_expiring_leaves_the_registration_active(h: RegHarness) -> None:
    register(h, Ue(contact=CONTACT_2, call_id="reg-2@ue"), expires=300)
    Watcher().join(h)
    h.tick(301)
    notify, doc = one_notify(h)
    assert state_of(notify).startswith("active")
    assert doc.registration(IMPU) is not None
    assert doc.registration(IMPU).state == "active"  # type: ignore[union-attr]
    assert contacts(doc) == {UE_CONTACT: ("active", "registered", 299),
                             CONTACT_2: ("terminated", "expired", 0)}


def test_expiry_of_the_last_contact_ends_registration_and_subscriptions(h: RegHarness) -> None:
    ue, proxy = Watcher(), pcscf()
    ue.join(h)
    proxy.join(h)
    h.tick(601)
    sent = h.notifies()
    assert len(sent) == 2
    for notify, _ in sent:
        assert state_of(notify) == "terminated;reason=noresource"  # RFC 6665 §4.1.3
        doc = body(notify)
        assert {r.aor for r in doc.registrations} == implicit_set()
        assert all(r.state == "terminated" for r in doc.registrations)
        assert contacts(doc) == {UE_CONTACT: ("terminated", "expired", 0)}
    assert h.core.store.get(IMPU) is None and h.subscription_count() == 0
    assert h.hss.sar_types()[-1] == AssignmentType.TIMEOUT_DEREGISTRATION
    assert h.rx_from(ue.subscribe(), PCSCF).status == 481  # the dialog is gone


def test_user_deregistration_of_one_contact_then_the_last(h: RegHarness) -> None:
    second = Ue(contact=CONTACT_2, call_id="reg-2@ue")
    register(h, second)
    Watcher().join(h)
    register(h, second, expires=0)
    notify, doc = one_notify(h)
    assert state_of(notify).startswith("active")
    assert contacts(doc) == {UE_CONTACT: ("active", "registered", 600),
                             CONTACT_2: ("terminated", "unregistered", 0)}
    register(h, expires=0)
    notify, doc = one_notify(h)
    assert state_of(notify).startswith("terminated")
    assert all(r.state == "terminated" for r in doc.registrations)
    assert contacts(doc) == {UE_CONTACT: ("terminated", "unregistered", 0)}
    assert h.subscription_count() == 0
    assert h.hss.sar_types()[-1] == AssignmentType.USER_DEREGISTRATION


@pytest.mark.parametrize("event", ["rejected", "deactivated"])
def test_network_deregistration_says_terminated_never_active(h: RegHarness,
                                                             event: str) -> None:
    ue, proxy = Watcher(), pcscf()
    ue.join(h)
    proxy.join(h)
    sars = len(h.hss.sar_types())
    h.core.network_deregister(record(h), h.now, event=event)
    sent = h.notifies()
    assert len(sent) == 2
    for notify, _ in sent:
        assert state_of(notify).startswith("terminated")
        doc = body(notify)
        assert doc.version == 1
        assert {r.aor for r in doc.registrations} == implicit_set()
        for reg in doc.registrations:
            assert reg.state == "terminated"
            assert [(c.state, c.event) for c in reg.contacts] == [("terminated", event)]
        h.reply(notify, 200)
    assert h.core.store.get(IMPU) is None and h.subscription_count() == 0
    assert len(h.hss.sar_types()) == sars  # the HSS asked: no SAR
    # Nothing afterwards says "active" on those dialogs: timers, refreshes, a new
    # registration of the same user.
    h.tick(700)
    assert h.rx_from(ue.subscribe(), PCSCF).status == 481
    h.ue = Ue(call_id="reg-again@ue")
    register(h)
    assert h.notifies() == []


def test_network_deregistration_with_a_sar(h: RegHarness) -> None:
    h.core.network_deregister(record(h), h.now, sar=AssignmentType.USER_DEREGISTRATION)
    assert h.notifies() == []  # nobody subscribed (and the output is collected)
    assert h.hss.sar_types()[-1] == AssignmentType.USER_DEREGISTRATION
    assert h.core.store.get(IMPU) is None


def new_profile(h: RegHarness, *, extra: str | None = None, drop: str | None = None,
                bar: str | None = None) -> Profile:
    old = record(h).profile
    assert old is not None
    ids = [PublicIdentity(p.identity, barred=p.key == bar)
           for p in old.service_profiles[0].identities if p.key != drop]
    if extra is not None:
        ids.append(PublicIdentity(extra))
    return Profile(old.private_id, (ServiceProfile(tuple(ids)),))


def test_profile_update_notifies_the_new_implicit_set(h: RegHarness) -> None:
    Watcher().join(h)
    extra = f"sip:extra@{DOMAIN}"
    h.core.update_profile(record(h), new_profile(h, extra=extra), h.now)
    notify, doc = one_notify(h)
    assert state_of(notify).startswith("active") and doc.version == 1
    assert {r.aor for r in doc.registrations if r.state == "active"} == implicit_set() | {extra}
    assert contacts(doc, extra) == {UE_CONTACT: ("active", "created", 600)}
    assert contacts(doc) == {UE_CONTACT: ("active", "registered", 600)}
    assert h.core.store.get(extra) is record(h)  # routable under the new identity
    # The identity removed again: terminated, rejected; the rest stays active.
    h.core.update_profile(record(h), new_profile(h, drop=extra), h.now)
    _, doc = one_notify(h)
    gone = doc.registration(extra)
    assert gone is not None and gone.state == "terminated"
    assert [(c.state, c.event) for c in gone.contacts] == [("terminated", "rejected")]
    assert h.core.store.get(extra) is None
    # The same profile again changes nothing: no NOTIFY.
    h.core.update_profile(record(h), new_profile(h), h.now)
    assert h.notifies() == []


def test_profile_update_barring_the_subscriber_ends_its_subscription(h: RegHarness) -> None:
    by_msisdn, proxy = Watcher(identity=MSISDN_SIP), pcscf()
    by_msisdn.join(h)
    proxy.join(h)
    h.core.update_profile(record(h), new_profile(h, bar=MSISDN_SIP), h.now)
    sent = {str(n.uri): n for n, _ in h.notifies()}
    final = sent[UE_CONTACT]
    assert state_of(final) == "terminated;reason=rejected"
    assert body(final).registrations == ()  # it may no longer see the state
    doc = body(sent[proxy.contact])
    barred = doc.registration(MSISDN_SIP)
    assert barred is not None and barred.state == "terminated"
    assert {r.aor for r in doc.registrations if r.state == "active"} == (
        implicit_set() - {MSISDN_SIP})
    assert h.subscription_count() == 1


def test_no_subscription_no_reg_event_work(h: RegHarness,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A registration nobody subscribes to: the REGISTER path copies and compares
    nothing, and no NOTIFY is built."""

    def boom(*args: object) -> object:
        raise AssertionError("reg-event work without a subscription")

    monkeypatch.setattr(regevent, "change_since", boom)
    monkeypatch.setattr(regevent, "registrations", boom)
    register(h)  # refresh
    register(h, Ue(contact=CONTACT_2, call_id="reg-2@ue"))  # a new contact
    register(h, expires=0)  # one contact goes
    h.core.update_profile(record(h), new_profile(h, extra=f"sip:x@{DOMAIN}"), h.now)
    h.tick(601)  # the last one expires
    assert h.core.store.get(IMPU) is None and h.notifies() == []
    assert regevent.snapshot(None) is None


def test_reginfo_ids_are_stable_and_kept_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 3680 §5.2: the same registration or contact keeps its id; they are worked out
    once per text and kept, within a bound."""
    first = regevent._id("sip:a@b", "key")
    assert first == regevent._id("sip:a@b", "key") == hashlib.blake2s(
        b"sip:a@b\nkey", digest_size=6).hexdigest()
    assert regevent._id("sip:a@b") != first
    monkeypatch.setattr(regevent, "_IDS_MAX", 50)
    for i in range(regevent._IDS_MAX + 5):
        regevent._id(f"sip:{i}@b")
    assert len(regevent._IDS) <= regevent._IDS_MAX
    assert regevent._id("sip:a@b", "key") == first
