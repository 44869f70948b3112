"""Batcher: batches of blocking handlers, off the loop (thread pool) or inline in one
SQLite transaction; errors passed back; the loop never waits on another process's lock."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from hss.batch import Batcher
from hss.cx import HANDLERS, READ_ONLY
from hss.model import RegState
from hss.store import Store
from hss.store.sqlite import SqliteStore
from ims_core.diameter import (
    LIR,
    UAR,
    DiameterError,
    Message,
    ResultCode,
    decode,
    make_answer,
    make_request,
)
from tests.hss.conftest import DOMAIN, subscriber
from tests.hss.cxutil import IMPI, IMPU, SCSCF, TEL, context, request, result


class _Pooled:
    """A store that is not inline (like PostgreSQL): batches go to the pool."""

    inline = False
    batch = Store.batch
    savepoint = Store.savepoint


POOLED = cast(Store, _Pooled())


def _submit(b: Batcher, fn: Callable[[Message], Message], req: Message) -> asyncio.Future[Message]:
    """The batcher's callback as a future, for the tests to await."""
    fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    def done(res: Message | BaseException) -> None:
        if isinstance(res, BaseException):
            fut.set_exception(res)
        else:
            fut.set_result(res)

    b.submit(fn, req, done)
    return fut


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
        futs = [_submit(b, handler, _req(n)) for n in range(1, 101)]
        results = await asyncio.gather(*futs, return_exceptions=True)
    assert loop_thread not in threads
    for n, res in enumerate(results, 1):
        if n % 7 == 0:
            assert isinstance(res, DiameterError) and res.result_code == 5012
        else:
            assert isinstance(res, Message) and res.hop_by_hop == n


async def test_a_failing_callback_does_not_hold_up_the_batch(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hss.sqlite")
    got: list[int] = []

    def handler(req: Message) -> Message:
        return make_answer(req, ResultCode.SUCCESS)

    def done(res: Message | BaseException) -> None:
        assert isinstance(res, Message)
        if res.hop_by_hop == 2:
            raise RuntimeError("bug in a callback")
        got.append(res.hop_by_hop)

    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            b = Batcher(pool, store, max_batch=3)
            for n in (1, 2, 3, 4):  # the third fills a batch: answered from inside submit
                b.submit(handler, _req(n), done)
            assert got == [1, 3]
            await asyncio.sleep(0)
        assert got == [1, 3, 4]
    finally:
        store.close()


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
            results = await asyncio.gather(*(_submit(b, handler, _req(n)) for n in range(1, 11)),
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
            fut = _submit(b, handler, _req(1))
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


async def test_read_only_requests_stay_on_the_loop_while_another_process_writes(
    tmp_path: Path,
) -> None:
    """A batch of requests that only read (UAR, LIR) takes no write lock: it is answered
    on the loop even while another process holds the lock; a batch with a write waits
    for the lock in a thread."""
    store = SqliteStore(tmp_path / "hss.sqlite")
    store.add([subscriber()])
    other = sqlite3.connect(tmp_path / "hss.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    loop_thread = threading.get_ident()
    ran_in: dict[int, int] = {}

    def reader(req: Message) -> Message:
        ran_in[req.hop_by_hop] = threading.get_ident()
        assert store.get("001010000000001") is not None
        return make_answer(req, ResultCode.SUCCESS)

    def writer(req: Message) -> Message:
        ran_in[req.hop_by_hop] = threading.get_ident()
        store.next_sqns("001010000000001", 1)
        return make_answer(req, ResultCode.SUCCESS)

    def submit(b: Batcher, fn: Callable[[Message], Message], n: int,
               writes: bool) -> asyncio.Future[Message]:
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        b.submit(fn, _req(n), lambda res: fut.set_result(cast(Message, res)), writes=writes)
        return fut

    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            b = Batcher(pool, store)
            answers = await asyncio.wait_for(asyncio.gather(
                submit(b, reader, 1, False), submit(b, reader, 2, False)), 5)
            assert [a.hop_by_hop for a in answers] == [1, 2]
            assert ran_in == {1: loop_thread, 2: loop_thread}
            wrote = submit(b, writer, 3, True)
            await asyncio.sleep(0.1)
            assert not wrote.done()  # waits in a thread for the other process's lock
            other.execute("COMMIT")
            assert (await asyncio.wait_for(wrote, 10)).result_code == ResultCode.SUCCESS
        assert ran_in[3] != loop_thread
    finally:
        other.close()
        store.close()


def test_uar_and_lir_are_the_read_only_procedures_and_write_nothing(tmp_path: Path) -> None:
    """The server runs UAR and LIR in read-only batches: whatever state the subscriber is
    in, their handlers answer without writing (a write would raise in Store.reading)."""
    assert {UAR, LIR} == READ_ONLY
    store = SqliteStore(tmp_path / "hss.sqlite")
    store.add([subscriber()])
    ctx = context(store)
    requests = [request("UAR", User_Name=IMPI, Public_Identity=IMPU,
                        Visited_Network_Identifier=DOMAIN, User_Authorization_Type=t)
                for t in (0, 1, 2, 3)]  # fmt: skip
    requests += [request("LIR", Public_Identity=IMPU), request("LIR", Public_Identity=TEL),
                 request("LIR", Public_Identity="sip:nobody@ims.example")]  # fmt: skip
    try:
        for state in (RegState.NOT_REGISTERED, RegState.REGISTERED, RegState.UNREGISTERED):
            store.update_registration(
                subscriber().imsi, {p.impu: state for p in subscriber().impus},
                scscf_name=None if state is RegState.NOT_REGISTERED else SCSCF,
            )  # fmt: skip
            for req in requests:
                with store.reading():
                    ans = HANDLERS[req.command_code](decode(req.encode()), ctx)
                assert not ans.is_request and result(ans) is not None
    finally:
        store.close()


async def test_a_request_alone_in_its_batch_is_undone_with_the_batch(tmp_path: Path) -> None:
    """At low load each request is a batch of its own and needs no savepoint: when it
    raises after a write, the batch is rolled back and the caller gets what it raised."""
    store = SqliteStore(tmp_path / "hss.sqlite")
    store.add([subscriber()])
    imsi = "001010000000001"

    def handler(req: Message) -> Message:
        store.next_sqns(imsi, 1)
        if req.hop_by_hop == 1:
            raise DiameterError(ResultCode.UNABLE_TO_COMPLY, "after a write")
        return make_answer(req, ResultCode.SUCCESS)

    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            b = Batcher(pool, store)
            with pytest.raises(DiameterError, match="after a write"):
                await _submit(b, handler, _req(1))
            assert (await _submit(b, handler, _req(2))).result_code == ResultCode.SUCCESS
        fresh = SqliteStore(tmp_path / "hss.sqlite")
        sub = fresh.get(imsi)
        fresh.close()
        assert sub is not None and sub.sqn >> store.ind_bits == 1  # only the second kept
    finally:
        store.close()
