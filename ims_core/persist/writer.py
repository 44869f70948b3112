"""The write-behind adapter: drains a :class:`Journal` into a :class:`Backend` off the loop.

Every ``max_delay`` seconds the pending changes are taken from the journal (on the loop, a
dict swap) and applied in a worker thread; at most one flush is in flight. A failed flush
puts its changes back (newer ones win) and is retried at the next tick; the outage is logged
once when it starts and once when it ends. A crash loses at most ``max_delay`` seconds of
changes plus the flush in flight.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from ims_core import log
from ims_core.persist.backend import Backend
from ims_core.persist.journal import Change, Journal

_log = log.get("persist")


class Persister:
    def __init__(self, journal: Journal, backend: Backend, max_delay: float) -> None:
        self.journal = journal
        self.backend = backend
        self.max_delay = max_delay
        self.flushes = 0
        self.failures = 0
        self._failing = False
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="persister")

    async def _run(self) -> None:
        while not self._stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.max_delay)
            try:
                await self.flush()
            except Exception as exc:  # a record that cannot be encoded: a bug, not an outage
                _log.error("persist.flush_error", error=repr(exc))

    async def flush(self) -> bool:
        """Apply what is pending; False (changes kept for a retry) if the backend failed."""
        changes = self.journal.take()
        if not changes:
            return True
        try:
            await asyncio.to_thread(self.backend.apply, changes)
        except Exception as exc:  # any backend error: keep the changes, retry later
            self._put_back(changes)
            self.failures += 1
            if not self._failing:
                self._failing = True
                _log.error("persist.write_failed", error=str(exc), pending=len(changes),
                           retry_seconds=self.max_delay)
            return False
        except asyncio.CancelledError:
            # The thread may still finish; applying the same changes again is idempotent.
            self._put_back(changes)
            raise
        self.flushes += 1
        if self._failing:
            self._failing = False
            _log.warning("persist.write_recovered", failures=self.failures)
        return True

    def _put_back(self, changes: list[Change]) -> None:
        self.journal.restore(changes)

    async def close(self) -> None:
        """Stop the timer, flush what is left (one attempt) and close the backend."""
        self._stop.set()
        if self._task is not None:
            await self._task  # lets a flush in flight finish: never two at once
            self._task = None
        try:
            if not await self.flush():
                _log.error("persist.final_flush_failed", lost=len(self.journal))
        finally:
            await asyncio.to_thread(self.backend.close)
