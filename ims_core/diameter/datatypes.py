"""AVP data formats and their wire encodings (RFC 6733 §4.2 basic, §4.3 derived).

Each type has an encoder (Python value -> payload bytes, raising ``TypeError``/``ValueError``
for a value of the wrong kind) and a decoder (payload bytes -> Python value, raising
:class:`DiameterError` 5014 for a wrong size or 5004 for bad contents). Grouped payloads are
handled by the codec, which needs the dictionary.

Python values: OctetString -> ``bytes``; the integer types and Enumerated -> ``int``; the float
types -> ``float``; UTF8String, DiameterIdentity, DiameterURI -> ``str``; Address ->
``IPv4Address``/``IPv6Address`` (other families as ``(family, bytes)``); Time -> an aware UTC
``datetime``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from .errors import DiameterError, ResultCode

AddressValue = IPv4Address | IPv6Address | tuple[int, bytes]


class AvpType(Enum):
    """AVP data formats (RFC 6733 §4.2, §4.3)."""

    OCTET_STRING = "OctetString"
    INTEGER32 = "Integer32"
    INTEGER64 = "Integer64"
    UNSIGNED32 = "Unsigned32"
    UNSIGNED64 = "Unsigned64"
    FLOAT32 = "Float32"
    FLOAT64 = "Float64"
    GROUPED = "Grouped"
    ADDRESS = "Address"
    TIME = "Time"
    UTF8_STRING = "UTF8String"
    DIAMETER_IDENTITY = "DiameterIdentity"
    DIAMETER_URI = "DiameterURI"
    ENUMERATED = "Enumerated"


Encoder = Callable[[Any], bytes]
Decoder = Callable[[bytes], Any]

_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")

# §4.3.1 Time: seconds since 1900-01-01 (NTP). Values with the top bit clear are taken as
# counting from 2036-02-07 06:28:16 (the RFC 4330 §3 era rule), so the type reaches 2104.
NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
_ERA1 = NTP_EPOCH + timedelta(seconds=1 << 32)


def _bad_length(kind: str, n: int) -> DiameterError:
    return DiameterError(ResultCode.INVALID_AVP_LENGTH, f"{kind} payload of {n} octets")


def _struct_codec(st: struct.Struct, kind: str, is_float: bool) -> tuple[Encoder, Decoder]:
    pack, unpack, size = st.pack, st.unpack, st.size

    def encode(value: Any) -> bytes:
        if isinstance(value, bool) or not isinstance(value, (float, int) if is_float else int):
            raise TypeError(f"{kind} needs {'a number' if is_float else 'an int'}, not {value!r}")
        try:
            return pack(value)
        except struct.error:
            raise ValueError(f"{value!r} is out of range for {kind}") from None

    def decode(data: bytes) -> Any:
        if len(data) != size:
            raise _bad_length(kind, len(data))
        return unpack(data)[0]

    return encode, decode


def encode_octets(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"OctetString needs bytes, not {type(value).__name__}")


def decode_octets(data: bytes) -> bytes:
    return data


def encode_text(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):  # already encoded; accepted as is
        return value
    raise TypeError(f"text AVP needs str, not {type(value).__name__}")


def decode_text(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise DiameterError(ResultCode.INVALID_AVP_VALUE, "invalid UTF-8") from None


# §4.3.1 Address: a two-octet IANA address family, then the address.
_FAMILY_LEN = {1: 4, 2: 16}


def encode_address(value: Any) -> bytes:
    if isinstance(value, str):
        value = ip_address(value)
    if isinstance(value, IPv4Address):
        return b"\x00\x01" + value.packed
    if isinstance(value, IPv6Address):
        return b"\x00\x02" + value.packed
    if isinstance(value, tuple) and len(value) == 2:
        family, raw = value
        return int(family).to_bytes(2, "big") + bytes(raw)
    raise TypeError(f"Address needs an IP address or (family, bytes), not {value!r}")


def decode_address(data: bytes) -> AddressValue:
    if len(data) < 2:
        raise _bad_length("Address", len(data))
    family = (data[0] << 8) | data[1]
    want = _FAMILY_LEN.get(family)
    if want is None:
        return (family, data[2:])
    if len(data) != 2 + want:
        raise _bad_length("Address", len(data))
    return IPv4Address(data[2:]) if family == 1 else IPv6Address(data[2:])


def encode_time(value: Any) -> bytes:
    if not isinstance(value, datetime):
        raise TypeError(f"Time needs a datetime, not {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = int((value - NTP_EPOCH).total_seconds())
    if seconds >= 1 << 32:  # second era: counts from 2036 with the top bit clear
        seconds -= 1 << 32
        if seconds >= 1 << 31:
            raise ValueError(f"{value} is beyond the Time range")
    elif seconds < 1 << 31:
        raise ValueError(f"{value} is before 1968, outside the Time range")
    return _U32.pack(seconds)


def decode_time(data: bytes) -> datetime:
    if len(data) != 4:
        raise _bad_length("Time", len(data))
    seconds = _U32.unpack(data)[0]
    base = NTP_EPOCH if seconds & 0x80000000 else _ERA1
    return base + timedelta(seconds=seconds)


def _no_codec(value: Any) -> bytes:
    raise TypeError("Grouped values are encoded by the codec")


ENCODERS: dict[AvpType, Encoder]
DECODERS: dict[AvpType, Decoder]
ENCODERS, DECODERS = {}, {}
# The types of one fixed size read by a struct: a payload of that size decodes to
# ``unpack_from(payload)[0]`` (the codec reads them in place, see ``AvpDef.unpack``).
STRUCTS: dict[AvpType, struct.Struct] = {}
for _t, _st, _f in (
    (AvpType.INTEGER32, _I32, False),
    (AvpType.INTEGER64, _I64, False),
    (AvpType.UNSIGNED32, _U32, False),
    (AvpType.UNSIGNED64, _U64, False),
    (AvpType.FLOAT32, _F32, True),
    (AvpType.FLOAT64, _F64, True),
    (AvpType.ENUMERATED, _I32, False),
):
    ENCODERS[_t], DECODERS[_t] = _struct_codec(_st, _t.value, _f)
    STRUCTS[_t] = _st
for _t in (AvpType.UTF8_STRING, AvpType.DIAMETER_IDENTITY, AvpType.DIAMETER_URI):
    ENCODERS[_t], DECODERS[_t] = encode_text, decode_text
ENCODERS[AvpType.OCTET_STRING], DECODERS[AvpType.OCTET_STRING] = encode_octets, decode_octets
ENCODERS[AvpType.ADDRESS], DECODERS[AvpType.ADDRESS] = encode_address, decode_address
ENCODERS[AvpType.TIME], DECODERS[AvpType.TIME] = encode_time, decode_time
ENCODERS[AvpType.GROUPED], DECODERS[AvpType.GROUPED] = _no_codec, decode_octets
