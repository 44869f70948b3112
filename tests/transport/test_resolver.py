"""NameCache with a fake lookup and a fake clock; SipTransport sending to hops by name
with the loop's getaddrinfo replaced by one that counts its calls."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from ims_core.sip.addressing import Destination
from ims_core.transport import NameCache, TransportConfig

from .test_layer import HOST, Node, sip_request


class FakeResolver:
    """Names → addresses; counts lookups; `gate` holds every lookup until set."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.calls: list[tuple[str, int]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def lookup(self, host: str, port: int) -> str:
        self.calls.append((host, port))
        await self.gate.wait()
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: unknown name")
        return self.names[host]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def cache(fake: FakeResolver, clock: Clock, size: int = 1024) -> NameCache:
    return NameCache(fake.lookup, clock, ttl=30.0, negative_ttl=1.0, size=size)


async def test_a_name_is_looked_up_once_per_ttl() -> None:
    fake, clock = FakeResolver({"icscf": "172.22.0.25"}), Clock()
    names = cache(fake, clock)
    assert names.cached("icscf", 5060) is None
    for _ in range(5):
        assert await names.resolve("icscf", 5060) == "172.22.0.25"
    assert names.cached("ICSCF", 5060) == "172.22.0.25"  # names are case-insensitive
    assert fake.calls == [("icscf", 5060)]
    clock.now += 29.9
    await names.resolve("icscf", 5060)
    assert len(fake.calls) == 1
    clock.now += 0.2  # 30.1 s after the lookup: expired
    assert names.cached("icscf", 5060) is None
    await names.resolve("icscf", 5060)
    assert len(fake.calls) == 2


async def test_concurrent_callers_share_one_lookup() -> None:
    fake, clock = FakeResolver({"scscf": "172.22.0.30"}), Clock()
    names = cache(fake, clock)
    fake.gate.clear()
    waiting = [asyncio.ensure_future(names.resolve("scscf", 5060)) for _ in range(10)]
    await asyncio.sleep(0)
    fake.gate.set()
    assert await asyncio.gather(*waiting) == ["172.22.0.30"] * 10
    assert fake.calls == [("scscf", 5060)]


async def test_a_failure_is_shared_and_remembered_only_briefly() -> None:
    fake, clock = FakeResolver({}), Clock()
    names = cache(fake, clock)
    fake.gate.clear()
    waiting = [asyncio.ensure_future(names.resolve("hss", 3868)) for _ in range(3)]
    await asyncio.sleep(0)
    fake.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert len(fake.calls) == 1
    with pytest.raises(OSError, match="unknown name"):
        await names.resolve("hss", 3868)  # remembered: no second lookup yet
    assert len(fake.calls) == 1
    fake.names["hss"] = "172.22.0.10"  # the peer came up
    clock.now += 1.1
    assert await names.resolve("hss", 3868) == "172.22.0.10"
    assert len(fake.calls) == 2


async def test_a_name_the_resolver_refuses_outright_is_an_oserror() -> None:
    async def refuse(host: str, port: int) -> str:
        raise UnicodeError("label too long")

    names = NameCache(refuse, Clock())
    with pytest.raises(OSError, match="label too long"):
        await names.resolve("x" * 70, 5060)


async def test_a_cancelled_lookup_caches_nothing() -> None:
    fake, clock = FakeResolver({"pcscf": "172.22.0.20"}), Clock()
    names = cache(fake, clock)
    fake.gate.clear()
    first = asyncio.ensure_future(names.resolve("pcscf", 5060))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert len(names) == 0
    fake.gate.set()
    assert await names.resolve("pcscf", 5060) == "172.22.0.20"


async def test_the_cache_is_bounded_oldest_first() -> None:
    fake = FakeResolver({f"h{i}": f"10.0.0.{i}" for i in range(5)})
    names = cache(fake, Clock(), size=3)
    for i in range(4):
        await names.resolve(f"h{i}", 5060)
    await names.resolve("h1", 5060)  # used: now the newest
    await names.resolve("h4", 5060)  # evicts h2, the least recently used
    assert len(names) == 3
    assert names.cached("h1", 5060) == "10.0.0.1"
    assert names.cached("h2", 5060) is None and names.cached("h0", 5060) is None
    assert names.cached("h3", 5060) == "10.0.0.3"


# -- the transport sending by name ---------------------------------------------------------

@pytest.fixture
async def pair(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Node, Node, list[str]]]:
    """A sender and a receiver on loopback; the name "peer.test" resolves to HOST through
    a counting getaddrinfo."""
    loop = asyncio.get_running_loop()
    calls: list[str] = []

    async def getaddrinfo(host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
        calls.append(host)
        await asyncio.sleep(0.01)  # a lookup takes a while: sends in between must share it
        if host != "peer.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", (HOST, port))]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    sender = Node(TransportConfig(host=HOST, port=0))
    receiver = Node(TransportConfig(host=HOST, port=0), answer=False)
    await sender.transport.start()
    await receiver.transport.start()
    yield sender, receiver, calls
    await sender.transport.close()
    await receiver.transport.close()


async def wait_for_count(node: Node, count: int) -> None:
    for _ in range(100):
        if len(node.received) >= count:
            return
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_messages_to_a_named_hop_cost_one_lookup(
        pair: tuple[Node, Node, list[str]], transport: str) -> None:
    sender, receiver, calls = pair
    dest = Destination(transport, "peer.test", receiver.port)
    for i in range(3):  # while the lookup is in progress
        sender.transport.send(sip_request(branch=f"z9hG4bKn{i}"), dest)
    await wait_for_count(receiver, 3)
    for i in range(3, 6):  # after it: from the cache (UDP) or the open connection (TCP)
        sender.transport.send(sip_request(branch=f"z9hG4bKn{i}"), dest)
    await wait_for_count(receiver, 6)
    assert len(receiver.received) == 6
    assert {s.transport for _, s in receiver.received} == {transport}
    assert calls == ["peer.test"]


async def test_an_unknown_name_is_reported(pair: tuple[Node, Node, list[str]]) -> None:
    sender, _, calls = pair
    for transport in ("UDP", "TCP"):
        failed = asyncio.Event()
        sender.transport.send(b"x", Destination(transport, "nowhere.test", 5060), failed.set)
        await asyncio.wait_for(failed.wait(), 3)
    assert calls == ["nowhere.test"]  # the failure is remembered briefly, not looked up again
