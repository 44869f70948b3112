"""The impairment relay: seeded fates, counts that add up, answers back to each client."""

from __future__ import annotations

import random
import socket
import time

import pytest

from ims_lab.procs import free_port

from .relay import Impairment, UdpRelay, running_relays

HOST = "127.0.0.188"  # within the lossy test's range (127.0.0.181-189)


def test_one_seed_gives_one_sequence_of_fates() -> None:
    imp = Impairment()
    a, b = random.Random(42), random.Random(42)
    assert [imp.fate(a) for _ in range(2000)] == [imp.fate(b) for _ in range(2000)]
    c, d = random.Random(42), random.Random(43)
    assert [imp.fate(c) for _ in range(50)] != [imp.fate(d) for _ in range(50)]


def test_fates_follow_the_probabilities_and_the_jitter() -> None:
    imp = Impairment(loss=0.05, duplicate=0.01, delay=(0.02, 0.05))
    rng = random.Random(1)
    fates = [imp.fate(rng) for _ in range(20000)]
    lost = sum(1 for f in fates if not f)
    twice = sum(1 for f in fates if len(f) == 2)
    assert 0.04 < lost / len(fates) < 0.06
    assert 0.005 < twice / len(fates) < 0.015
    assert all(0.02 <= d <= 0.05 for f in fates for d in f)
    clean = Impairment(loss=0.0, duplicate=0.0, delay=(0.0, 0.0))
    assert {clean.fate(rng) for _ in range(100)} == {(0.0,)}


@pytest.mark.parametrize("kwargs", [{"loss": 1.5}, {"duplicate": -0.1},
                                    {"delay": (0.05, 0.02)}, {"delay": (-0.01, 0.0)}])
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Impairment(**kwargs)  # type: ignore[arg-type]


def _socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.settimeout(2.0)
    return s


def _drain(s: socket.socket, quiet: float = 0.3) -> list[bytes]:
    got: list[bytes] = []
    s.settimeout(quiet)
    while True:
        try:
            got.append(s.recv(2048))
        except TimeoutError:
            return got


def test_counts_match_the_seeded_fates() -> None:
    imp = Impairment(loss=0.05, duplicate=0.01, delay=(0.02, 0.05))
    sink, client = _socket(), _socket()
    # Room for every datagram the relay sends before the drain starts, and (below) a drain
    # until all are in: on a slow CI host the count came up short, 551 of 566 sent (a
    # quiet gap or a full default buffer; which one was not measured).
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # up to rmem_max
    relay = UdpRelay((HOST, free_port(HOST)), sink.getsockname(), imp, seed=7)
    n = 600
    with running_relays([relay]) as thread:
        for i in range(n):
            client.sendto(b"%d" % i, relay.listen)
            if i % 50 == 0:
                time.sleep(0.005)  # arrivals spread over a few jitter windows
        got = _drain(sink)
        deadline = time.monotonic() + 10.0  # bounded: a late send still arrives
        while len(got) < thread.counters()[0].sent and time.monotonic() < deadline:
            got += _drain(sink)
        counters = thread.counters()[0]
    sink.close()
    client.close()
    rng = random.Random(7)
    fates = [imp.fate(rng) for _ in range(n)]  # one direction: fates drawn in arrival order
    assert counters.received == n
    assert counters.dropped == sum(1 for f in fates if not f) > 0
    assert counters.duplicated == sum(1 for f in fates if len(f) == 2) > 0
    assert counters.sent == len(got) == n - counters.dropped + counters.duplicated
    assert counters.clients == 1
    numbers = [int(d) for d in got]
    assert len(set(numbers)) == n - counters.dropped  # duplicates are exact copies
    assert counters.reordered > 0 and numbers != sorted(numbers)  # from the jitter alone


def test_each_client_gets_its_own_answers_back() -> None:
    target = _socket()
    relay = UdpRelay((HOST, free_port(HOST)), target.getsockname(),
                     Impairment(loss=0.0, duplicate=0.0, delay=(0.0, 0.005)), seed=1)
    clients = [_socket(), _socket()]
    with running_relays([relay]) as thread:
        for i, c in enumerate(clients):
            c.sendto(b"hello %d" % i, relay.listen)
        seen = set()
        for _ in clients:
            data, upstream = target.recvfrom(2048)
            assert upstream[0] == HOST  # the upstream socket is on the client's IP
            seen.add(upstream)
            target.sendto(b"re:" + data, upstream)
        assert len(seen) == 2  # one upstream socket per client
        for i, c in enumerate(clients):
            data, source = c.recvfrom(2048)
            assert data == b"re:hello %d" % i and source == relay.listen
        counters = thread.counters()[0]
    assert (counters.clients, counters.received, counters.sent, counters.dropped) == (2, 4, 4, 0)
    for s in (target, *clients):
        s.close()


def test_stopping_drops_what_is_still_delayed() -> None:
    sink, client = _socket(), _socket()
    relay = UdpRelay((HOST, free_port(HOST)), sink.getsockname(),
                     Impairment(loss=0.0, duplicate=0.0, delay=(5.0, 5.0)))
    with running_relays([relay]) as thread:
        client.sendto(b"late", relay.listen)
        time.sleep(0.2)
        assert thread.counters()[0].received == 1
    assert _drain(sink, quiet=0.2) == []
    again = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    again.bind(relay.listen)  # the relay let its port go
    again.close()
    sink.close()
    client.close()
