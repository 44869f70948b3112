"""The Diameter message header (RFC 6733 §3).

::

    | Version (1) | Message Length (3)            |
    | R P E T r r r r | Command Code (3)          |
    | Application-ID (4)                          |
    | Hop-by-Hop Identifier (4)                   |
    | End-to-End Identifier (4)                   |
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .errors import DiameterError, ResultCode

HEADER_LENGTH = 20
VERSION = 1
FLAG_R = 0x80  # request
FLAG_P = 0x40  # proxiable
FLAG_E = 0x20  # error (protocol error answer, §7.1.3)
FLAG_T = 0x10  # potentially retransmitted (§5.5.4)
HEADER_RESERVED_BITS = 0x0F  # "MUST be set to 0 and ignored by the receiver" (§3)

HEADER = struct.Struct(">IIIII")


class Header(NamedTuple):
    """A parsed message header."""

    version: int
    length: int
    flags: int
    command_code: int
    application_id: int
    hop_by_hop: int
    end_to_end: int

    @property
    def is_request(self) -> bool:
        return bool(self.flags & FLAG_R)

    @property
    def is_error(self) -> bool:
        return bool(self.flags & FLAG_E)


def parse_header(data: bytes) -> Header:
    """Read the first 20 octets; 5015 if too short, 5011 for another version."""
    if len(data) < HEADER_LENGTH:
        raise DiameterError(
            ResultCode.INVALID_MESSAGE_LENGTH, f"{len(data)} octets, shorter than a header"
        )
    w0, w1, app, hbh, e2e = HEADER.unpack_from(data)
    h = Header(w0 >> 24, w0 & 0xFFFFFF, w1 >> 24, w1 & 0xFFFFFF, app, hbh, e2e)
    if h.version != VERSION:
        err = DiameterError(ResultCode.UNSUPPORTED_VERSION, f"version {h.version}")
        err.header = h
        raise err
    return h


def pack_header(
    length: int, flags: int, command_code: int, application_id: int, hbh: int, e2e: int
) -> bytes:
    return HEADER.pack(
        (VERSION << 24) | length, (flags << 24) | command_code, application_id, hbh, e2e
    )
