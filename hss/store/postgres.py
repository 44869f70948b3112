"""PostgreSQL store (psycopg 3, optional extra ``postgres``).

For stateless HSS front-ends sharing one database: SQN updates are single
``UPDATE … RETURNING`` statements, which take the row lock, so fronts never share an SQN.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from hss.store.base import StoreError
from hss.store.sql import Cursor, SqlStore

# Arbitrary constant key for pg_advisory_xact_lock while migrating.
_MIGRATION_LOCK = 0x1A5C0DE


class PostgresStore(SqlStore):
    placeholder = "%s"
    row_lock = " FOR UPDATE"
    identities_agg = (
        "json_agg(json_build_array(p.position, p.impu, p.barred, p.identity_type, "
        "p.reg_state))::text"
    )

    def __init__(self, dsn: str, *, ind_bits: int = 5, connect_timeout: int = 5) -> None:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - depends on the install
            msg = "PostgreSQL store needs psycopg: pip install 'ims-core[postgres]'"
            raise StoreError(msg) from None
        super().__init__(ind_bits=ind_bits)
        self._psycopg: Any = psycopg
        self.dsn = dsn
        self._timeout = connect_timeout
        self.migrate()

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(
                self.dsn, autocommit=True, connect_timeout=self._timeout
            )
        except self._psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from None

    @contextlib.contextmanager
    def _transaction(self, conn: Any) -> Iterator[Cursor]:
        with conn.transaction(), conn.cursor() as cur:
            yield cur

    def _update_one(self, sql: str, params: Sequence[Any]) -> Sequence[Any] | None:
        # Autocommit: one statement, one transaction, row-locked; no BEGIN/COMMIT trips.
        with self._conn().cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            row: Sequence[Any] | None = cur.fetchone()
            return row

    @contextlib.contextmanager
    def _reader(self, conn: Any) -> Iterator[Cursor]:
        with conn.cursor() as cur:  # autocommit: the statement is its own transaction
            yield cur

    def _migration_sql(self, migration: tuple[int, tuple[str, ...], tuple[str, ...]]) -> (
        tuple[str, ...]
    ):
        return migration[2]

    def _lock_schema(self, cur: Cursor) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))

    def _is_duplicate(self, exc: BaseException) -> bool:
        return isinstance(exc, self._psycopg.errors.UniqueViolation)
