"""The store contract, run against SQLite and PostgreSQL (see conftest)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hss import sqn as sqnmod
from hss.model import Ifc, RegState, Spt
from hss.store.base import DuplicateError, Store, StoreError, UnknownSubscriber
from hss.store.migrations import LATEST
from hss.store.sqlite import SqliteStore
from tests.hss.conftest import subscriber


def test_schema_is_migrated(store: Store) -> None:
    assert store.schema_version() == LATEST


def test_add_and_lookups(store: Store) -> None:
    ifc = Ifc(10, "sip:as.example:5060", spts=(Spt(method="MESSAGE"),))
    s = subscriber(ifcs=(ifc,), ha1="0" * 32, schemes=("akav1", "md5"), sqn=0x21)
    assert store.add([s]) == 1
    got = store.get(s.imsi)
    assert got == s
    assert store.by_impi(s.impi) == s
    for impu in s.impu_names:
        assert store.by_impu(impu) == s
    assert store.by_impu("sip:nobody@example") is None
    assert store.by_impi("nobody@example") is None
    assert store.get("001019999999999") is None


def test_duplicates_rejected_atomically(store: Store) -> None:
    store.add([subscriber()])
    with pytest.raises(DuplicateError):
        store.add([subscriber("001010000000002", msisdn=None), subscriber()])
    assert store.count() == 1  # the first of the failed batch was rolled back
    # Same IMPU under another IMSI is a duplicate too.
    with pytest.raises(DuplicateError):
        store.add([subscriber("001010000000003")])


def test_replace_list_delete(store: Store) -> None:
    store.add([subscriber(f"00101000000000{i}", msisdn=f"1555000000{i}") for i in range(1, 4)])
    store.add([subscriber("001010000000002", msisdn="15550000002", barred=True)], replace=True)
    subs = store.subscribers()
    assert [s.imsi for s in subs] == [f"00101000000000{i}" for i in range(1, 4)]
    assert subs[1].barred
    assert [s.imsi for s in store.subscribers(limit=2)] == subs_imsis(subs)[:2]
    assert store.delete("001010000000002")
    assert not store.delete("001010000000002")
    assert store.count() == 2
    assert store.by_impu("tel:+15550000002") is None


def subs_imsis(subs: list) -> list[str]:  # type: ignore[type-arg]
    return [s.imsi for s in subs]


def test_next_sqns_batches(store: Store) -> None:
    store.add([subscriber(sqn=sqnmod.join(41, 30))])
    first = store.next_sqns("001010000000001", 3)
    assert [sqnmod.split(x) for x in first] == [(42, 31), (43, 0), (44, 1)]
    second = store.next_sqns("001010000000001", 1)
    assert sqnmod.split(second[0]) == (45, 2)
    got = store.get("001010000000001")
    assert got is not None and got.sqn == second[0]
    with pytest.raises(UnknownSubscriber):
        store.next_sqns("001019999999999", 1)
    with pytest.raises(ValueError):
        store.next_sqns("001010000000001", 0)


def test_resync_forward_only(store: Store) -> None:
    store.add([subscriber(sqn=sqnmod.join(100, 7))])
    assert sqnmod.split(store.resync("001010000000001", sqnmod.join(50, 3))) == (100, 7)
    assert sqnmod.split(store.resync("001010000000001", sqnmod.join(900, 3))) == (900, 7)
    assert sqnmod.split(store.next_sqns("001010000000001", 1)[0]) == (901, 8)
    with pytest.raises(UnknownSubscriber):
        store.resync("001019999999999", 1)


def test_update_registration(store: Store) -> None:
    s = subscriber()
    store.add([s])
    store.update_registration(
        s.imsi, {s.impus[0].impu: RegState.REGISTERED}, scscf_name="sip:scscf:5060"
    )
    got = store.get(s.imsi)
    assert got is not None
    assert got.scscf_name == "sip:scscf:5060"
    assert [p.state for p in got.impus] == [RegState.REGISTERED] + [RegState.NOT_REGISTERED] * 2
    store.update_registration(s.imsi, {s.impus[1].impu: RegState.UNREGISTERED})  # name kept
    got = store.get(s.imsi)
    assert got is not None and got.scscf_name == "sip:scscf:5060"
    assert got.impus[1].state == RegState.UNREGISTERED
    store.update_registration(s.imsi, {}, scscf_name=None)
    got = store.get(s.imsi)
    assert got is not None and got.scscf_name is None
    with pytest.raises(UnknownSubscriber):
        store.update_registration("001019999999999", {}, scscf_name=None)


def test_sqn_unique_across_threads(store: Store) -> None:
    store.add([subscriber()])
    out: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(40):
                got = store.next_sqns("001010000000001", 3)
                with lock:
                    out.extend(got)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(out) == 6 * 40 * 3
    assert len(set(out)) == len(out)


_ALLOCATOR = """
import sys
from hss.store.postgres import PostgresStore
from hss.store.sqlite import SqliteStore
s = PostgresStore(sys.argv[1]) if "=" in sys.argv[1] else SqliteStore(sys.argv[1])
for _ in range(int(sys.argv[2])):
    print(*s.next_sqns("001010000000001", 2), flush=True)
