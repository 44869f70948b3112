"""SQLite and Redis backends: the same behaviour (put, replace, delete, kinds apart,
one atomic apply, reopen)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from ims_core.persist import (
    Backend,
    Change,
    PersistConfig,
    RedisBackend,
    SqliteBackend,
    open_backend,
)

Opener = Callable[[], Backend]


@pytest.fixture(params=["sqlite", "redis"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the same store again each call (as a restarted node would)."""
    opened: list[Backend] = []
    if request.param == "sqlite":
        def make() -> Backend:
            b = SqliteBackend(str(tmp_path / "state.sqlite"))
            opened.append(b)
            return b
    else:
        url = request.getfixturevalue("redis_db")

        def make() -> Backend:
            b = RedisBackend(url, "scscf-test")
            opened.append(b)
            return b
    yield make
    for b in opened:
        b.close()


def test_put_replace_delete_and_reopen(opener: Opener) -> None:
    b = opener()
    b.apply([Change("reg", "k1", b"v1"), Change("reg", "k2", b"\x00bin\xff"),
             Change("sub", "k1", b"s1")])
    b.apply([Change("reg", "k1", b"v1b"), Change("reg", "k2", None),
             Change("reg", "gone", None)])  # deleting what is not there is fine
    b.close()
    again = opener()
    assert again.load("reg") == [("k1", b"v1b")]
    assert again.load("sub") == [("k1", b"s1")]
    assert again.load("none") == []


def test_an_empty_apply_writes_nothing(opener: Opener) -> None:
    b = opener()
    b.apply([])
    assert b.load("reg") == []


def test_sqlite_apply_is_one_transaction(tmp_path: Path) -> None:
    b = SqliteBackend(str(tmp_path / "s.sqlite"))
    b.apply([Change("reg", "a", b"1")])
    bad = Change("reg", "b", object())  # type: ignore[arg-type]
    with pytest.raises(sqlite3.Error):
        b.apply([Change("reg", "a", b"2"), bad])
    assert b.load("reg") == [("a", b"1")]  # the first change was rolled back too
    mode = b._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    b.close()


def test_redis_keys_are_one_hash_per_kind_under_the_prefix(redis_db: str) -> None:
    b = RedisBackend(redis_db, "node7")
    b.apply([Change("scscf.registration", "sip:a@x", b"1")])
    client = redis.Redis.from_url(redis_db)
    assert client.hgetall("node7:scscf.registration") == {b"sip:a@x": b"1"}
    client.close()
    b.close()


def test_redis_unreachable_raises(tmp_path: Path) -> None:
    from ims_lab.procs import free_port
    b = RedisBackend(f"redis://127.0.0.1:{free_port()}/0", "x", timeout=0.5)
    with pytest.raises(redis.ConnectionError):
        b.apply([Change("reg", "a", b"1")])
    b.close()


def test_open_backend_follows_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    assert open_backend(PersistConfig(), "scscf") is None
    monkeypatch.chdir(tmp_path)
    b = open_backend(PersistConfig(backend="sqlite"), "scscf")
    assert isinstance(b, SqliteBackend)
    b.close()
    assert (tmp_path / "scscf-state.sqlite").exists()  # <node>-state.sqlite by default
