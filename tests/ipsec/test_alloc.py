"""SPI and protected-port allocation for the P-CSCF's SA sets (TS 33.203 §7.1, §7.4)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from ims_core.ipsec.alloc import ExhaustedError, PortAllocator, SpiAllocator, parse_port_range


def fixed(value: int) -> Callable[[int], bytes]:
    """An rng that always yields `value` (big-endian, as many bytes as asked)."""
    return lambda n: value.to_bytes(n, "big")


def test_spis_are_unique_until_released() -> None:
    rng = random.Random(7)
    spis = SpiAllocator(4096, 4096 + 99, rng.randbytes)
    got = [spis.allocate() for _ in range(100)]
    assert sorted(got) == list(range(4096, 4196))
    assert spis.held == 100
    with pytest.raises(ExhaustedError, match="all 100 SPIs in 4096-4195 are held"):
        spis.allocate()
    spis.release(4150)
    assert 4150 not in spis
    assert spis.allocate() == 4150
    assert 4150 in spis


def test_random_pick_then_linear_probe_with_wrap() -> None:
    spis = SpiAllocator(1000, 1009, fixed(8))
    assert spis.allocate() == 1008
    assert spis.allocate() == 1009  # 1008 is held: the next one
    assert spis.allocate() == 1000  # wraps to the bottom
    assert spis.held == 3


def test_release_of_an_spi_not_held_is_harmless() -> None:
    spis = SpiAllocator(1000, 1000, fixed(0))
    spis.release(1000)
    assert spis.allocate() == 1000
    spis.release(1000)
    spis.release(1000)
    assert spis.held == 0


@pytest.mark.parametrize(("lo", "hi"), [(0, 10), (255, 300), (5000, 4999), (256, 2**32)])
def test_spi_range_must_be_usable(lo: int, hi: int) -> None:
    with pytest.raises(ValueError, match="SPI range"):
        SpiAllocator(lo, hi, fixed(0))


def test_ports_round_robin() -> None:
    ports = PortAllocator(5064, range(5066, 5069))
    assert ports.port_s == 5064
    assert [ports.allocate() for _ in range(5)] == [5066, 5067, 5068, 5066, 5067]


def test_ports_skip_the_one_to_avoid() -> None:
    ports = PortAllocator(5064, range(5066, 5069))
    assert ports.allocate(avoid=5066) == 5067
    assert ports.allocate(avoid=5068) == 5066  # 5068 was next: skipped, wrapping
    assert ports.allocate(avoid=5099) == 5067
    two = PortAllocator(5064, range(5066, 5068))
    assert [two.allocate(avoid=5066) for _ in range(3)] == [5067, 5067, 5067]


@pytest.mark.parametrize(("port_s", "client", "message"), [
    (5064, range(5066, 5067), "at least two"),
    (5064, range(5066, 5066), "at least two"),
    (5066, range(5066, 5070), "also a client port"),
    (0, range(5066, 5070), "1-65535"),
    (5064, range(65535, 65537), "1-65535"),
])
def test_port_allocator_rejects_bad_config(port_s: int, client: range, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PortAllocator(port_s, client)


@pytest.mark.parametrize(("text", "expected"), [
    ("5066-5073", range(5066, 5074)),
    (" 5066 - 5073 ", range(5066, 5074)),
    ("5066", range(5066, 5067)),
    ("1-65535", range(1, 65536)),
])
def test_parse_port_range(text: str, expected: range) -> None:
    assert parse_port_range(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "is not LOW-HIGH"),
    ("5066-", "is not LOW-HIGH"),
    ("5066..5073", "is not LOW-HIGH"),
    ("-5073", "is not LOW-HIGH"),
    ("a-b", "is not LOW-HIGH"),
    ("0-10", "0 is not in 1-65535"),
    ("5066-70000", "70000 is not in 1-65535"),
    ("5073-5066", "is empty: 5073 is above 5066"),
])
def test_parse_port_range_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_port_range(text)
