"""SQLite store: one file under the data directory, WAL mode, no server.

Writes take the database lock up front (``BEGIN IMMEDIATE``) so two HSS processes on
one file serialise their SQN updates instead of failing on lock upgrade.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from hss import sqn as sqnmod
from hss.model import PublicIdentity, RegState, Subscriber
from hss.store.base import KEEP, StoreBusy, StoreError, _Keep
from hss.store.cache import SubscriberCache, with_fields
from hss.store.sql import Cursor, SqlStore


class SqliteStore(SqlStore):
    def __init__(
        self,
        path: str | Path,
        *,
        ind_bits: int = 5,
        busy_timeout_ms: int = 10_000,
        synchronous: str = "normal",
    ) -> None:
        super().__init__(ind_bits=ind_bits)
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be normal or full")
        self._sync = synchronous.upper()
        self._write_lock = threading.Lock()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy = busy_timeout_ms
        self.migrate()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy)}")
        conn.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL: a commit survives a crash of the process, not of the machine.
        conn.execute(f"PRAGMA synchronous = {self._sync}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    # -- group commit on the event loop ----------------------------------------------------
    # A local SQLite call costs microseconds, but handing it to a worker thread costs a GIL
    # hand-over per statement (sqlite3 releases the GIL around each step), which dominated
    # the MAR cost. So the server runs each loop iteration's requests here, in one
    # transaction, and only falls back to threads when another process holds the lock.
    inline = True
    BATCH_BUSY_MS = 20  # the longest the event loop may wait for another process's lock

    def _mode(self) -> int:
        """_BATCH inside :meth:`batch`, _READING inside :meth:`reading`, else 0."""
        mode: int = getattr(self._local, "mode", 0)
        return mode

    def _hurried(self, conn: sqlite3.Connection) -> None:
        """Before a batch: this thread's connection waits at most BATCH_BUSY_MS for a lock,
        and keeps that between batches (two statements less per batch)."""
        if not getattr(self._local, "hurried", False):
            conn.execute(f"PRAGMA busy_timeout = {self.BATCH_BUSY_MS}")
            self._local.hurried = True

    def _patient(self) -> None:
        """Outside a batch: the connection waits the full busy timeout again. Inside one it
        needs no wait after the first statement: the batch's transaction holds the write
        lock (or a read snapshot), and in WAL mode nothing else can make it busy."""
        if getattr(self._local, "hurried", False):
            self._conn().execute(f"PRAGMA busy_timeout = {int(self._busy)}")
            self._local.hurried = False

    def batch(self) -> contextlib.AbstractContextManager[None]:
        return _Batch(self)

    def reading(self) -> contextlib.AbstractContextManager[None]:
        return _Reading(self)

    def savepoint(self) -> contextlib.AbstractContextManager[None]:
        sp: _Savepoint | None = getattr(self._local, "savepoint", None)  # set in a batch
        return _NOTHING if sp is None else sp

    # -- subscribers read in batches, kept for the next ones (see hss.store.cache) ---------
    def _cache(self) -> SubscriberCache:
        cache: SubscriberCache | None = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = SubscriberCache()
        return cache

    def _one(self, sql: str, key: str) -> Subscriber | None:
        if not self._mode():
            return super()._one(sql, key)
        cache = self._cache()
        sub = cache.get((sql, key))
        if sub is None:
            sub = super()._one(sql, key)
            if sub is not None:
                cache.put((sql, key), sub)
        return sub

    def next_sqns(self, imsi: str, n: int) -> list[int]:
        # In a batch the kept subscriber's SQN is the stored one (the batch holds the write
        # lock, and the cache follows every write): the next SQN is worked out here and
        # set by compare-and-set, half the cost of the general UPDATE … RETURNING. Should
        # the row hold another SQN after all, nothing is written and the general one runs.
        kept = self._cache().sqn_of(imsi) if n >= 1 and self._mode() == _BATCH else None
        if kept is not None:
            try:
                last = sqnmod.advance(kept, n, self.ind_bits)
            except sqnmod.SqnExhausted:
                pass  # the general statement says so
            else:
                if self._conn().execute(_SET_SQN_IF, (last, imsi, kept)).rowcount == 1:
                    self._sqn_changed(imsi, last)
                    return sqnmod.batch(last, n, self.ind_bits)
        return super().next_sqns(imsi, n)

    def update_registration(
        self,
        imsi: str,
        states: Mapping[str, RegState],
        scscf_name: str | _Keep | None = KEEP,
        scscf_host: str | _Keep | None = KEEP,
    ) -> None:
        # In a batch (write lock held) the kept subscriber is the stored one, so what the
        # update leaves is known: a re-registration's SAR, which sets what is stored
        # already, writes nothing; any other update keeps the result for the next request
        # (a registration's next UAR or SAR) instead of reading it back.
        kept = self._cache().kept(imsi) if self._mode() == _BATCH else None
        if kept is None:
            super().update_registration(imsi, states, scscf_name, scscf_host)
            return
        new = _registered(kept, states, scscf_name, scscf_host)
        if new is kept:
            return
        cache = self._cache()
        keys = cache.keys(imsi)
        super().update_registration(imsi, states, scscf_name, scscf_host)  # forgets it
        cache.rewritten(keys, new)

    def _changed(self, imsi: str) -> None:
        cache: SubscriberCache | None = getattr(self._local, "cache", None)
        if cache is not None:
            cache.changed(imsi)

    def _sqn_changed(self, imsi: str, sqn: int) -> None:
        cache: SubscriberCache | None = getattr(self._local, "cache", None)
        if cache is not None:
            cache.sqn_changed(imsi, sqn)

    def _transaction(self, conn: sqlite3.Connection) -> contextlib.AbstractContextManager[Cursor]:
        mode = self._mode()
        if mode == _BATCH:  # already inside BEGIN IMMEDIATE, holding the lock
            self._local.savepoint.writing()
            return self._reader(conn)
        if mode == _READING:
            raise StoreError(_WRITE_IN_READING)
        self._patient()
        return self._locked(conn)

    @contextlib.contextmanager
    def _locked(self, conn: sqlite3.Connection) -> Iterator[Cursor]:
        # Threads of this process queue on a Python lock: SQLite's own busy handler
        # sleeps in steps of up to 100 ms, which would wreck MAR latency under load.
        with self._write_lock, self._reader(conn) as cur:
            cur.execute("BEGIN IMMEDIATE")
            with conn:  # commits, or rolls back if the block raises
                yield cur

    def _update_one(self, sql: str, params: Sequence[Any]) -> Sequence[Any] | None:
        # Autocommit: the statement runs in its own implicit transaction, which takes
        # the write lock up front (no lock upgrade, so no deadlock between processes).
        # Inside a batch it simply joins the batch's transaction.
        mode = self._mode()
        if mode == _READING:
            raise StoreError(_WRITE_IN_READING)
        if mode == _BATCH:
            self._local.savepoint.writing()
        else:
            self._patient()
        lock = _NOTHING if mode == _BATCH else self._write_lock
        with lock:
            cur = self._conn().execute(sql, tuple(params))
            try:
                rows = cur.fetchall()  # stepping to the end commits
            finally:
                cur.close()
        return rows[0] if rows else None

    def _fetch_all(self, sql: str, params: tuple[Any, ...]) -> list[Sequence[Any]]:
        # Connection.execute: no cursor object to open and close by hand, no context managers
        # (they were a fifth of a MAR's look-up). The cursor is done once fetched.
        if not self._mode():
            self._patient()
        rows: list[Sequence[Any]] = self._conn().execute(sql, params).fetchall()
        return rows

    def _read(self) -> contextlib.AbstractContextManager[Cursor]:
        if not self._mode():
            self._patient()
        return super()._read()

    def _reader(self, conn: sqlite3.Connection) -> contextlib.AbstractContextManager[Cursor]:
        return contextlib.closing(conn.cursor())

    def _migration_sql(self, migration: tuple[int, tuple[str, ...], tuple[str, ...]]) -> (
        tuple[str, ...]
    ):
        return migration[1]

    def _is_duplicate(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)


_BATCH, _READING = 1, 2  # SqliteStore._mode
_SET_SQN_IF = "UPDATE subscribers SET sqn = ? WHERE imsi = ? AND sqn = ?"
_WRITE_IN_READING = "a write inside a read-only batch (Store.reading)"
_NOTHING = contextlib.nullcontext()


def _registered(
    sub: Subscriber,
    states: Mapping[str, RegState],
    scscf_name: str | _Keep | None,
    scscf_host: str | _Keep | None,
) -> Subscriber:
    """*sub* as :meth:`SqlStore.update_registration`'s statements leave it: *sub* itself
    when they change nothing."""
    name, host = sub.scscf_name, sub.scscf_host
    if not isinstance(scscf_host, _Keep):
        host = scscf_host
    elif not isinstance(scscf_name, _Keep) and (scscf_name is None or scscf_name != name):
        host = None  # another S-CSCF's name (SQL: a NULL name never equals) drops the host
    if not isinstance(scscf_name, _Keep):
        name = scscf_name
    impus = sub.impus
    if any(states.get(p.impu, p.state) != p.state for p in impus):
        impus = tuple(p if (st := states.get(p.impu)) is None or st == p.state
                      else PublicIdentity(p.impu, p.barred, p.identity_type, RegState(st))
                      for p in impus)
    if name == sub.scscf_name and host == sub.scscf_host and impus is sub.impus:
        return sub
    return with_fields(sub, scscf_name=name, scscf_host=host, impus=impus)


class _Batch:
    """:meth:`SqliteStore.batch`: one write transaction (``BEGIN IMMEDIATE``) around a
    batch, holding this process's write lock. A class, not a generator: at low load
    every request is a batch of its own."""

    __slots__ = ("_cache", "_conn", "_store")

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def __enter__(self) -> None:
        store = self._store
        conn = self._conn = store._conn()
        store._write_lock.acquire()
        try:
            store._hurried(conn)
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreBusy(str(exc)) from exc
            try:
                cache = self._cache = store._cache()
                cache.check(conn.execute("PRAGMA data_version").fetchone()[0])
            except BaseException:
                conn.rollback()
                raise
        except BaseException:
            store._write_lock.release()
            raise
        local = store._local
        local.mode, local.savepoint = _BATCH, _Savepoint(conn, cache)

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        local = self._store._local
        local.mode, local.savepoint = 0, None
        try:
            if exc_type is None:
                try:
                    self._conn.commit()
                except BaseException:
                    self._fail()
                    raise
            else:
                self._fail()
        finally:
            self._store._write_lock.release()

    def _fail(self) -> None:
        self._cache.clear()  # what it remembered may not have been kept
        self._conn.rollback()


class _Reading:
    """:meth:`SqliteStore.reading`: a batch of requests that write nothing (UAR, LIR) in a
    read transaction: one snapshot of the database for the whole batch, as a write batch
    has, but no write lock to take and no commit to make (WAL readers do not wait for
    writers). The subscribers kept from earlier batches serve it when ``data_version``
    says nobody else committed since (read inside the transaction: at its snapshot)."""

    __slots__ = ("_conn", "_store")

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def __enter__(self) -> None:
        store = self._store
        conn = self._conn = store._conn()
        store._hurried(conn)
        try:
            conn.execute("BEGIN")
            try:
                version = conn.execute("PRAGMA data_version").fetchone()[0]
            except BaseException:
                conn.rollback()
                raise
        except sqlite3.OperationalError as exc:  # e.g. another process recovering the WAL
            raise StoreBusy(str(exc)) from exc
        store._cache().check(version)
        store._local.mode = _READING

    def __exit__(self, *_: object) -> None:
        self._store._local.mode = 0
        self._conn.rollback()  # ends the read transaction: nothing to keep


class _Savepoint:
    """One request's writes inside a batch: kept, or undone if it raises. A plain class,
    not a generator, and one object per batch: this runs once per Cx request.

    The savepoint itself is only opened by the request's first write through
    :meth:`SqlBase._tx` or :meth:`SqlBase._update_one` (:meth:`writing`): a MAR's one
    write, its SQN reservation by compare-and-set, is a single atomic statement that needs
    none. An SQN reserved by a request that then fails is simply never used, which
    TS 33.102 §6.3.2 and Annex C allow (SQNs must only increase); the cache already holds
    it, so it stays right."""

    __slots__ = ("_active", "_cache", "_conn", "_open")

    def __init__(self, conn: sqlite3.Connection, cache: SubscriberCache) -> None:
        self._conn = conn
        self._cache = cache
        self._active = self._open = False

    def writing(self) -> None:
        """The request is about to write: open its savepoint, once."""
        if self._active and not self._open:
            self._conn.execute("SAVEPOINT cx")
            self._open = True

    def __enter__(self) -> None:
        self._active = True

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self._active = False
        if not self._open:
            return
        self._open = False
        try:
            if exc_type is not None:
                self._cache.clear()  # it may remember writes being undone now
                self._conn.execute("ROLLBACK TO cx")
        finally:
            self._conn.execute("RELEASE cx")
