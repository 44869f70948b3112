"""Store v3 on SQLite and PostgreSQL: the S-CSCF's Diameter host, profile updates and the
outbox of RTR/PPR (queue, claim once, finish, purge)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from hss import provision
from hss.model import Ifc, Push, PushKind, PushState, RegState
from hss.store.base import DuplicateError, Store, UnknownSubscriber
from hss.store.migrations import LATEST, MIGRATIONS
from hss.store.sqlite import SqliteStore
from tests.hss.conftest import DOMAIN, subscriber

IMSI = "001010000000001"
NAME, HOST = "sip:scscf:5060", "scscf.example"
R, U, N = RegState.REGISTERED, RegState.UNREGISTERED, RegState.NOT_REGISTERED


def host_and_name(store: Store) -> tuple[str | None, str | None]:
    s = store.get(IMSI)
    assert s is not None
    return s.scscf_name, s.scscf_host


def test_scscf_host_follows_its_name(store: Store) -> None:
    store.add([subscriber()])
    store.update_registration(IMSI, {}, scscf_name=NAME, scscf_host=HOST)
    assert host_and_name(store) == (NAME, HOST)
    store.update_registration(IMSI, {}, scscf_name=NAME)  # same name: host kept
    assert host_and_name(store) == (NAME, HOST)
    store.update_registration(IMSI, {})  # name kept: host kept
    assert host_and_name(store) == (NAME, HOST)
    store.update_registration(IMSI, {}, scscf_name="sip:other:5060")  # another S-CSCF's MAR
    assert host_and_name(store) == ("sip:other:5060", None)
    store.update_registration(IMSI, {}, scscf_name=NAME, scscf_host=HOST)
    store.update_registration(IMSI, {}, scscf_name=None)
    assert host_and_name(store) == (None, None)
    with pytest.raises(UnknownSubscriber):
        store.update_registration("001019999999999", {}, scscf_host=HOST)


def test_update_profile_keeps_keys_sqn_and_states(store: Store) -> None:
    s = subscriber()
    store.add([s, subscriber("001010000000002", msisdn="15550000002")])
    store.next_sqns(IMSI, 3)
    store.update_registration(IMSI, {p.impu: R for p in s.impus}, scscf_name=NAME,
                              scscf_host=HOST)  # fmt: skip
    stored = store.get(IMSI)
    assert stored is not None
    ifc = Ifc(7, "sip:as.example:5060")
    new = provision.updated(
        stored, ifcs=[ifc], add_impus=["sip:Alias@EXAMPLE.org;user=phone"],
        remove_impus=["tel:+1-555-000-0001"], bar=[s.impus[0].impu],
    )  # fmt: skip
    store.update_profile(new)
    got = store.get(IMSI)
    assert got is not None
    assert got == new
    assert got.sqn == stored.sqn and (got.scscf_name, got.scscf_host) == (NAME, HOST)
    assert got.impu_names == (s.impus[0].impu, s.impus[1].impu, "sip:Alias@example.org")
    assert [p.state for p in got.impus] == [R, R, R]  # the new one joins the registered set
    assert [p.barred for p in got.impus] == [True, False, False]
    assert got.ifcs == (ifc,)
    assert store.by_impu("tel:+15550000001") is None
    assert store.by_impu("sip:Alias@example.org") == got
    # Another subscriber's identity: refused, nothing changed.
    other = provision.updated(got, add_impus=["tel:+15550000002"])
    with pytest.raises(DuplicateError):
        store.update_profile(other)
    assert store.get(IMSI) == got
    gone = provision.updated(subscriber("001019999999999", msisdn=None), barred=True)
    with pytest.raises(UnknownSubscriber):
        store.update_profile(gone)


def _rtr(n: int = 0, impus: tuple[str, ...] = ()) -> Push:
    return Push(PushKind.RTR, f"00101000000{n:04d}", f"impi{n}@{DOMAIN}", HOST, impus,
                reason_code=2, reason_info="bye")  # fmt: skip


def test_outbox_round_trip(store: Store) -> None:
    assert store.claim_pushes(10, 1.0) == []
    a = store.queue_push(_rtr(1, ("sip:a@x", "tel:+1")), 1.0)
    b = store.queue_push(Push(PushKind.PPR, IMSI, "x@y", HOST), 1.5)
    assert b > a
    pending = store.get_push(a)
    assert pending is not None and pending.state == PushState.PENDING
    assert pending == Push(PushKind.RTR, "001010000000001", f"impi1@{DOMAIN}", HOST,
                           ("sip:a@x", "tel:+1"), 2, "bye", id=a)  # fmt: skip
    got = store.claim_pushes(10, 2.0)
    assert [p.id for p in got] == [a, b] and {p.state for p in got} == {PushState.SENT}
    assert got[1].kind == PushKind.PPR and got[1].impus == () and got[1].reason_code is None
    assert store.claim_pushes(10, 2.0) == []  # claimed once only
    store.finish_push(a, PushState.DONE, 3.0, result_code=2001)
    store.finish_push(b, PushState.FAILED, 9.0, experimental_code=5001, detail="why")
    done, failed = store.get_push(a), store.get_push(b)
    assert done is not None and (done.state, done.result_code) == (PushState.DONE, 2001)
    assert failed is not None and failed.state == PushState.FAILED
    assert (failed.experimental_code, failed.detail) == (5001, "why")
    assert store.get_push(999_999) is None
    # Purge: finished entries older than the cut; pending ones never.
    c = store.queue_push(_rtr(3), 1.0)
    assert store.purge_pushes(5.0) == 1
    assert store.get_push(a) is None and store.get_push(b) is not None
    assert store.get_push(c) is not None


def test_claims_are_disjoint_across_threads(store: Store) -> None:
    ids = {store.queue_push(_rtr(i), 1.0) for i in range(60)}
    got: list[int] = []
    lock = threading.Lock()

    def claimer() -> None:
        while True:
            batch = store.claim_pushes(4, 2.0)
            if not batch:
                return
            with lock:
                got.extend(p.id for p in batch)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(ids)


def test_the_poll_reads_an_index(tmp_path: Path) -> None:
    """The poll costs one look into the partial index, whatever the outbox's history."""
    store = SqliteStore(tmp_path / "hss.sqlite")
    conn = store._conn()
    plan = conn.execute("EXPLAIN QUERY PLAN SELECT id FROM cx_outbox WHERE state = 'pending' "
                        "ORDER BY id LIMIT 1").fetchall()  # fmt: skip
    assert "cx_outbox_pending" in " ".join(str(r) for r in plan)
    store.close()


def test_v2_database_migrates(tmp_path: Path) -> None:
    """A store written by the previous version gains the host column and the outbox."""
    db = tmp_path / "hss.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version, sqlite_sql, _ in MIGRATIONS[:2]:
        for stmt in sqlite_sql:
            conn.execute(stmt)
        conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
    s = subscriber()
    conn.execute(
        "INSERT INTO subscribers (imsi, impi, k, opc, amf, schemes, scscf_name) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", (s.imsi, s.impi, s.k, s.opc, s.amf, "akav1", NAME),
    )  # fmt: skip
    conn.execute("INSERT INTO public_identities (impu, imsi, position, reg_state) "
                 "VALUES (?, ?, 0, 1)", (s.impus[0].impu, s.imsi))  # fmt: skip
    conn.commit()
    conn.close()
    store = SqliteStore(db)
    assert store.schema_version() == LATEST
    got = store.get(IMSI)
    assert got is not None and (got.scscf_name, got.scscf_host) == (NAME, None)
    assert got.state == R
    assert store.queue_push(_rtr(), 1.0) >= 1
    store.close()
