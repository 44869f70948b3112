"""Run the blocking Cx handlers in batches: one batch per event-loop iteration.

Requests that arrive in the same loop iteration are handled together. For a store that
allows it (:attr:`Store.inline`, local SQLite) the batch runs right here on the loop, in one
transaction with a savepoint per request (opened by its first write other than an SQN
reservation, which needs none): a group commit, and no thread hand-over of the
GIL per SQL statement. Otherwise — a network database, or a SQLite file whose write lock
another process holds — the batch goes to a worker thread, so the loop never waits long.
A batch of requests that only read (UAR, LIR) runs in a read transaction
(:meth:`Store.reading`); a batch of one needs no savepoint.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from typing import Any

from hss.store import Store, StoreBusy
from ims_core import log
from ims_core.diameter import Message
from ims_core.metrics.groups import HssMetrics

Done = Callable[[Message | BaseException], None]  # gets the answer, or what the handler raised
# What to run, on which request, who gets the outcome, and whether it may write the store.
Job = tuple[Callable[[Message], Message], Message, Done, bool]

_log: Any = log.get("hss")


class Batcher:
    """Batches of requests run against *store*; each batch's time in the store is observed
    as ``store_seconds{operation="batch"}`` (on the loop: one transaction; in a worker:
    the requests one after the other)."""

    def __init__(
        self, pool: concurrent.futures.Executor, store: Store, max_batch: int = 64,
        metrics: HssMetrics | None = None,
    ) -> None:  # fmt: skip
        self._pool = pool
        self._store = store
        self._max = max_batch
        self._seconds = (HssMetrics.create() if metrics is None else metrics).store_seconds
        self._loop = asyncio.get_running_loop()
        self._pending: list[Job] = []
        self._scheduled = False

    def submit(self, fn: Callable[[Message], Message], req: Message, done: Done, *,
               writes: bool = True) -> None:
        """Run ``fn(req)`` with the next batch; ``done`` gets its answer or exception on
        the loop (no future per request) — from inside this call when it fills a batch.
        ``writes`` False promises that ``fn`` only reads the store: a batch of such
        requests alone runs without a write transaction (:meth:`Store.reading`)."""
        self._pending.append((fn, req, done, writes))
        if len(self._pending) >= self._max:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        jobs = [(fn, req) for fn, req, _, _ in batch]
        store = self._store
        if store.inline:
            started = time.perf_counter()
            # At low load each request is a batch of its own: a UAR or LIR then takes no
            # write lock and commits nothing.
            writes = any(job[3] for job in batch)
            try:
                with store.batch() if writes else store.reading():
                    results = _run(jobs, store) if len(jobs) > 1 else [_alone(*jobs[0])]
            except StoreBusy:
                pass  # locked by another process: do this batch in a thread instead
            except _Undone as undone:  # a batch of one whose request raised: rolled back
                self._seconds.observe(time.perf_counter() - started, "batch")
                _deliver_results(batch, [undone.exc])
                return
            except Exception as exc:  # the commit failed: no answer may claim success
                self._seconds.observe(time.perf_counter() - started, "batch")
                _deliver_results(batch, [exc] * len(batch))
                return
            else:  # committed: only now may the answers go out
                self._seconds.observe(time.perf_counter() - started, "batch")
                _deliver_results(batch, results)
                return
        work = self._pool.submit(_run_timed, jobs, self._store)
        work.add_done_callback(lambda w: self._loop.call_soon_threadsafe(self._done, batch, w))

    def _done(self, batch: list[Job],
              work: concurrent.futures.Future[tuple[list[Any], float]]) -> None:
        """A worker's batch is over (on the loop, where the histogram is kept)."""
        exc = work.exception()
        if exc is not None:
            _deliver_results(batch, [exc] * len(batch))
            return
        results, seconds = work.result()
        self._seconds.observe(seconds, "batch")
        _deliver_results(batch, results)


def _run(jobs: list[tuple[Callable[[Message], Message], Message]], store: Store) -> list[Any]:
    out: list[Any] = []
    for fn, req in jobs:
        try:
            with store.savepoint():
                out.append(fn(req))
        except Exception as exc:  # handed to the request's callback
            out.append(exc)
    return out


class _Undone(Exception):
    """What the request of a batch of one raised; the batch is rolled back for it."""

    def __init__(self, exc: Exception) -> None:
        super().__init__(str(exc))
        self.exc = exc


def _alone(fn: Callable[[Message], Message], req: Message) -> Message:
    """The request of a batch of one (each request, at low load): no savepoint, since
    rolling back the batch undoes its writes just as well."""
    try:
        return fn(req)
    except Exception as exc:
        raise _Undone(exc) from exc


def _run_timed(jobs: list[tuple[Callable[[Message], Message], Message]],
               store: Store) -> tuple[list[Any], float]:
    started = time.perf_counter()
    results = _run(jobs, store)
    return results, time.perf_counter() - started


def _deliver_results(batch: list[Job], results: list[Any]) -> None:
    for (_, req, done, _), res in zip(batch, results, strict=True):
        try:
            done(res)
        except Exception:  # one callback's bug must not keep the rest of the batch waiting
            _log.exception("hss_batch_callback_failed", command=req.name)
