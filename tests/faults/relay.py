"""A UDP impairment relay for tests on a kernel without netem.

:class:`Impairment` is the sans-I/O part: from a seeded ``random.Random`` it decides the
fate of each datagram (dropped, or sent once or twice after a delay drawn from the jitter
range). Reordering is not decided: it follows from the jitter, and is counted.

:class:`UdpRelay` (asyncio) listens on one address and forwards each client's datagrams
to the target from an upstream socket of that client's own (bound on the client's IP with
an ephemeral port), so the target tells clients apart and answers each through the relay;
what reaches an upstream socket goes back to its client from the listening socket, with
the same impairment. :class:`RelayThread` runs relays on an event loop in a thread of the
test's process and stops them, and every datagram still waiting, when its block ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import cast

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Impairment:
    """What happens to a datagram: lost with probability ``loss``, else delayed by a
    uniform draw from ``delay`` (seconds) and, with probability ``duplicate``, sent a
    second time after a delay of its own."""

    loss: float = 0.05
    duplicate: float = 0.01
    delay: tuple[float, float] = (0.020, 0.050)

    def __post_init__(self) -> None:
        if not (0.0 <= self.loss <= 1.0 and 0.0 <= self.duplicate <= 1.0):
            raise ValueError("loss and duplicate are probabilities")
        if not 0.0 <= self.delay[0] <= self.delay[1]:
            raise ValueError("delay must be (low, high) with 0 <= low <= high")

    def fate(self, rng: random.Random) -> tuple[float, ...]:
        """The delays of the copies to send: () when the datagram is lost. Always draws
        the same number of values, so one seed gives one sequence of fates."""
        lost = rng.random() < self.loss
        twice = rng.random() < self.duplicate
        first = rng.uniform(*self.delay)
        second = rng.uniform(*self.delay)
        if lost:
            return ()
        return (first, second) if twice else (first,)


@dataclass(slots=True)
class RelayCounters:
    """What the relay did, both directions together."""

    received: int = 0  # datagrams that reached the relay
    dropped: int = 0
    duplicated: int = 0  # datagrams sent twice
    sent: int = 0  # copies sent (received - dropped + duplicated, once all are out)
    reordered: int = 0  # copies sent after a later datagram of the same flow and direction
    clients: int = 0  # upstream sockets opened
    refused: int = 0  # datagrams from new clients beyond ``max_clients``
    tcp_connections: int = 0  # streams passed through (``tcp=True``), unimpaired


@dataclass(slots=True)
class _Flow:
    """Sequence numbers of one direction of one client, for the reorder count."""

    next_seq: int = 0
    highest_sent: int = -1


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, relay: UdpRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.relay._from_client(data, (str(addr[0]), int(str(addr[1]))))


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, relay: UdpRelay, client: Address) -> None:
        self.relay = relay
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[tuple[bytes, int]] = []  # datagrams before the socket is up

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        if self.relay.closed:
            self.transport.close()
            return
        for data, seq in self.pending:
            self.relay._send(self.transport, data, self.relay.target, (self.client, "up"), seq)
        self.pending.clear()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.relay._from_target(self.client, data)


@dataclass
class UdpRelay:
    """Relay ``listen`` → ``target`` (and the answers back) through ``impairment``,
    drawing fates from ``random.Random(seed)``. Use it on one event loop."""

    listen: Address
    target: Address
    impairment: Impairment = field(default_factory=Impairment)
    seed: int = 0
    max_clients: int = 4096
    tcp: bool = False
    counters: RelayCounters = field(default_factory=RelayCounters)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._listener: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        self._streams: set[asyncio.StreamWriter] = set()
        self._upstreams: dict[Address, _Upstream] = {}
        self._flows: dict[tuple[Address, str], _Flow] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self.closed = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Listener(self), local_addr=self.listen)
        self._listener = transport
        if self.tcp:
            self._tcp_server = await asyncio.start_server(
                self._pipe_stream, self.listen[0], self.listen[1])

    async def _pipe_stream(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        # A SIP request over 1300 bytes goes over TCP (RFC 3261 §18.1.1): TCP has its
        # own retransmissions, so the stream passes as it is.
        self.counters.tcp_connections += 1
        client = writer.get_extra_info("peername")
        self._streams.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.target[0], self.target[1], local_addr=(client[0], 0))
        except OSError:
            writer.close()
            return
        self._streams.add(up_writer)
        await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))

    def close(self) -> None:
        """Cancel what is still delayed and close every socket."""
        self.closed = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._listener is not None:
            self._listener.close()
        if self._tcp_server is not None:
            self._tcp_server.close()
        for stream in self._streams:
            stream.close()
        self._streams.clear()
        for upstream in self._upstreams.values():
            if upstream.transport is not None:
                upstream.transport.close()
        self._upstreams.clear()

    # -- both directions ---------------------------------------------------------------

    def _from_client(self, data: bytes, client: Address) -> None:
        if self.closed:
            return
        upstream = self._upstreams.get(client)
        if upstream is None:
            if len(self._upstreams) >= self.max_clients:
                self.counters.refused += 1
                return
            upstream = self._open_upstream(client)
        seq = self._arrive((client, "up"))
        if upstream.transport is None:
            upstream.pending.append((data, seq))
        else:
            self._send(upstream.transport, data, self.target, (client, "up"), seq)

    def _from_target(self, client: Address, data: bytes) -> None:
        if self._listener is None:
            return
        seq = self._arrive((client, "down"))
        self._send(self._listener, data, client, (client, "down"), seq)

    def _open_upstream(self, client: Address) -> _Upstream:
        upstream = _Upstream(self, client)
        self._upstreams[client] = upstream
        self.counters.clients += 1
        loop = asyncio.get_running_loop()
        # The client's own IP: a proxy that sees it in Via needs no received= (RFC 3261
        # §18.2.1) and still answers through us by rport (RFC 3581 §4).
        task = loop.create_task(loop.create_datagram_endpoint(
            lambda: upstream, local_addr=(client[0], 0)))
        task.add_done_callback(lambda t: t.exception())
        return upstream

    def _arrive(self, flow: tuple[Address, str]) -> int:
        self.counters.received += 1
        state = self._flows.setdefault(flow, _Flow())
        state.next_seq += 1
        return state.next_seq - 1

    def _send(self, transport: asyncio.DatagramTransport, data: bytes, to: Address,
              flow: tuple[Address, str], seq: int) -> None:
        delays = self.impairment.fate(self._rng)
        if not delays:
            self.counters.dropped += 1
            return
        if len(delays) > 1:
            self.counters.duplicated += 1
        for delay in delays:
            self._later(delay, transport, data, to, flow, seq)

    def _later(self, delay: float, transport: asyncio.DatagramTransport, data: bytes,
               to: Address, flow: tuple[Address, str], seq: int) -> None:
        def fire() -> None:
            self._timers.discard(handle)
            self._deliver(transport, data, to, flow, seq)

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(handle)

    def _deliver(self, transport: asyncio.DatagramTransport, data: bytes, to: Address,
                 flow: tuple[Address, str], seq: int) -> None:
        if transport.is_closing():
            return
        state = self._flows[flow]
        if seq < state.highest_sent:
            self.counters.reordered += 1
        state.highest_sent = max(state.highest_sent, seq)
        self.counters.sent += 1
        transport.sendto(data, to)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


class RelayThread:
    """Relays on an event loop of their own in a daemon thread, for synchronous tests."""

    def __init__(self, relays: Sequence[UdpRelay]) -> None:
        self.relays = list(relays)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="udp-relay")

    def start(self) -> None:
        self._thread.start()
        for relay in self.relays:
            asyncio.run_coroutine_threadsafe(relay.start(), self._loop).result(5)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        def close_all() -> None:
            for relay in self.relays:
                relay.close()

        self._loop.call_soon_threadsafe(close_all)
        # Let the closed transports finish (their connection_lost) before stopping.
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0.1), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def counters(self) -> list[RelayCounters]:
        """A consistent copy of each relay's counters (read on the loop's thread)."""
        async def snapshot() -> list[RelayCounters]:
            return [dataclasses.replace(r.counters) for r in self.relays]
        return asyncio.run_coroutine_threadsafe(snapshot(), self._loop).result(5)


@contextmanager
def running_relays(relays: Sequence[UdpRelay]) -> Iterator[RelayThread]:
    """Start ``relays`` in a thread; stop them, and drop what is still delayed, on exit."""
    thread = RelayThread(relays)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()
