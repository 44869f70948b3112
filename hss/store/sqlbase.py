"""Connections, transactions and migrations for the SQL stores (``?`` placeholders).

Subclasses provide connections (one per thread), a transaction context and the
placeholder style; :class:`SqlBase` gives the queries in :mod:`hss.store.sql` one way to
run a statement, a transaction or a read, whatever the backend.
"""

from __future__ import annotations

import abc
import contextlib
import threading
from collections.abc import Sequence
from typing import Any

from hss import sqn as sqnmod
from hss.store.base import Store, StoreError
from hss.store.migrations import MIGRATIONS

Cursor = Any  # DB-API cursor (sqlite3.Cursor or psycopg.Cursor)


class SqlBase(Store):
    """The plumbing both SQL backends share; the queries live in a subclass."""

    placeholder = "?"

    def __init__(self, *, ind_bits: int = sqnmod.DEFAULT_IND_BITS) -> None:
        if not 0 <= ind_bits <= 10:
            raise ValueError("ind_bits must be 0..10")
        self.ind_bits = ind_bits
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    # -- backend hooks ------------------------------------------------------------------
    @abc.abstractmethod
    def _connect(self) -> Any: ...

    @abc.abstractmethod
    def _transaction(self, conn: Any) -> contextlib.AbstractContextManager[Cursor]: ...

    @abc.abstractmethod
    def _migration_sql(self, migration: tuple[int, tuple[str, ...], tuple[str, ...]]) -> (
        tuple[str, ...]
    ): ...

    @abc.abstractmethod
    def _reader(self, conn: Any) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor for one read-only statement (no write lock, no explicit transaction)."""

    def _lock_schema(self, cur: Cursor) -> None:
        """Serialise concurrent migrators (Postgres takes an advisory lock)."""

    def _is_duplicate(self, exc: BaseException) -> bool:
        return False

    def _changed(self, imsi: str) -> None:
        """This connection wrote subscriber *imsi* (for a backend that keeps what it read)."""

    def _sqn_changed(self, imsi: str, sqn: int) -> None:
        """This connection moved subscriber *imsi*'s SQN to *sqn*, and nothing else."""

    # -- plumbing -------------------------------------------------------------------------
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _sql(self, text: str) -> str:
        if self.placeholder == "?":
            return text
        return text.replace("%", "%%").replace("?", self.placeholder)

    def _tx(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._transaction(self._conn())

    def _read(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._reader(self._conn())

    def _update_one(self, sql: str, params: Sequence[Any]) -> Sequence[Any] | None:
        """Run one UPDATE … RETURNING atomically; the first row returned, if any.

        A single statement is its own transaction in both backends, so subclasses may
        run it without BEGIN/COMMIT round trips.
        """
        with self._tx() as cur:
            row: Sequence[Any] | None = self._q(cur, sql, params).fetchone()
            return row

    def _q(self, cur: Cursor, text: str, params: Sequence[Any] = ()) -> Cursor:
        cur.execute(self._sql(text), tuple(params))
        return cur

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            with contextlib.suppress(Exception):
                c.close()
        self._local = threading.local()

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version."""
        with self._tx() as cur:
            self._lock_schema(cur)
            self._q(cur, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._q(cur, "SELECT MAX(version) FROM schema_version").fetchone()
            current = int(row[0]) if row and row[0] is not None else 0
            known = MIGRATIONS[-1][0]
            if current > known:
                raise StoreError(f"database schema v{current} is newer than this HSS (v{known})")
            for m in MIGRATIONS:
                if m[0] > current:
                    for stmt in self._migration_sql(m):
                        self._q(cur, stmt)
                    self._q(cur, "INSERT INTO schema_version (version) VALUES (?)", (m[0],))
                    current = m[0]
            return current

    def schema_version(self) -> int:
        with self._tx() as cur:
            row = self._q(cur, "SELECT MAX(version) FROM schema_version").fetchone()
            return int(row[0])

