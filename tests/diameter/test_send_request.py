"""The node's callback forms over loopback TCP: send_request (answer, timeout, failover with
the T bit, no peer, a failing callback, cancel) and responders (answers now or later,
errors, stop waiting for them). No task per request on the way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import pytest
from structlog.testing import capture_logs

from ims_core.diameter import (
    LIR,
    MAR,
    SAR,
    DiameterConfig,
    DiameterError,
    DiameterNode,
    DiameterTimeout,
    DiameterUnavailable,
    Message,
    Respond,
    Responder,
    ResultCode,
)

from . import samples as s
from .test_node import HOST, client_config, handle_mar, hss_config

Outcomes = list[Message | Exception]


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    with capture_logs() as captured:
        yield captured


@pytest.fixture
async def hss() -> AsyncIterator[tuple[DiameterNode, int]]:
    node = DiameterNode(hss_config())
    node.add_handler(MAR, handle_mar)
    port = await node.listen(HOST, 0)
    yield node, port
    await node.stop()


async def _until(cond: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def _tasks() -> int:
    return len(asyncio.all_tasks())


async def test_answer_comes_to_the_callback_without_a_task(
    hss: tuple[DiameterNode, int],
) -> None:
    _, port = hss
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port)
        got: Outcomes = []
        before = _tasks()
        pending = [client.send_request(s.mar(), on_answer=got.append, timeout=2)
                   for _ in range(50)]  # fmt: skip
        assert _tasks() == before and all(p.task is None for p in pending)
        assert got == []  # never from inside send_request
        await _until(lambda: len(got) == 50)
        assert all(isinstance(a, Message) and a.result_code == 2001 for a in got)
        assert all(p.done for p in pending)


async def test_no_peer_is_unavailable_at_once_but_after_the_call_returns() -> None:
    async with DiameterNode(client_config()) as client:
        got: Outcomes = []
        t = time.perf_counter()
        client.send_request(s.mar(), on_answer=got.append)
        assert got == []
        await asyncio.sleep(0)
        assert len(got) == 1 and isinstance(got[0], DiameterUnavailable)
        assert time.perf_counter() - t < 0.5


async def test_timeout_is_delivered_as_diameter_timeout() -> None:
    slow = DiameterNode(hss_config())
    slow.add_responder(MAR, lambda req, reply: None)  # never answers
    port = await slow.listen(HOST, 0)
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port)
        got: Outcomes = []
        t = time.perf_counter()
        client.send_request(s.mar(), on_answer=got.append, timeout=0.2)
        await _until(lambda: bool(got))
        assert isinstance(got[0], DiameterTimeout)
        assert 0.15 < time.perf_counter() - t < 1.0
        # Counted as a timeout, not in the latency histogram (no answer).
        assert client.metrics.requests.values == {("client", "MAR", "timeout", ""): 1}
        assert client.metrics.latency.count("client", "MAR") == 0
    await slow.stop(timeout=0.5)
    assert slow.metrics.requests.values == {}  # it never answered


async def test_link_failure_resends_once_with_the_t_bit() -> None:
    stuck = DiameterNode(DiameterConfig("hss-a." + s.DOMAIN, s.DOMAIN))
    healthy = DiameterNode(DiameterConfig("hss-b." + s.DOMAIN, s.DOMAIN))
    seen_t: list[bool] = []

    def answer(req: Message, reply: Respond) -> None:
        seen_t.append(req.is_retransmit)
        reply(s.maa(req))

    stuck.add_responder(MAR, lambda req, reply: None)
    healthy.add_responder(MAR, answer)
    port_a, port_b = await stuck.listen(HOST, 0), await healthy.listen(HOST, 0)
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port_a)
        await client.connect(HOST, port_b)
        got: Outcomes = []
        for _ in range(4):  # round robin: two go to the stuck peer
            client.send_request(s.mar(), on_answer=got.append, timeout=5)
        await _until(lambda: len(seen_t) == 2)
        await stuck.stop(timeout=0.5)  # DPR: the link goes away with two requests pending
        await _until(lambda: len(got) == 4)
    assert all(isinstance(a, Message) and a.result_code == 2001 for a in got)
    assert seen_t.count(True) == 2 and seen_t.count(False) == 2
    await healthy.stop()


async def test_second_link_failure_is_delivered() -> None:
    nodes = [DiameterNode(DiameterConfig(f"hss-{i}." + s.DOMAIN, s.DOMAIN)) for i in range(2)]
    seen: list[list[bool]] = [[], []]

    def swallow(mine: list[bool]) -> Responder:
        return lambda req, reply: mine.append(req.is_retransmit)

    for n, mine in zip(nodes, seen, strict=True):
        n.add_responder(MAR, swallow(mine))
    ports = [await n.listen(HOST, 0) for n in nodes]
    async with DiameterNode(client_config()) as client:
        for p in ports:
            await client.connect(HOST, p)
        got: Outcomes = []
        client.send_request(s.mar(), on_answer=got.append, timeout=5)
        await _until(lambda: any(seen))
        first = 0 if seen[0] else 1
        await nodes[first].stop(timeout=0.3)  # the retry goes to the other, T bit set
        await _until(lambda: bool(seen[1 - first]))
        assert got == []
        await nodes[1 - first].stop(timeout=0.3)  # no third try
        await _until(lambda: bool(got))
    assert len(got) == 1 and isinstance(got[0], DiameterUnavailable)
    assert seen[first] == [False] and seen[1 - first] == [True]


async def test_waits_for_a_connecting_peer_in_a_task(hss: tuple[DiameterNode, int]) -> None:
    _, port = hss
    async with DiameterNode(client_config()) as client:
        client.add_peer(HOST, port)  # not yet open
        got: Outcomes = []
        pending = client.send_request(s.mar(), on_answer=got.append, timeout=2)
        assert pending.task is not None
        await _until(lambda: bool(got))
        assert isinstance(got[0], Message) and got[0].result_code == 2001


async def test_a_failing_callback_is_logged_and_the_node_carries_on(
    hss: tuple[DiameterNode, int], logs: list[MutableMapping[str, Any]],
) -> None:
    _, port = hss
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port)

        def broken(outcome: Message | Exception) -> None:
            raise RuntimeError("bug in a callback")

        got: Outcomes = []
        client.send_request(s.mar(), on_answer=broken)
        client.send_request(s.mar(), on_answer=got.append)
        await _until(lambda: bool(got))
        assert isinstance(got[0], Message) and got[0].result_code == 2001
        assert (await client.request(s.mar(), timeout=2)).result_code == 2001
    failed = [e for e in logs if e["event"] == "diameter_answer_callback_failed"]
    assert len(failed) == 1 and failed[0]["command"] == "MAR"


async def test_cancelled_request_gets_no_callback(hss: tuple[DiameterNode, int]) -> None:
    server, port = hss
    gate = asyncio.Event()
    seen: list[Message] = []

    async def held(req: Message) -> Message:
        seen.append(req)
        await gate.wait()
        return s.maa(req)

    server.add_handler(MAR, held)
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port)
        got: Outcomes = []
        pending = client.send_request(s.mar(), on_answer=got.append, timeout=2)
        await _until(lambda: bool(seen))
        pending.cancel()
        gate.set()  # the answer arrives and is dropped
        assert (await client.request(s.mar(), timeout=2)).result_code == 2001
        assert got == []


async def test_responders_answer_now_later_or_with_errors() -> None:
    server = DiameterNode(hss_config())
    loop = asyncio.get_running_loop()

    def later(req: Message, reply: Respond) -> None:
        loop.call_later(0.01, reply, s.maa(req))
        loop.call_later(0.02, reply, s.maa(req))  # a second answer is ignored

    def refuse(req: Message, reply: Respond) -> None:
        reply(DiameterError(ResultCode.UNABLE_TO_COMPLY, "store down"))

    def crash(req: Message, reply: Respond) -> None:
        raise RuntimeError("bug")

    server.add_responder(MAR, later)
    server.add_responder(LIR, refuse)
    server.add_responder(300, crash)
    server.add_responder(SAR, lambda req, reply: reply(req))  # a request is no answer
    port = await server.listen(HOST, 0)
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port)
        before = _tasks()
        answers = await asyncio.gather(client.request(s.mar()), client.request(s.lir()),
                                       client.request(s.uar()), client.request(s.sar()))
        assert _tasks() == before
    mar, lir, uar, sar = answers
    assert mar.result_code == 2001 and mar.origin_host == s.HSS
    assert lir.result_code == ResultCode.UNABLE_TO_COMPLY
    assert lir.get("Error-Message") == "store down"
    assert uar.result_code == ResultCode.UNABLE_TO_COMPLY
    assert sar.result_code == ResultCode.UNABLE_TO_COMPLY
    await server.stop()


async def test_stop_waits_for_requests_being_answered() -> None:
    server = DiameterNode(hss_config())
    loop = asyncio.get_running_loop()

    def slowly(req: Message, reply: Respond) -> None:
        loop.call_later(0.2, reply, s.maa(req))

    server.add_responder(MAR, slowly)
    port = await server.listen(HOST, 0)
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port)
        asked = asyncio.ensure_future(client.request(s.mar(), timeout=5))
        await asyncio.sleep(0.05)
        t = time.perf_counter()
        await server.stop(timeout=2)  # the answer still goes out before the DPR
        assert 0.1 < time.perf_counter() - t < 1.5
        assert (await asyncio.wait_for(asked, 2)).result_code == 2001
