"""The SQLite store keeps the subscribers it read inside batches for its later batches —
and reads them anew whenever they may have changed: its own writes, a savepoint or batch
rolled back, any commit by another connection (another process, another thread)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hss import sqn as sqnmod
from hss.model import PublicIdentity, RegState, Subscriber
from hss.store.base import StoreBusy, StoreError
from hss.store.cache import SubscriberCache
from hss.store.sqlite import SqliteStore
from tests.hss.conftest import subscriber

IMSI = "001010000000001"


class Counting(SqliteStore):
    """Counts the SELECTs that build a subscriber."""

    selects = 0

    def _fetch_all(self, sql: str, params: tuple[object, ...]) -> list[object]:  # type: ignore[override]
        if sql in (self._by_imsi, self._by_impi, self._by_impu):
            self.selects += 1
        return super()._fetch_all(sql, params)  # type: ignore[return-value]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Counting]:
    s = Counting(tmp_path / "hss.sqlite")
    s.add([subscriber(), subscriber("001010000000002", "15550000002")])
    yield s
    s.close()


def read(store: SqliteStore, how: str = "impi") -> Subscriber:
    with store.batch():
        sub = (store.by_impi(subscriber().impi) if how == "impi"
               else store.by_impu(subscriber().impus[0].impu) if how == "impu"
               else store.get(IMSI))  # fmt: skip
    assert sub is not None
    return sub


def test_kept_across_batches_and_only_inside_them(store: Counting) -> None:
    first = read(store)
    assert read(store) is first and store.selects == 1
    read(store, "impu")
    read(store, "imsi")
    assert store.selects == 3  # one per kind of look-up
    assert read(store, "impu") is not None and store.selects == 3
    store.by_impi(subscriber().impi)  # outside a batch: always read
    store.by_impi(subscriber().impi)
    assert store.selects == 5


def test_own_sqn_update_is_seen(store: Counting) -> None:
    read(store)
    with store.batch():
        [sqn] = store.next_sqns(IMSI, 1)
    after = read(store)
    assert after.sqn == sqn and store.selects == 1
    with store.batch():
        store.resync(IMSI, sqnmod.join(1000, 0))
    assert read(store).sqn >> store.ind_bits == 1000
    fresh = SqliteStore(store.path)
    assert fresh.get(IMSI) == read(store)
    fresh.close()


def test_own_writes_in_or_out_of_batches_are_seen(store: Counting) -> None:
    read(store)
    impu = subscriber().impus[0].impu
    with store.batch():
        store.update_registration(IMSI, {impu: RegState.REGISTERED}, scscf_name="sip:s1")
    got = read(store)
    assert got.scscf_name == "sip:s1" and got.identity(impu) is not None
    assert got.state is RegState.REGISTERED
    store.update_registration(IMSI, {}, scscf_name="sip:s2")  # not in a batch
    assert read(store).scscf_name == "sip:s2"
    moved = (*subscriber().impus, PublicIdentity("sip:extra@ims.example"))
    store.update_profile(subscriber(impus=moved, barred=True))
    got = read(store)
    assert got.barred and got.identity("sip:extra@ims.example") is not None
    store.delete(IMSI)
    with store.batch():
        assert store.by_impi(subscriber().impi) is None


def test_another_connection_commits_are_seen(store: Counting) -> None:
    read(store, "impu")
    other = SqliteStore(store.path)  # another process, as far as SQLite can tell
    other.update_registration(IMSI, {}, scscf_name="sip:elsewhere")
    other.next_sqns(IMSI, 3)
    other.close()
    got = read(store, "impu")
    assert got.scscf_name == "sip:elsewhere" and got.sqn >> store.ind_bits == 3


def test_another_thread_commits_are_seen(store: Counting) -> None:
    read(store)
    t = threading.Thread(target=store.update_registration, args=(IMSI, {}),
                         kwargs={"scscf_name": "sip:from-a-thread"})  # its own connection
    t.start()
    t.join()
    assert read(store).scscf_name == "sip:from-a-thread"


def test_rolled_back_savepoint_and_batch_forget(store: Counting) -> None:
    before = read(store)
    with store.batch(), pytest.raises(RuntimeError), store.savepoint():
        store.next_sqns(IMSI, 1)  # one atomic statement: no savepoint of its own
        store.update_registration(IMSI, {}, scscf_name="sip:half-done")
        raise RuntimeError("the handler failed after its writes")
    got = read(store)
    # The other write is rolled back, and not remembered; the SQN reserved stays reserved
    # (never handed out: harmless, TS 33.102 Annex C only needs SQNs to increase).
    assert got.scscf_name == before.scscf_name
    assert got.sqn == sqnmod.advance(before.sqn, 1, store.ind_bits)
    before = got
    with store.batch(), pytest.raises(RuntimeError), store.savepoint():
        store.update_registration(IMSI, {}, scscf_name="sip:half-done")
        store.next_sqns(IMSI, 1)  # after a write: inside the savepoint, undone with it
        raise RuntimeError("the handler failed after its writes")
    assert read(store) == before
    with store.batch(), store.savepoint():
        assert store.next_sqns(IMSI, 1) == [sqnmod.advance(before.sqn, 1, store.ind_bits)]
    before = read(store)
    with pytest.raises(RuntimeError), store.batch():
        store.next_sqns(IMSI, 1)
        raise RuntimeError("the batch failed")
    assert read(store).sqn == before.sqn


def test_read_only_batches_share_the_cache_and_see_other_commits(store: Counting) -> None:
    first = read(store)
    with store.reading():  # no write lock, same kept subscribers
        assert store.by_impi(subscriber().impi) is first
    assert store.selects == 1
    other = SqliteStore(store.path)
    other.update_registration(IMSI, {}, scscf_name="sip:elsewhere")
    with store.reading():
        got = store.by_impi(subscriber().impi)
        assert got is not None and got.scscf_name == "sip:elsewhere"
        # One snapshot for the whole batch: a commit made meanwhile is not seen in it,
        # neither through the kept subscriber nor through a new read.
        other.update_registration(IMSI, {}, scscf_name="sip:later")
        assert store.by_impi(subscriber().impi) is got
        again = store.get(IMSI)
        assert again is not None and again.scscf_name == "sip:elsewhere"
    other.close()
    assert read(store).scscf_name == "sip:later"


def test_a_read_only_batch_neither_writes_nor_waits_for_the_write_lock(
    store: Counting,
) -> None:
    holder = SqliteStore(store.path)
    with holder.batch():  # another connection holds the write lock throughout
        with store.reading():
            assert store.by_impi(subscriber().impi) is not None
            with pytest.raises(StoreError, match="read-only"):
                store.next_sqns(IMSI, 1)
            with pytest.raises(StoreError, match="read-only"):
                store.update_registration(IMSI, {}, scscf_name="sip:nope")
        holder.next_sqns(IMSI, 1)
    holder.close()
    got = read(store)
    assert got.sqn >> store.ind_bits == 1 and got.scscf_name is None


def test_sqns_in_a_batch_come_from_the_row_even_if_what_was_kept_is_stale(
    store: Counting,
) -> None:
    """In a batch next_sqns sets the SQN after the kept one by compare-and-set; were the
    kept SQN ever not the stored one, nothing is written by it and the row decides."""
    read(store)
    with store.batch():
        [first] = store.next_sqns(IMSI, 1)  # from the kept SQN 0
        assert first == sqnmod.join(1, 1)
        store._cache().sqn_changed(IMSI, sqnmod.join(7, 3))  # as if a write went unseen
        second, third = store.next_sqns(IMSI, 2)
    assert (second, third) == (sqnmod.join(2, 2), sqnmod.join(3, 3))
    assert read(store).sqn == third
    other = SqliteStore(store.path)
    stored = other.get(IMSI)
    other.close()
    assert stored is not None and stored.sqn == third


def test_a_registration_that_changes_nothing_writes_nothing(store: Counting) -> None:
    """A re-registration's SAR sets what is stored: in a batch nothing is written and the
    subscriber stays kept; any difference is written as before."""
    impus = [p.impu for p in subscriber().impus]
    registered = dict.fromkeys(impus, RegState.REGISTERED)
    with store.batch():
        store.update_registration(IMSI, registered, scscf_name="sip:s1", scscf_host="s1.h")
    before = read(store)
    selects = store.selects
    with store.batch():
        store.update_registration(IMSI, registered, scscf_name="sip:s1", scscf_host="s1.h")
        store.update_registration(IMSI, {impus[0]: RegState.REGISTERED}, scscf_name="sip:s1")
    assert read(store) is before and store.selects == selects
    with store.batch():
        store.update_registration(IMSI, {impus[0]: RegState.UNREGISTERED})
    after = read(store)
    assert after.identity(impus[0]).state is RegState.UNREGISTERED  # type: ignore[union-attr]
    with store.batch():
        store.update_registration(IMSI, {}, scscf_name="sip:s2")
    assert (read(store).scscf_name, read(store).scscf_host) == ("sip:s2", None)


def test_cache_is_bounded() -> None:
    cache = SubscriberCache(max_entries=2)
    subs = [subscriber(f"00101000000000{i}") for i in range(3)]
    for i, s in enumerate(subs):
        cache.put(("q", str(i)), s)
    assert cache.get(("q", "0")) is None and cache.get(("q", "2")) is subs[2]


def _stored(store: SqliteStore) -> Subscriber:
    """The subscriber as another connection reads it from the file."""
    other = SqliteStore(store.path)
    try:
        sub = other.get(IMSI)
    finally:
        other.close()
    assert sub is not None
    return sub


def test_a_registration_written_in_a_batch_is_kept_as_stored(tmp_path: Path) -> None:
    """A batch's registration update stores what the same update outside a batch stores,
    and keeps the subscriber it wrote (no read after the write), field for field as
    stored, for every way of naming the S-CSCF and its host."""
    store = Counting(tmp_path / "hss.sqlite")
    plain = SqliteStore(tmp_path / "plain.sqlite")  # the same updates, outside batches
    # A host without a name (imported so): a name of None then drops the host too.
    for s in (store, plain):
        s.add([subscriber(scscf_host="old.h")])
    impus = [p.impu for p in subscriber().impus]
    r, u, n = RegState.REGISTERED, RegState.UNREGISTERED, RegState.NOT_REGISTERED
    steps: list[tuple[dict[str, RegState], dict[str, str | None]]] = [
        ({}, {"scscf_name": None}),
        ({}, {"scscf_name": "sip:s1"}),  # as a MAR assigns: no host yet
        (dict.fromkeys(impus, r), {"scscf_name": "sip:s1", "scscf_host": "s1.h"}),
        ({impus[0]: u, "sip:not-one-of-them@ims.example": n}, {}),
        ({}, {"scscf_name": "sip:s1"}),  # the same name keeps the host
        ({impus[1]: r}, {"scscf_name": "sip:s2"}),  # another name drops it
        ({}, {"scscf_host": "s2.h"}),
        (dict.fromkeys(impus, n), {"scscf_name": None}),
    ]
    try:
        read(store)
        for states, names in steps:
            selects = store.selects
            with store.batch():
                store.update_registration(IMSI, states, **names)
            plain.update_registration(IMSI, states, **names)
            assert _stored(store) == plain.get(IMSI), (states, names)
            assert read(store) == _stored(store)
            assert store.selects == selects, (states, names)
        assert (read(store).scscf_name, read(store).scscf_host) == (None, None)
    finally:
        plain.close()
        store.close()


def test_a_batch_waits_briefly_for_the_lock_and_everything_else_fully(tmp_path: Path) -> None:
    """Batches on the event loop wait at most BATCH_BUSY_MS for another process's lock
    (then :class:`StoreBusy`); a write outside a batch on the same thread and connection
    afterwards still waits as long as it must."""
    store = SqliteStore(tmp_path / "hss.sqlite")
    store.add([subscriber()])
    holder = sqlite3.connect(tmp_path / "hss.sqlite", isolation_level=None,
                             check_same_thread=False)  # committed from a timer thread

    def timeout() -> int:
        return int(store._conn().execute("PRAGMA busy_timeout").fetchone()[0])

    try:
        with store.reading():
            assert store.get(IMSI) is not None
        assert timeout() == store.BATCH_BUSY_MS
        assert store.count() == 1
        assert timeout() == store._busy
        with store.batch():
            store.next_sqns(IMSI, 1)
        holder.execute("BEGIN IMMEDIATE")  # another process takes the write lock
        started = time.monotonic()
        with pytest.raises(StoreBusy), store.batch():
            pass
        assert time.monotonic() - started < 1
        release = threading.Timer(0.3, holder.execute, args=("COMMIT",))
        release.start()
        started = time.monotonic()
        store.update_registration(IMSI, {}, scscf_name="sip:after-the-wait")
        release.join()
        assert time.monotonic() - started >= 0.25
        assert timeout() == store._busy
        assert _stored(store).scscf_name == "sip:after-the-wait"
    finally:
        holder.close()
        store.close()
