"""Run blocking Cx handlers off the event loop, one thread hop per batch.

Requests that arrive in the same loop iteration are handed to a worker thread together
and their answers come back together, so under load the cost of crossing threads
(futures, self-pipe wake-ups) is paid per batch, not per request. Batches run in
parallel on the pool's threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

from ims_core.diameter import Message

Job = tuple[Callable[[Message], Message], Message, "asyncio.Future[Message]"]


class Batcher:
    def __init__(self, pool: concurrent.futures.Executor, max_batch: int = 64) -> None:
        self._pool = pool
        self._max = max_batch
        self._loop = asyncio.get_running_loop()
        self._pending: list[Job] = []
        self._scheduled = False

    def submit(self, fn: Callable[[Message], Message], req: Message) -> asyncio.Future[Message]:
        fut: asyncio.Future[Message] = self._loop.create_future()
        self._pending.append((fn, req, fut))
        if len(self._pending) >= self._max:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        work = self._pool.submit(_run, [(fn, req) for fn, req, _ in batch])
        work.add_done_callback(
            lambda w: self._loop.call_soon_threadsafe(_deliver, batch, w)
        )


def _run(jobs: list[tuple[Callable[[Message], Message], Message]]) -> list[Any]:
    out: list[Any] = []
    for fn, req in jobs:
        try:
            out.append(fn(req))
        except Exception as exc:  # handed to the awaiting handler, which re-raises
            out.append(exc)
    return out


def _deliver(batch: list[Job], work: concurrent.futures.Future[list[Any]]) -> None:
    exc = work.exception()
    results: list[Any] = [exc] * len(batch) if exc is not None else work.result()
    for (_, _, fut), res in zip(batch, results, strict=True):
        if fut.done():  # cancelled meanwhile
            continue
        if isinstance(res, BaseException):
            fut.set_exception(res)
        else:
            fut.set_result(res)
