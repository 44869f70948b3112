"""Batcher: batches of blocking handlers, off the loop (thread pool) or inline in one
SQLite transaction; errors passed back; the loop never waits on another process's lock."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
import time
from pathlib import Path
from typing import cast

import pytest

from hss.batch import Batcher
from hss.store import Store
from hss.store.sqlite import SqliteStore
from ims_core.diameter import DiameterError, Message, ResultCode, make_answer, make_request
from tests.hss.conftest import DOMAIN, subscriber


class _Pooled:
    """A store that is not inline (like PostgreSQL): batches go to the pool."""

    inline = False
    batch = Store.batch
    savepoint = Store.savepoint


POOLED = cast(Store, _Pooled())


def _req(n: int) -> Message:
    r = make_request("LIR", origin_host=f"icscf.{DOMAIN}", origin_realm=DOMAIN,
                     destination_realm=DOMAIN, avps=[("Public-Identity", f"tel:+{n}")])  # fmt: skip
    r.hop_by_hop = n
    return r


async def test_answers_match_requests_and_run_off_loop() -> None:
    loop_thread = threading.get_ident()
    threads: set[int] = set()

    def handler(req: Message) -> Message:
        threads.add(threading.get_ident())
        if req.hop_by_hop % 7 == 0:
            raise DiameterError(ResultCode.UNABLE_TO_COMPLY, "seven")
        return make_answer(req, ResultCode.SUCCESS)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        b = Batcher(pool, POOLED, max_batch=16)
        futs = [b.submit(handler, _req(n)) for n in range(1, 101)]
        results = await asyncio.gather(*futs, return_exceptions=True)
    assert loop_thread not in threads
    for n, res in enumerate(results, 1):
        if n % 7 == 0:
            assert isinstance(res, DiameterError) and res.result_code == 5012
        else:
            assert isinstance(res, Message) and res.hop_by_hop == n


async def test_cancelled_request_is_skipped() -> None:
    gate = threading.Event()

    def slow(req: Message) -> Message:
        gate.wait(5)
        return make_answer(req, ResultCode.SUCCESS)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        b = Batcher(pool, POOLED)
        f1, f2 = b.submit(slow, _req(1)), b.submit(slow, _req(2))
        await asyncio.sleep(0)
        f1.cancel()
        gate.set()
        assert (await f2).hop_by_hop == 2
    with pytest.raises(asyncio.CancelledError):
        await f1


async def test_sqlite_batch_runs_inline_with_a_savepoint_per_request(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hss.sqlite")
    store.add([subscriber()])
    imsi = "001010000000001"
    loop_thread = threading.get_ident()
    threads: set[int] = set()

    def handler(req: Message) -> Message:
        threads.add(threading.get_ident())
        store.next_sqns(imsi, 1)
        if req.hop_by_hop % 2 == 0:
            raise DiameterError(ResultCode.UNABLE_TO_COMPLY, "after a write")
        return make_answer(req, ResultCode.SUCCESS)

    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            b = Batcher(pool, store, max_batch=64)
            results = await asyncio.gather(*(b.submit(handler, _req(n)) for n in range(1, 11)),
                                           return_exceptions=True)
        assert threads == {loop_thread}
        assert [isinstance(r, Message) for r in results] == [True, False] * 5
        # the failed requests' SQN writes were rolled back; the others committed
        fresh = SqliteStore(tmp_path / "hss.sqlite")
        sub = fresh.get(imsi)
        assert sub is not None and sub.sqn >> store.ind_bits == 5
        fresh.close()
    finally:
        store.close()


async def test_sqlite_batch_falls_back_to_a_thread_when_locked(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hss.sqlite")
    store.add([subscriber()])
    other = sqlite3.connect(tmp_path / "hss.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    loop_thread = threading.get_ident()
    ran_in: list[int] = []

    def handler(req: Message) -> Message:
        ran_in.append(threading.get_ident())
        store.next_sqns("001010000000001", 1)
        return make_answer(req, ResultCode.SUCCESS)

    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            b = Batcher(pool, store)
            fut = b.submit(handler, _req(1))
            started = time.monotonic()
            await asyncio.sleep(0.2)  # the loop stays free while the lock is held
            assert time.monotonic() - started < 0.5
            other.execute("COMMIT")
            ans = await asyncio.wait_for(fut, 10)
        assert ans.result_code == ResultCode.SUCCESS
        assert ran_in and ran_in[0] != loop_thread
    finally:
        other.close()
        store.close()