s.close()
"""


def _allocate_in_processes(target: str, processes: int = 3, rounds: int = 150) -> list[int]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ALLOCATOR, target, str(rounds)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for _ in range(processes)
    ]
    values: list[int] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        values += [int(x) for x in out.split()]
    assert len(values) == processes * rounds * 2
    return values


def test_sqlite_sqn_unique_across_processes(tmp_path: Path) -> None:
    """Several HSS processes on one SQLite file never hand out the same SQN."""
    db = tmp_path / "hss.sqlite"
    s = SqliteStore(db)
    s.add([subscriber()])
    s.close()
    values = _allocate_in_processes(str(db))
    assert len(set(values)) == len(values)
    s = SqliteStore(db)
    got = s.get("001010000000001")
    assert got is not None and got.sqn == max(values)  # survives restarts
    s.close()


def test_postgres_sqn_unique_across_processes(pg_dsn: str) -> None:
    """Stateless HSS fronts on one PostgreSQL database never share an SQN."""
    from hss.store.postgres import PostgresStore
    from tests.hss.conftest import reset_pg

    reset_pg(pg_dsn)
    s = PostgresStore(pg_dsn)
    s.add([subscriber()])
    values = _allocate_in_processes(pg_dsn)
    assert len(set(values)) == len(values)
    got = s.get("001010000000001")
    assert got is not None and got.sqn == max(values)
    s.close()


def test_sqlite_file_in_wal_mode_and_reopen(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "hss.sqlite"
    s = SqliteStore(db)
    s.add([subscriber()])
    s.next_sqns("001010000000001", 5)
    s.close()
    s = SqliteStore(db)  # re-open: migrations are idempotent, data and SQN persist
    got = s.get("001010000000001")
    assert got is not None and sqnmod.split(got.sqn)[0] == 5
    conn = s._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()


def test_newer_schema_refused(tmp_path: Path) -> None:
    db = tmp_path / "hss.sqlite"
    s = SqliteStore(db)
    with s._tx() as cur:
        cur.execute("INSERT INTO schema_version (version) VALUES (999)")
    s.close()
    with pytest.raises(StoreError, match="newer"):
        SqliteStore(db)


def test_sqn_arithmetic_is_64_bit(store: Store) -> None:
    """Large SEQ values (and small bound parameters) must not overflow in SQL."""
    top = sqnmod.join((1 << 43) - 10, 30)
    store.add([subscriber(sqn=sqnmod.join(1, 0))])
    assert store.resync("001010000000001", top) == sqnmod.join((1 << 43) - 10, 0)
    got = store.next_sqns("001010000000001", 2)
    assert [sqnmod.split(x) for x in got] == [((1 << 43) - 9, 1), ((1 << 43) - 8, 2)]
    with pytest.raises(sqnmod.SqnExhausted):
        store.next_sqns("001010000000001", 20)
    got_sub = store.get("001010000000001")
    assert got_sub is not None and got_sub.sqn == got[-1]  # nothing stored on failure
