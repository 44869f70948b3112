"""The write-behind Persister: flushes within max_delay off the loop, coalesces, keeps
and retries changes when the backend fails (logging the outage once), and flushes what
is left on close."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

from structlog.testing import capture_logs

from ims_core.persist import Change, Journal, Persister, SqliteBackend


class FakeBackend:
    def __init__(self) -> None:
        self.applied: list[list[Change]] = []
        self.threads: set[int] = set()
        self.fail = False
        self.attempts = 0
        self.closed = False

    def load(self, kind: str) -> list[tuple[str, bytes]]:
        return []

    def apply(self, changes: Sequence[Change]) -> None:
        self.attempts += 1
        self.threads.add(threading.get_ident())
        if self.fail:
            raise ConnectionError("store down")
        self.applied.append(list(changes))

    def close(self) -> None:
        self.closed = True


def stored(writes: list[list[Change]]) -> dict[str, bytes | None]:
    """What the writes leave in the store, applied in order."""
    state: dict[str, bytes | None] = {}
    for changes in writes:
        state.update((c.key, c.value) for c in changes)
    return state


async def until(cond: object, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():  # type: ignore[operator]
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.01)


def test_flushes_within_max_delay_in_a_worker_thread() -> None:
    async def main() -> None:
        journal, backend = Journal(), FakeBackend()
        p = Persister(journal, backend, max_delay=0.05)
        p.start()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for n in range(10):  # coalesced: one record written once
            journal.put("reg", "a", str(n).encode())
        await until(lambda: backend.applied)
        assert loop.time() - t0 < 0.05 + 0.2
        assert backend.applied == [[Change("reg", "a", b"9")]]
        assert threading.get_ident() not in backend.threads  # never on the loop
        await p.close()
        assert backend.closed

    asyncio.run(main())


def test_failed_flush_keeps_the_changes_and_retries() -> None:
    async def main() -> None:
        journal, backend = Journal(), FakeBackend()
        backend.fail = True
        p = Persister(journal, backend, max_delay=0.02)
        p.start()
        journal.put("reg", "a", b"1")
        journal.put("reg", "b", b"1")
        await until(lambda: backend.attempts >= 3)
        journal.put("reg", "a", b"2")  # newer than the failed one: it wins
        backend.fail = False
        # Usually one write of both; an attempt already in its thread as `fail` turned
        # False writes the older pair first. Either way, in order: nothing lost, a=2.
        await until(lambda: stored(backend.applied) == {"a": b"2", "b": b"1"})
        assert p.failures >= 3
        await p.close()

    with capture_logs() as logged:  # not stdout: an earlier test may have set the stream
        asyncio.run(main())
    events = [e["event"] for e in logged]
    assert events.count("persist.write_failed") == 1  # once per outage, not once per attempt
    assert events.count("persist.write_recovered") == 1


def test_close_flushes_what_is_left(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite")

    async def main() -> None:
        journal = Journal()
        p = Persister(journal, SqliteBackend(path), max_delay=60.0)  # the timer never fires
        p.start()
        journal.put("reg", "a", b"1")
        await asyncio.sleep(0.05)
        await p.close()

    asyncio.run(main())
    b = SqliteBackend(path)
    assert b.load("reg") == [("a", b"1")]
    b.close()


def test_close_waits_for_a_flush_in_flight() -> None:
    class Slow(FakeBackend):
        def __init__(self) -> None:
            super().__init__()
            self.active = 0
            self.overlap = False

        def apply(self, changes: Sequence[Change]) -> None:
            self.active += 1
            self.overlap |= self.active > 1
            threading.Event().wait(0.1)
            super().apply(changes)
            self.active -= 1

    async def main() -> None:
        journal, backend = Journal(), Slow()
        p = Persister(journal, backend, max_delay=0.01)
        p.start()
        journal.put("reg", "a", b"1")
        await until(lambda: backend.active)
        journal.put("reg", "b", b"1")
        await p.close()
        assert not backend.overlap
        assert [c.key for batch in backend.applied for c in batch] == ["a", "b"]

    asyncio.run(main())
