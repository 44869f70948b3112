"""The running HSS's half of RTR and PPR: it sends what the CLI queued in the outbox.

Every ``push.poll_seconds`` one worker thread asks the store for pending entries (one read
of a partial index while nothing is queued); the entries it claims are prepared in a
worker thread (a PPR's User-Data from the subscriber as stored then), sent on the loop to
the S-CSCF's Diameter host over the connection that S-CSCF opened, and their answers
recorded in a worker thread again. The loop never waits on the store.

Counted: each entry sent as ``push_requests{kind, outcome}`` (``done``, or ``failed``: a
refusal, no answer, the HSS stopping) and each claim as ``store_seconds{push_claim}``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from hss.config import PushConfig
from hss.cx import PUSHES
from hss.cx.common import CxContext
from hss.cx.push import Unsendable, describe, failed
from hss.model import Push, PushState
from ims_core import log
from ims_core.diameter import DiameterTimeout, DiameterUnavailable
from ims_core.diameter.node import DiameterNode

T = TypeVar("T")
R = TypeVar("R")

MAX_IN_FLIGHT = 256  # requests awaiting their answer; more stay queued in the store
PURGE_EVERY = 60.0  # seconds between deletions of old finished entries


class Pusher:
    def __init__(
        self,
        node: DiameterNode,
        ctx: CxContext,
        pool: concurrent.futures.Executor,
        cfg: PushConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._node = node
        self._ctx = ctx
        self._pool = pool
        self._cfg = cfg
        self._clock = clock  # wall time: the CLI reads the same entries from another process
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._purged_at = float("-inf")
        self._log: Any = log.get("hss")
        self._metrics = ctx.metrics

    def start(self) -> None:
        self._task = self._loop.create_task(self._run())

    async def stop(self) -> None:
        """Stop polling; requests still awaiting their answer are recorded as failed."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for t in self._sending:
            t.cancel()
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    async def _in_pool(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._loop.run_in_executor(self._pool, functools.partial(fn, *args))

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:  # the store may be briefly unavailable: try again next time
                self._log.exception("push_poll_failed")
            await asyncio.sleep(self._cfg.poll_seconds)

    async def poll_once(self) -> int:
        """Claim what is pending (as much as fits in flight) and start sending it; purge
        old finished entries now and then. Returns how many were claimed."""
        now = self._clock()
        if now - self._purged_at >= PURGE_EVERY:
            self._purged_at = now
            await self._in_pool(self._ctx.store.purge_pushes, now - self._cfg.keep_seconds)
        room = min(self._cfg.batch, MAX_IN_FLIGHT - len(self._sending))
        if room <= 0:
            return 0
        pushes, took = await self._in_pool(_timed, self._ctx.store.claim_pushes, room, now)
        self._metrics.store_seconds.observe(took, "push_claim")
        for push in pushes:
            task = self._loop.create_task(self._send(push))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return len(pushes)

    async def _send(self, push: Push) -> None:
        started = self._loop.time()
        try:
            done = await self._exchange(push)
        except asyncio.CancelledError:
            self._metrics.push_requests.inc(push.kind.value, PushState.FAILED.value)
            await self._fail(push, "the HSS stopped before the answer")
            raise
        except Exception as exc:  # e.g. the store failed: say so in the entry if it can
            self._metrics.push_requests.inc(push.kind.value, PushState.FAILED.value)
            self._log.exception("cx_push_failed", kind=push.kind.value, id=push.id)
            with contextlib.suppress(Exception):
                await self._fail(push, f"HSS error: {exc}")
            return
        self._metrics.push_requests.inc(push.kind.value, done.state.value)
        self._log.info(
            "cx_push", kind=push.kind.value, id=push.id, imsi=push.imsi, impi=push.impi,
            peer=push.destination_host, state=done.state.value, result=describe(done),
            latency_ms=round((self._loop.time() - started) * 1000, 3),
        )  # fmt: skip

    async def _fail(self, push: Push, detail: str) -> Push:
        return await self._in_pool(failed, push, detail, self._ctx, self._clock())

    async def _exchange(self, push: Push) -> Push:
        """Prepare, send, and record the answer (or why there is none)."""
        proc = PUSHES[push.kind]
        try:
            msg = await self._in_pool(proc.prepare, push, self._ctx)
            ans = await self._node.request(
                msg, peer=push.destination_host, timeout=self._cfg.answer_timeout
            )
        except Unsendable as exc:
            return await self._fail(push, str(exc))
        except DiameterTimeout:
            return await self._fail(
                push, f"no answer from {push.destination_host} in {self._cfg.answer_timeout} s"
            )
        except DiameterUnavailable:
            return await self._fail(
                push, f"S-CSCF {push.destination_host} is not connected to this HSS"
            )
        return await self._in_pool(proc.on_answer, push, ans, self._ctx, self._clock())


def _timed(fn: Callable[..., R], *args: Any) -> tuple[R, float]:
    """``fn(*args)`` and the seconds it took (measured in the worker, observed on the loop)."""
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started
