"""HEP3 (EEP v3) packets, sans-I/O: encode, decode, and the correlation id of a message.

A packet is the ASCII magic ``HEP3``, a 16-bit total length (the whole packet, magic
included), then chunks: vendor id (16 bits), type id (16 bits), chunk length (16 bits,
the six header octets included) and the value; every integer in network byte order.
Vendor 0x0000 holds the generic chunk types below; a receiver skips chunks it does not
know. The values and sizes are those of the HEP3 network protocol specification
(sipcapture.org), which Homer's collector (heplify-server) also checks chunk by chunk.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import struct
from enum import IntEnum

from ims_core.diameter.codec import find_session_id
from ims_core.wiretap import Payload

MAGIC = b"HEP3"
MAX_PACKET = 0xFFFF  # the total length field is 16 bits
VENDOR_GENERIC = 0x0000


class Chunk(IntEnum):
    """Generic chunk type ids (vendor 0x0000)."""

    IP_FAMILY = 0x0001  # uint8: 2 IPv4, 10 IPv6
    IP_PROTO = 0x0002  # uint8: IP protocol number
    IPV4_SRC = 0x0003  # 4 octets
    IPV4_DST = 0x0004
    IPV6_SRC = 0x0005  # 16 octets
    IPV6_DST = 0x0006
    SRC_PORT = 0x0007  # uint16
    DST_PORT = 0x0008
    TS_SEC = 0x0009  # uint32, Unix time
    TS_USEC = 0x000A  # uint32, microseconds within the second
    PROTO_TYPE = 0x000B  # uint8, see ProtoType
    CAPTURE_ID = 0x000C  # uint32, the capture agent
    KEEPALIVE = 0x000D  # uint16 (not sent by us)
    AUTH_KEY = 0x000E  # octets: the collector's password
    PAYLOAD = 0x000F  # octets: the captured message
    COMPRESSED = 0x0010  # octets (not sent by us)
    CORRELATION_ID = 0x0011  # octets
    VLAN = 0x0012  # uint16 (not sent by us)
    NODE_NAME = 0x0013  # octets: the capture node's name (heplify-server: NodeName)


class ProtoType(IntEnum):
    """Chunk 0x000b values. 0x38 for Diameter is what Homer's capture agent sends
    (captagent, ``PROTO_DIAMETER 0x38`` in its Diameter protocol module)."""

    SIP = 0x01
    DIAMETER = 0x38


FAMILY_IPV4 = 2  # the values of AF_INET / AF_INET6 on Linux, as the specification uses
FAMILY_IPV6 = 10
IPPROTO_TCP = 6
IPPROTO_UDP = 17

# The size of each fixed-size generic chunk's value; octet-string chunks are absent.
_FIXED: dict[int, int] = {
    Chunk.IP_FAMILY: 1, Chunk.IP_PROTO: 1, Chunk.IPV4_SRC: 4, Chunk.IPV4_DST: 4,
    Chunk.IPV6_SRC: 16, Chunk.IPV6_DST: 16, Chunk.SRC_PORT: 2, Chunk.DST_PORT: 2,
    Chunk.TS_SEC: 4, Chunk.TS_USEC: 4, Chunk.PROTO_TYPE: 1, Chunk.CAPTURE_ID: 4,
    Chunk.KEEPALIVE: 2, Chunk.VLAN: 2,
}  # fmt: skip
# The chunks every packet we decode must have (what a collector needs to index it).
_REQUIRED = (Chunk.IP_FAMILY, Chunk.IP_PROTO, Chunk.SRC_PORT, Chunk.DST_PORT, Chunk.TS_SEC,
             Chunk.TS_USEC, Chunk.PROTO_TYPE, Chunk.CAPTURE_ID, Chunk.PAYLOAD)

_CHUNK_HDR = struct.Struct(">HHH")
_HDR = struct.Struct(">4sH")


def _hdr(type_id: Chunk) -> bytes:
    """The six header octets of a fixed-size generic chunk."""
    return _CHUNK_HDR.pack(VENDOR_GENERIC, type_id, _CHUNK_HDR.size + _FIXED[type_id])


# The fixed part of every packet we send, packed at once: header, then family, IP protocol,
# source and destination address, ports, seconds, microseconds, protocol type, capture id,
# each chunk's six header octets packed in advance ("6s").
_FIXED_V4 = struct.Struct(">4sH6sB6sB6s4s6s4s6sH6sH6sI6sI6sB6sI")
_FIXED_V6 = struct.Struct(">4sH6sB6sB6s16s6s16s6sH6sH6sI6sI6sB6sI")
_H_FAMILY, _H_PROTO, _H_SPORT, _H_DPORT, _H_SEC, _H_USEC, _H_PTYPE, _H_CAPID = map(
    _hdr, (Chunk.IP_FAMILY, Chunk.IP_PROTO, Chunk.SRC_PORT, Chunk.DST_PORT, Chunk.TS_SEC,
           Chunk.TS_USEC, Chunk.PROTO_TYPE, Chunk.CAPTURE_ID))
# family → (struct, source header, destination header)
_LAYOUT = {
    FAMILY_IPV4: (_FIXED_V4, _hdr(Chunk.IPV4_SRC), _hdr(Chunk.IPV4_DST)),
    FAMILY_IPV6: (_FIXED_V6, _hdr(Chunk.IPV6_SRC), _hdr(Chunk.IPV6_DST)),
}
_T_AUTH, _T_NAME, _T_CID, _T_PAYLOAD = map(
    int, (Chunk.AUTH_KEY, Chunk.NODE_NAME, Chunk.CORRELATION_ID, Chunk.PAYLOAD))
_V4_MAPPED = b"\0" * 10 + b"\xff\xff"  # ::ffff:a.b.c.d (RFC 4291 §2.5.5.2)


class HepError(ValueError):
    """A packet that cannot be encoded, or bytes that are not a well-formed HEP3 packet."""


@dataclasses.dataclass(frozen=True, slots=True)
class HepPacket:
    """One captured message. Addresses are IP literals; an IPv4 and an IPv6 address in
    one packet are both sent as IPv6 (IPv4-mapped), as a packet has one family."""

    src: tuple[str, int]
    dst: tuple[str, int]
    ip_proto: int  # IPPROTO_UDP / IPPROTO_TCP
    proto_type: int  # ProtoType
    ts_sec: int
    ts_usec: int
    capture_id: int
    payload: bytes
    correlation_id: bytes = b""
    auth_key: bytes = b""
    node_name: bytes = b""


def timestamp(t: float) -> tuple[int, int]:
    """Seconds and microseconds (chunks 0x0009, 0x000a) of a Unix time."""
    usec = round(t * 1_000_000)
    return usec // 1_000_000, usec % 1_000_000


def _packed(host: str) -> tuple[int, bytes]:
    """(family, packed address) of an IP literal (an IPv6 zone is dropped); HepError for
    anything else."""
    try:
        if ":" in host:
            return FAMILY_IPV6, socket.inet_pton(socket.AF_INET6, host.partition("%")[0])
        return FAMILY_IPV4, socket.inet_pton(socket.AF_INET, host)
    except (OSError, ValueError):  # ValueError: NUL or a non-ASCII character
        raise HepError(f"not an IP address: {host!r}") from None


def _chunk(type_id: int, value: bytes) -> bytes:
    return _CHUNK_HDR.pack(VENDOR_GENERIC, type_id, 6 + len(value)) + value


def encode(p: HepPacket) -> bytes:
    """The HEP3 packet; HepError for an address that is not an IP literal, a field out of
    range, or a packet over 65535 octets."""
    family, src = _packed(p.src[0])
    dst_family, dst = _packed(p.dst[0])
    if family != dst_family:
        family = FAMILY_IPV6
        src, dst = (raw if len(raw) == 16 else _V4_MAPPED + raw for raw in (src, dst))
    tail = [(t, v) for t, v in ((_T_AUTH, p.auth_key), (_T_NAME, p.node_name),
                                (_T_CID, p.correlation_id)) if v]
    tail.append((_T_PAYLOAD, p.payload))
    fixed, src_hdr, dst_hdr = _LAYOUT[family]
    total = fixed.size + sum(_CHUNK_HDR.size + len(v) for _, v in tail)
    if total > MAX_PACKET:
        raise HepError(f"{total} octets: over the 65535 a HEP3 packet can hold")
    try:
        head = fixed.pack(
            MAGIC, total, _H_FAMILY, family, _H_PROTO, p.ip_proto, src_hdr, src, dst_hdr, dst,
            _H_SPORT, p.src[1], _H_DPORT, p.dst[1], _H_SEC, p.ts_sec, _H_USEC, p.ts_usec,
            _H_PTYPE, p.proto_type, _H_CAPID, p.capture_id,
        )  # fmt: skip
    except struct.error as exc:
        raise HepError(f"a field is out of range: {exc}") from None
    return head + b"".join([_chunk(t, v) for t, v in tail])


def decode(data: bytes) -> HepPacket:
    """A HEP3 packet back; HepError for anything malformed: bad magic or total length, a
    chunk that overruns the packet or is shorter than its header, a fixed-size generic
    chunk of the wrong size, one given twice, a required chunk missing, addresses that do
    not match the family. Chunks of other vendors and unknown generic ones are skipped."""
    data = bytes(data)
    if len(data) < _HDR.size:
        raise HepError(f"{len(data)} octets: shorter than a HEP3 header")
    magic, total = _HDR.unpack_from(data)
    if magic != MAGIC:
        raise HepError(f"magic {magic!r}, not b'HEP3'")
    if total != len(data):
        raise HepError(f"total length {total}, {len(data)} octets received")
    seen: dict[int, bytes] = {}
    pos = _HDR.size
    while pos < total:
        if total - pos < _CHUNK_HDR.size:
            raise HepError(f"{total - pos} trailing octets: shorter than a chunk header")
        vendor, type_id, length = _CHUNK_HDR.unpack_from(data, pos)
        if length < _CHUNK_HDR.size or pos + length > total:
            raise HepError(f"chunk {vendor:#06x}/{type_id:#06x}: length {length} at {pos}")
        value = data[pos + _CHUNK_HDR.size : pos + length]
        pos += length
        if vendor != VENDOR_GENERIC:
            continue
        size = _FIXED.get(type_id)
        if size is not None and len(value) != size:
            raise HepError(f"chunk {type_id:#06x}: {len(value)} octets, not {size}")
        if type_id in seen:
            raise HepError(f"chunk {type_id:#06x} twice")
        seen[type_id] = value
    for required in _REQUIRED:
        if required not in seen:
            raise HepError(f"no chunk {required:#06x} ({required.name})")
    family = seen[Chunk.IP_FAMILY][0]
    if family == FAMILY_IPV4:
        af, src_t, dst_t = socket.AF_INET, Chunk.IPV4_SRC, Chunk.IPV4_DST
    elif family == FAMILY_IPV6:
        af, src_t, dst_t = socket.AF_INET6, Chunk.IPV6_SRC, Chunk.IPV6_DST
    else:
        raise HepError(f"IP family {family}")
    if src_t not in seen or dst_t not in seen:
        raise HepError(f"IP family {family} without its source and destination address")

    def u(chunk: Chunk) -> int:
        return int.from_bytes(seen[chunk], "big")

    return HepPacket(
        src=(socket.inet_ntop(af, seen[src_t]), u(Chunk.SRC_PORT)),
        dst=(socket.inet_ntop(af, seen[dst_t]), u(Chunk.DST_PORT)),
        ip_proto=u(Chunk.IP_PROTO), proto_type=u(Chunk.PROTO_TYPE),
        ts_sec=u(Chunk.TS_SEC), ts_usec=u(Chunk.TS_USEC), capture_id=u(Chunk.CAPTURE_ID),
        payload=seen[Chunk.PAYLOAD], correlation_id=seen.get(Chunk.CORRELATION_ID, b""),
        auth_key=seen.get(Chunk.AUTH_KEY, b""), node_name=seen.get(Chunk.NODE_NAME, b""),
    )  # fmt: skip


# Call-ID or its compact form "i" at the start of a header line (RFC 3261 §7.3.3, §20.8).
_CALL_ID = re.compile(rb"\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)


def sip_call_id(data: bytes) -> bytes:
    """The Call-ID of a SIP message, looked for in its header block only; b"" if none."""
    end = data.find(b"\r\n\r\n")
    m = _CALL_ID.search(data, 0, len(data) if end < 0 else end + 2)
    return m.group(1).rstrip(b" \t") if m else b""


def diameter_session_id(data: bytes) -> bytes:
    """The Session-Id AVP (263, RFC 6733 §8.8) among a Diameter message's top-level AVPs;
    b"" if it has none (CER/CEA, DWR/DWA) or the message is malformed."""
    found = find_session_id(data)
    return found.encode() if found else b""


def correlation_id(payload: Payload, data: bytes) -> bytes:
    """Chunk 0x0011: the SIP Call-ID or the Diameter Session-Id."""
    return sip_call_id(data) if payload == "sip" else diameter_session_id(data)
