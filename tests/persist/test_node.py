"""open_state: what the runner does with [persist] before SIP is bound."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ims_core.persist import (
    Backend,
    Change,
    Journal,
    PersistConfig,
    SqliteBackend,
    StateUnavailable,
    open_state,
)


class Core:
    """A Persistent core that remembers what it was given."""

    def __init__(self) -> None:
        self.loaded: list[tuple[str, bytes]] = []
        self.offset: float | None = None
        self.journal: Journal | None = None

    def restore(self, backend: Backend, wall_now: float, loop_now: float) -> int:
        assert self.journal is None  # restored before any change is recorded
        self.loaded = backend.load("k")
        self.offset = wall_now - loop_now
        return len(self.loaded)

    def attach_journal(self, journal: Journal) -> None:
        self.journal = journal


def test_off_does_nothing() -> None:
    core = Core()
    assert asyncio.run(open_state("scscf", core, PersistConfig())) is None
    assert core.journal is None


def test_restores_then_records_and_flushes_at_close(tmp_path: Path) -> None:
    path = str(tmp_path / "n.sqlite")
    b = SqliteBackend(path)
    b.apply([Change("k", "a", b"1")])
    b.close()
    core = Core()

    async def main() -> None:
        p = await open_state("scscf", core, PersistConfig(backend="sqlite", path=path,
                                                          max_delay_ms=60_000))
        assert p is not None
        assert core.loaded == [("a", b"1")] and core.offset is not None
        assert core.offset > 1e9  # wall-clock epoch minus the loop's monotonic clock
        assert core.journal is p.journal
        core.journal.put("k", "b", b"2")
        await p.close()

    asyncio.run(main())
    b = SqliteBackend(path)
    assert b.load("k") == [("a", b"1"), ("b", b"2")]
    b.close()


def test_a_store_that_cannot_be_opened_stops_the_start(tmp_path: Path) -> None:
    bad = PersistConfig(backend="sqlite", path=str(tmp_path / "missing-dir" / "x.sqlite"))
    with pytest.raises(StateUnavailable, match="sqlite"):
        asyncio.run(open_state("scscf", Core(), bad))


def test_a_core_without_the_hook_runs_without_state(tmp_path: Path) -> None:
    cfg = PersistConfig(backend="sqlite", path=str(tmp_path / "x.sqlite"))
    assert asyncio.run(open_state("icscf", object(), cfg)) is None
    assert not (tmp_path / "x.sqlite").exists()
