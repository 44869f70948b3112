"""Batcher: blocking handlers off the loop, one thread hop per batch, errors passed back."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from hss.batch import Batcher
from ims_core.diameter import DiameterError, Message, ResultCode, make_answer, make_request
from tests.hss.conftest import DOMAIN


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
        b = Batcher(pool, max_batch=16)
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
        b = Batcher(pool)
        f1, f2 = b.submit(slow, _req(1)), b.submit(slow, _req(2))
        await asyncio.sleep(0)
        f1.cancel()
        gate.set()
        assert (await f2).hop_by_hop == 2
    with pytest.raises(asyncio.CancelledError):
        await f1
