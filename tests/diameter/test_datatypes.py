"""Every base data type round-trips (RFC 6733 §4.2, §4.3) and bad payloads are rejected."""

from __future__ import annotations

from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest

from ims_core.diameter import AvpType, DiameterError, ResultCode
from ims_core.diameter.datatypes import DECODERS, ENCODERS

CASES: list[tuple[AvpType, Any, bytes]] = [
    (AvpType.OCTET_STRING, b"\x00\xff\x10", b"\x00\xff\x10"),
    (AvpType.INTEGER32, -2, b"\xff\xff\xff\xfe"),
    (AvpType.INTEGER64, -(2**63), b"\x80" + b"\0" * 7),
    (AvpType.UNSIGNED32, 0xFFFFFFFF, b"\xff" * 4),
    (AvpType.UNSIGNED64, 2**64 - 1, b"\xff" * 8),
    (AvpType.FLOAT32, 1.5, b"\x3f\xc0\x00\x00"),
    (AvpType.FLOAT64, -0.25, b"\xbf\xd0" + b"\0" * 6),
    (AvpType.UTF8_STRING, "sip:björn@ims", "sip:björn@ims".encode()),
    (AvpType.DIAMETER_IDENTITY, "hss.ims.example", b"hss.ims.example"),
    (AvpType.DIAMETER_URI, "aaa://hss.ims.example:3868", b"aaa://hss.ims.example:3868"),
    (AvpType.ENUMERATED, 14, b"\0\0\0\x0e"),
    (AvpType.ADDRESS, IPv4Address("127.0.0.4"), b"\0\x01\x7f\0\0\x04"),
    (AvpType.ADDRESS, IPv6Address("::1"), b"\0\x02" + b"\0" * 15 + b"\x01"),
    (AvpType.ADDRESS, (8, b"+15550001"), b"\0\x08+15550001"),  # E.164 family kept raw
    # §4.3.1: 2026-01-01 00:00:00 UTC is 3976214400 s after 1900.
    (AvpType.TIME, datetime(2026, 1, 1, tzinfo=UTC), (3976214400).to_bytes(4, "big")),
    # RFC 4330 era rule: after 2036-02-07 06:28:16 the top bit is clear.
    (AvpType.TIME, datetime(2040, 1, 1, tzinfo=UTC), (123010304).to_bytes(4, "big")),
]


@pytest.mark.parametrize(("kind", "value", "wire"), CASES, ids=lambda x: str(x)[:30])
def test_round_trip(kind: AvpType, value: Any, wire: bytes) -> None:
    assert ENCODERS[kind](value) == wire
    assert DECODERS[kind](wire) == value


def test_address_from_text() -> None:
    assert ENCODERS[AvpType.ADDRESS]("10.0.0.1") == b"\0\x01\x0a\0\0\x01"


@pytest.mark.parametrize(
    ("kind", "wire", "code"),
    [
        (AvpType.UNSIGNED32, b"\0\0\0", ResultCode.INVALID_AVP_LENGTH),
        (AvpType.INTEGER64, b"\0" * 9, ResultCode.INVALID_AVP_LENGTH),
        (AvpType.FLOAT32, b"", ResultCode.INVALID_AVP_LENGTH),
        (AvpType.TIME, b"\0" * 5, ResultCode.INVALID_AVP_LENGTH),
        (AvpType.ADDRESS, b"\0", ResultCode.INVALID_AVP_LENGTH),
        (AvpType.ADDRESS, b"\0\x01\x7f\0\0", ResultCode.INVALID_AVP_LENGTH),
        (AvpType.ADDRESS, b"\0\x02" + b"\0" * 4, ResultCode.INVALID_AVP_LENGTH),
        (AvpType.UTF8_STRING, b"\xff\xfe", ResultCode.INVALID_AVP_VALUE),
    ],
)
def test_bad_payload(kind: AvpType, wire: bytes, code: int) -> None:
    with pytest.raises(DiameterError) as ei:
        DECODERS[kind](wire)
    assert ei.value.result_code == code


@pytest.mark.parametrize(
    ("kind", "value", "exc"),
    [
        (AvpType.UNSIGNED32, -1, ValueError),
        (AvpType.UNSIGNED32, 2**32, ValueError),
        (AvpType.INTEGER32, "1", TypeError),
        (AvpType.INTEGER32, True, TypeError),
        (AvpType.UTF8_STRING, 5, TypeError),
        (AvpType.OCTET_STRING, 5, TypeError),
        (AvpType.TIME, 5, TypeError),
        (AvpType.TIME, datetime(1950, 1, 1), ValueError),
        (AvpType.ADDRESS, 5, TypeError),
    ],
)
def test_bad_value_on_encode(kind: AvpType, value: Any, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        ENCODERS[kind](value)
