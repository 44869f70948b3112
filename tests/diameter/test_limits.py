"""Absurd lengths and nesting are refused with their Result-Code (RFC 6733 §7.1), before
anything is allocated or recursed for them."""

from __future__ import annotations

import struct
import tracemalloc

import pytest

from ims_core.diameter import DEFAULT, DiameterError, Framer, ResultCode, decode
from ims_core.diameter.codec import MAX_GROUP_DEPTH, MAX_MESSAGE_LENGTH

from .samples import raw_avp, raw_message

DWR = 280  # Device-Watchdog-Request, base application 0
PROXY_INFO = 284  # Grouped
BASE = raw_avp(264, 0x40, b"a.ims") + raw_avp(296, 0x40, b"ims")


def _error(data: bytes) -> DiameterError:
    with pytest.raises(DiameterError) as info:
        decode(data)
    return info.value


def _header(length: int, command: int = DWR, flags: int = 0x80) -> bytes:
    return struct.pack(">IIIII", (1 << 24) | length, (flags << 24) | command, 0, 1, 2)


def test_header_length_beyond_the_bound_is_5015_on_a_stream_before_buffering() -> None:
    framer = Framer()
    with pytest.raises(DiameterError) as info:
        framer.feed(_header(0xFFFFFC))  # 16 MiB announced, 20 octets sent
    assert info.value.result_code == ResultCode.INVALID_MESSAGE_LENGTH
    assert framer.buffered == 20  # nothing was reserved for the announced length


def test_header_length_beyond_the_bound_is_5015_for_a_whole_message() -> None:
    big = MAX_MESSAGE_LENGTH + 4
    body = raw_avp(1, 0, b"\0" * (big - 20 - 8))
    data = _header(big) + body
    assert len(data) == big
    assert _error(data).result_code == ResultCode.INVALID_MESSAGE_LENGTH


@pytest.mark.parametrize("length", [19, 21, 22, 1000, 0xFFFFFF])
def test_header_length_not_matching_the_data_is_5015(length: int) -> None:
    data = _header(length) + BASE
    assert _error(data).result_code == ResultCode.INVALID_MESSAGE_LENGTH


@pytest.mark.parametrize("length", [0, 1, 7])
def test_avp_length_under_its_header_is_5014(length: int) -> None:
    avp = struct.pack(">II", 264, (0x40 << 24) | length) + b"abcd"
    err = _error(raw_message(DWR, 0, 0x80, avp + BASE))
    assert err.result_code == ResultCode.INVALID_AVP_LENGTH
    assert err.failed_avp is not None and err.failed_avp.startswith(avp[:8])


def test_avp_length_beyond_the_message_is_5014_with_a_bounded_failed_avp() -> None:
    avp = struct.pack(">II", 264, (0x40 << 24) | 0xFFFFFF) + b"abcd"
    err = _error(raw_message(DWR, 0, 0x80, BASE + avp))
    assert err.result_code == ResultCode.INVALID_AVP_LENGTH
    assert err.failed_avp == avp  # what is there, not 16 MiB


def test_inner_avp_length_beyond_its_group_is_5014() -> None:
    inner = struct.pack(">II", 280, (0x40 << 24) | 4000) + b"host"
    err = _error(raw_message(DWR, 0, 0x80, BASE + raw_avp(PROXY_INFO, 0x40, inner)))
    assert err.result_code == ResultCode.INVALID_AVP_LENGTH


def _nested(depth: int) -> bytes:
    avp = raw_avp(33, 0x40, b"state")  # Proxy-State
    for _ in range(depth):
        avp = raw_avp(PROXY_INFO, 0x40, avp)
    return avp


def test_nesting_at_the_bound_decodes() -> None:
    msg = decode(raw_message(DWR, 0, 0x80, BASE + _nested(MAX_GROUP_DEPTH)))
    assert msg.avps[-1].code == PROXY_INFO


@pytest.mark.parametrize("depth", [MAX_GROUP_DEPTH + 1, 10_000])
def test_absurd_nesting_is_5004_without_recursing_into_it(depth: int) -> None:
    data = raw_message(DWR, 0, 0x80, BASE + _nested(depth))
    assert len(data) < MAX_MESSAGE_LENGTH
    err = _error(data)  # a RecursionError would escape as itself
    assert err.result_code == ResultCode.INVALID_AVP_VALUE
    # Failed-AVP (§7.5): the Grouped AVP one level too deep, as received.
    assert err.failed_avp is not None and err.failed_avp[:4] == struct.pack(">I", PROXY_INFO)
    assert err.failed_avp in data


def test_large_grouped_payloads_are_not_kept_in_the_decode_memo() -> None:
    DEFAULT.decoded_groups.clear()
    state = raw_avp(33, 0x40, b"s" * 60_000)
    tracemalloc.start()
    try:
        for i in range(20):  # all different: each would be a new memo entry
            inner = raw_avp(280, 0x40, f"host{i}".encode()) + state
            decode(raw_message(DWR, 0, 0x80, BASE + raw_avp(PROXY_INFO, 0x40, inner)))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(len(k) <= 512 for k in DEFAULT.decoded_groups)
    assert held < 400_000  # 20 x 60 kB would be 1.2 MB
