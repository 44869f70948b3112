"""Stores for persisted records: SQLite (one file per node) or Redis (one hash per kind).

Backends do blocking I/O: the runner calls ``load`` before serving and the
:class:`~ims_core.persist.writer.Persister` calls ``apply`` from its worker thread, one
call at a time. The ``redis`` package (the ``redis`` extra) is imported only when a
RedisBackend is made: the cores import this module and stay free of sockets.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from ims_core.persist.config import PersistConfig
from ims_core.persist.journal import Change

if TYPE_CHECKING:
    import redis


class Backend(Protocol):
    def load(self, kind: str) -> list[tuple[str, bytes]]: ...

    def apply(self, changes: Sequence[Change]) -> None:
        """Write all ``changes`` atomically (one transaction or MULTI/EXEC)."""
        ...

    def close(self) -> None: ...


class SqliteBackend:
    """One table ``record(kind, key, value)`` in WAL mode.

    ``synchronous=NORMAL``: a committed transaction survives a process crash (the WAL is
    written before commit returns); only an OS crash may lose the last commits.
    """

    def __init__(self, path: str) -> None:
        # The worker thread applies, the loop thread loads and closes; the lock serialises.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS record ("
            " kind TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,"
            " PRIMARY KEY (kind, key))"
        )

    def load(self, kind: str) -> list[tuple[str, bytes]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM record WHERE kind = ? ORDER BY key", (kind,)
            ).fetchall()
        return [(str(key), bytes(value)) for key, value in rows]

    def apply(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for c in changes:
                    if c.value is None:
                        self._db.execute(
                            "DELETE FROM record WHERE kind = ? AND key = ?", (c.kind, c.key)
                        )
                    else:
                        self._db.execute(
                            "INSERT OR REPLACE INTO record (kind, key, value) VALUES (?, ?, ?)",
                            (c.kind, c.key, c.value),
                        )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisBackend:
    """One hash ``<prefix>:<kind>`` per kind; each ``apply`` is one MULTI/EXEC."""

    def __init__(self, url: str, prefix: str, timeout: float = 2.0) -> None:
        import redis  # only here: the optional dependency, and its sockets

        self._prefix = prefix
        self._client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    def _hash(self, kind: str) -> str:
        return f"{self._prefix}:{kind}"

    def load(self, kind: str) -> list[tuple[str, bytes]]:
        raw: dict[bytes, bytes] = self._client.hgetall(self._hash(kind))  # type: ignore[assignment]
        return sorted((k.decode(), bytes(v)) for k, v in raw.items())

    def apply(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        pipe = self._client.pipeline(transaction=True)
        for c in changes:
            if c.value is None:
                pipe.hdel(self._hash(c.kind), c.key)
            else:
                pipe.hset(self._hash(c.kind), c.key, c.value)
        pipe.execute()

    def close(self) -> None:
        self._client.close()


def open_backend(config: PersistConfig, node: str) -> Backend | None:
    """The backend ``config`` names, or None when persistence is off."""
    if config.backend == "sqlite":
        return SqliteBackend(config.sqlite_path(node))
    if config.backend == "redis":
        return RedisBackend(config.url, config.redis_prefix(node))
    return None
