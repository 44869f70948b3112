"""SQLite store: one file under the data directory, WAL mode, no server.

Writes take the database lock up front (``BEGIN IMMEDIATE``) so two HSS processes on
one file serialise their SQN updates instead of failing on lock upgrade.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hss.model import Subscriber
from hss.store.base import StoreBusy
from hss.store.cache import SubscriberCache
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

    def _in_batch(self) -> bool:
        return bool(getattr(self._local, "batch", False))

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        conn = self._conn()
        with self._write_lock:
            conn.execute(f"PRAGMA busy_timeout = {self.BATCH_BUSY_MS}")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreBusy(str(exc)) from exc
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy)}")
            cache = self._cache()
            cache.check(conn.execute("PRAGMA data_version").fetchone()[0])
            local = self._local
            local.batch, local.savepoint = True, _Savepoint(conn, cache)
            try:
                with conn:  # commits the batch, or rolls it back if it raises
                    yield
            except BaseException:
                cache.clear()  # what it remembered may not have been kept
                raise
            finally:
                local.batch, local.savepoint = False, None

    def savepoint(self) -> contextlib.AbstractContextManager[None]:
        sp: _Savepoint | None = getattr(self._local, "savepoint", None)  # set in a batch
        return contextlib.nullcontext() if sp is None else sp

    # -- subscribers read in batches, kept for the next ones (see hss.store.cache) ---------
    def _cache(self) -> SubscriberCache:
        cache: SubscriberCache | None = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = SubscriberCache()
        return cache

    def _one(self, sql: str, key: str) -> Subscriber | None:
        if not self._in_batch():
            return super()._one(sql, key)
        cache = self._cache()
        sub = cache.get((sql, key))
        if sub is None:
            sub = super()._one(sql, key)
            if sub is not None:
                cache.put((sql, key), sub)
        return sub

    def _changed(self, imsi: str) -> None:
        cache: SubscriberCache | None = getattr(self._local, "cache", None)
        if cache is not None:
            cache.changed(imsi)

    def _sqn_changed(self, imsi: str, sqn: int) -> None:
        cache: SubscriberCache | None = getattr(self._local, "cache", None)
        if cache is not None:
            cache.sqn_changed(imsi, sqn)

    @contextlib.contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[Cursor]:
        if self._in_batch():  # already inside BEGIN IMMEDIATE, holding the lock
            with self._reader(conn) as cur:
                yield cur
            return
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
        lock = contextlib.nullcontext() if self._in_batch() else self._write_lock
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
        rows: list[Sequence[Any]] = self._conn().execute(sql, params).fetchall()
        return rows

    @contextlib.contextmanager
    def _reader(self, conn: sqlite3.Connection) -> Iterator[Cursor]:
        with contextlib.closing(conn.cursor()) as cur:
            yield cur

    def _migration_sql(self, migration: tuple[int, tuple[str, ...], tuple[str, ...]]) -> (
        tuple[str, ...]
    ):
        return migration[1]

    def _is_duplicate(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)


class _Savepoint:
    """One request's writes inside a batch: kept, or undone if it raises. A plain class,
    not a generator, and one object per batch: this runs once per Cx request."""

    __slots__ = ("_cache", "_conn")

    def __init__(self, conn: sqlite3.Connection, cache: SubscriberCache) -> None:
        self._conn = conn
        self._cache = cache

    def __enter__(self) -> None:
        self._conn.execute("SAVEPOINT cx")

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is not None:
                self._cache.clear()  # it may remember writes being undone now
                self._conn.execute("ROLLBACK TO cx")
        finally:
            self._conn.execute("RELEASE cx")
