"""What the provisioning API needs from the store — keyset paging with filters, the
authentication data, setting the SQN — on SQLite and PostgreSQL (see conftest)."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from hss import sqn as sqnmod
from hss.model import PublicIdentity, RegState, Subscriber
from hss.store import MAX_PAGE, Store, SubscriberQuery, UnknownSubscriber
from tests.hss.conftest import DOMAIN, subscriber

SCSCF = f"sip:scscf.{DOMAIN}:5060"


def _many(store: Store, n: int) -> list[Subscriber]:
    subs = [subscriber(f"0010100000{i:05d}", msisdn=f"1555{i:07d}") for i in range(1, n + 1)]
    store.add(subs)
    return subs


def _imsis(subs: list[Subscriber]) -> list[str]:
    return [s.imsi for s in subs]


def test_keyset_pages_cover_everything_once(store: Store) -> None:
    subs = _many(store, 7)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = store.page(SubscriberQuery(limit=3, after=after))
        pages += 1
        seen += _imsis(page.subscribers)
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == _imsis(subs) and pages == 3
    first = store.page(SubscriberQuery(limit=3))
    assert first.subscribers == subs[:3]  # whole subscribers, identities in order
    # Stable: a subscriber added before the cursor does not shift the next page.
    store.add([subscriber("001010000000000", msisdn=None)])
    again = store.page(SubscriberQuery(limit=3, after=first.next_after))
    assert _imsis(again.subscribers) == _imsis(subs[3:6])
    # A page that ends exactly at the last subscriber says there may be more: the next
    # one is empty and final.
    last = store.page(SubscriberQuery(limit=2, after=subs[4].imsi))
    assert _imsis(last.subscribers) == _imsis(subs[5:]) and last.next_after == subs[6].imsi
    assert store.page(SubscriberQuery(limit=2, after=subs[6].imsi)).subscribers == []


def test_page_filters(store: Store) -> None:
    subs = _many(store, 5)
    store.add([subscriber("001020000000001", msisdn=None, barred=True, impus=(
        PublicIdentity("sip:barred@example.org", barred=True),))])
    q = SubscriberQuery
    assert _imsis(store.page(q(imsi_prefix="00102")).subscribers) == ["001020000000001"]
    assert len(store.page(q(imsi_prefix="00101")).subscribers) == 5
    assert store.page(q(imsi_prefix="9")).subscribers == []
    assert _imsis(store.page(q(msisdn="15550000003")).subscribers) == [subs[2].imsi]
    assert _imsis(store.page(q(impu="tel:+15550000004")).subscribers) == [subs[3].imsi]
    assert _imsis(store.page(q(barred=True)).subscribers) == ["001020000000001"]
    assert len(store.page(q(barred=False)).subscribers) == 5
    # Registration state, as Subscriber.state says it.
    store.update_registration(subs[0].imsi, {subs[0].impus[0].impu: RegState.REGISTERED,
                                             subs[0].impus[1].impu: RegState.UNREGISTERED},
                              scscf_name=SCSCF)
    store.update_registration(subs[1].imsi, {subs[1].impus[2].impu: RegState.UNREGISTERED},
                              scscf_name=SCSCF)
    by_state = {st: _imsis(store.page(q(state=st)).subscribers) for st in RegState}
    assert by_state[RegState.REGISTERED] == [subs[0].imsi]
    assert by_state[RegState.UNREGISTERED] == [subs[1].imsi]
    assert by_state[RegState.NOT_REGISTERED] == [*_imsis(subs[2:]), "001020000000001"]
    for st, imsis in by_state.items():
        assert all(s.state == st for s in store.page(q(state=st)).subscribers), imsis
    # Filters combine, and combine with paging.
    assert _imsis(store.page(q(state=RegState.NOT_REGISTERED, barred=False, limit=2,
                                after=subs[2].imsi)).subscribers) == _imsis(subs[3:5])


def test_filter_values_are_parameters(store: Store) -> None:
    """LIKE wildcards and quotes in filter values match literally (nothing is built
    from them)."""
    _many(store, 3)
    q = SubscriberQuery
    for text in ("%", "_", "0010%", "!", "'; DROP TABLE subscribers; --"):
        assert store.page(q(imsi_prefix=text)).subscribers == []
        assert store.page(q(msisdn=text)).subscribers == []
        assert store.page(q(impu=text)).subscribers == []
    assert store.count() == 3


def test_page_limit_bounds() -> None:
    with pytest.raises(ValueError):
        SubscriberQuery(limit=0)
    with pytest.raises(ValueError):
        SubscriberQuery(limit=MAX_PAGE + 1)


def test_update_auth_changes_only_credentials(store: Store) -> None:
    s = subscriber(sqn=sqnmod.join(7, 3), ifcs=())
    store.add([s])
    store.update_registration(s.imsi, {s.impus[0].impu: RegState.REGISTERED}, scscf_name=SCSCF)
    new = dataclasses.replace(
        s, k=b"\x01" * 16, opc=b"\x02" * 16, op=None, amf=b"\x90\x01",
        schemes=("akav2", "md5"), ha1="ab" * 16, barred=True, sqn=0,
    )
    store.update_auth(new)
    got = store.get(s.imsi)
    assert got is not None
    assert (got.k, got.opc, got.op, got.amf, got.schemes, got.ha1) == (
        b"\x01" * 16, b"\x02" * 16, None, b"\x90\x01", ("akav2", "md5"), "ab" * 16)
    # Not touched: SQN, profile, registration.
    assert got.sqn == s.sqn and not got.barred and got.state == RegState.REGISTERED
    assert got.scscf_name == SCSCF
    with pytest.raises(UnknownSubscriber):
        store.update_auth(subscriber("001019999999999", msisdn=None))


def test_update_profile_stores_the_msisdn(store: Store) -> None:
    s = subscriber()
    store.add([s])
    store.update_profile(dataclasses.replace(s, msisdn="4912345"))
    got = store.get(s.imsi)
    assert got is not None and got.msisdn == "4912345"
    assert _imsis(store.page(SubscriberQuery(msisdn="4912345")).subscribers) == [s.imsi]


def test_set_sqn(store: Store) -> None:
    s = subscriber(sqn=sqnmod.join(500, 9))
    store.add([s])
    assert store.set_sqn(s.imsi, 0) == (s.sqn, 0)
    assert [sqnmod.split(x) for x in store.next_sqns(s.imsi, 2)] == [(1, 1), (2, 2)]
    top = (1 << sqnmod.SQN_BITS) - 1
    assert store.set_sqn(s.imsi, top)[1] == top
    got = store.get(s.imsi)
    assert got is not None and got.sqn == top
    with pytest.raises(ValueError):
        store.set_sqn(s.imsi, top + 1)
    with pytest.raises(ValueError):
        store.set_sqn(s.imsi, -1)
    with pytest.raises(UnknownSubscriber):
        store.set_sqn("001019999999999", 0)


def test_set_sqn_is_atomic_against_allocation(store: Store) -> None:
    """A reset racing MARs: every SQN handed out after the reset follows it, and each
    value handed out between two resets is unique."""
    s = subscriber()
    store.add([s])
    out: list[list[int]] = [[] for _ in range(3)]
    errors: list[BaseException] = []

    def allocate(i: int) -> None:
        try:
            for _ in range(60):
                out[i].extend(store.next_sqns(s.imsi, 1))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=allocate, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    before, now = store.set_sqn(s.imsi, sqnmod.join(10_000, 0))
    for t in threads:
        t.join()
    assert not errors
    assert now == sqnmod.join(10_000, 0) and before < now
    values = [v for part in out for v in part]
    after = [v for v in values if v > now]
    low = [v for v in values if v <= before]
    assert len(set(after)) == len(after) and len(set(low)) == len(low)
    assert len(after) + len(low) == len(values) == 180  # none between before and the reset
