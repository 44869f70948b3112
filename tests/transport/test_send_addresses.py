"""Where `SipTransport.send` writes a UDP datagram: the destination's address as is (an
IPv6 one without brackets), remembered in a bounded table; a name through the cache."""

from __future__ import annotations

from typing import Any

import pytest

from ims_core.sip.addressing import Destination
from ims_core.transport import SipTransport, TransportConfig, layer


class Recorder:
    """Stands in for the asyncio datagram transport."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))


class Endpoint:
    def __init__(self) -> None:
        self.transport = Recorder()


def transport() -> tuple[SipTransport, Recorder]:
    tp = SipTransport(TransportConfig(), lambda msg, source: None)
    endpoint = Endpoint()
    tp._udp = endpoint  # type: ignore[assignment]
    return tp, endpoint.transport


def test_addresses_are_sent_to_as_they_are_each_time() -> None:
    tp, wire = transport()
    for _ in range(2):
        tp.send(b"a", Destination("UDP", "127.0.0.5", 5060))
        tp.send(b"b", Destination("UDP", "[::1]", 5062))
    assert wire.sent == [(b"a", ("127.0.0.5", 5060)), (b"b", ("::1", 5062))] * 2


def test_a_name_is_not_taken_for_an_address(monkeypatch: pytest.MonkeyPatch) -> None:
    tp, wire = transport()
    spawned: list[Any] = []

    def spawn(coro: Any) -> None:
        spawned.append(coro)
        coro.close()
    monkeypatch.setattr(tp, "_spawn", spawn)
    tp.send(b"n", Destination("UDP", "pcscf.example.org", 5060))
    assert wire.sent == [] and len(spawned) == 1  # resolved first (no cache yet)


def test_the_addresses_remembered_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layer, "_IPS_KEPT", 8)
    tp, wire = transport()
    for i in range(50):
        tp.send(b"x", Destination("UDP", f"10.0.0.{i}", 5060))
        assert len(tp._ips) <= 8
    assert [addr for _, addr in wire.sent] == [(f"10.0.0.{i}", 5060) for i in range(50)]
