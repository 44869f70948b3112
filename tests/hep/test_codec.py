"""HEP3 codec: a packet checked octet by octet against the specification's layout, round
trips, malformed input (HepError, never anything else), and the correlation ids."""

from __future__ import annotations

import dataclasses
import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims_core.hep.codec import (
    FAMILY_IPV4,
    FAMILY_IPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    Chunk,
    HepError,
    HepPacket,
    ProtoType,
    correlation_id,
    decode,
    diameter_session_id,
    encode,
    sip_call_id,
    timestamp,
)
from tests.diameter import samples
from tests.diameter.samples import raw_avp, raw_message

BASE = HepPacket(src=("192.0.2.1", 5060), dst=("198.51.100.2", 5070), ip_proto=IPPROTO_UDP,
                 proto_type=ProtoType.SIP, ts_sec=1_700_000_000, ts_usec=123_456,
                 capture_id=2001, payload=b"hello", correlation_id=b"c1", auth_key=b"pw",
                 node_name=b"n")


def packet(**changes: object) -> HepPacket:
    return dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]


def chunk(type_id: int, value: bytes, vendor: int = 0) -> bytes:
    return struct.pack(">HHH", vendor, type_id, 6 + len(value)) + value


def hep(*chunks: bytes) -> bytes:
    body = b"".join(chunks)
    return b"HEP3" + struct.pack(">H", 6 + len(body)) + body


# The chunks every decodable packet needs, IPv4.
REQUIRED_V4 = (
    chunk(1, b"\x02"), chunk(2, b"\x11"), chunk(3, bytes([192, 0, 2, 1])),
    chunk(4, bytes([198, 51, 100, 2])), chunk(7, b"\x13\xc4"), chunk(8, b"\x13\xce"),
    chunk(9, b"\x65\x53\xf1\x00"), chunk(10, b"\x00\x01\xe2\x40"), chunk(11, b"\x01"),
    chunk(12, b"\x00\x00\x07\xd1"),
)  # fmt: skip


def test_known_packet_octet_by_octet() -> None:
    """Magic, total length, then vendor/type/length/value per chunk, network byte order."""
    expected = bytes.fromhex("".join((
        "48455033", "007f",                   # "HEP3", total length 127 (all of it)
        "0000" "0001" "0007" "02",            # IP family: IPv4
        "0000" "0002" "0007" "11",            # IP protocol: 17 UDP
        "0000" "0003" "000a" "c0000201",      # IPv4 source 192.0.2.1
        "0000" "0004" "000a" "c6336402",      # IPv4 destination 198.51.100.2
        "0000" "0007" "0008" "13c4",          # source port 5060
        "0000" "0008" "0008" "13ce",          # destination port 5070
        "0000" "0009" "000a" "6553f100",      # seconds 1700000000
        "0000" "000a" "000a" "0001e240",      # microseconds 123456
        "0000" "000b" "0007" "01",            # protocol type: SIP
        "0000" "000c" "000a" "000007d1",      # capture agent id 2001
        "0000" "000e" "0008" "7077",          # auth key "pw"
        "0000" "0013" "0007" "6e",            # capture agent name "n"
        "0000" "0011" "0008" "6331",          # correlation id "c1"
        "0000" "000f" "000b" "68656c6c6f",    # payload "hello"
    )))  # fmt: skip
    assert encode(packet()) == expected
    assert decode(expected) == packet()


def test_ipv6_addresses_and_tcp() -> None:
    wire = encode(packet(src=("2001:db8::1", 3868), dst=("::1", 40000), ip_proto=IPPROTO_TCP,
                         proto_type=ProtoType.DIAMETER, correlation_id=b"", auth_key=b"",
                         node_name=b""))
    assert wire[6:20] == chunk(1, bytes([FAMILY_IPV6])) + chunk(2, b"\x06")
    assert chunk(5, ipaddress.IPv6Address("2001:db8::1").packed) in wire
    assert chunk(6, ipaddress.IPv6Address("::1").packed) in wire
    assert chunk(11, b"\x38") in wire
    assert chunk(17, b"") not in wire and chunk(14, b"") not in wire  # empty: left out
    got = decode(wire)
    assert got.src == ("2001:db8::1", 3868) and got.dst == ("::1", 40000)
    assert got.ip_proto == IPPROTO_TCP and got.proto_type == 0x38


def test_mixed_families_are_sent_as_ipv6() -> None:
    got = decode(encode(packet(src=("127.0.0.1", 1), dst=("::1", 2))))
    assert got.src == ("::ffff:127.0.0.1", 1) and got.dst == ("::1", 2)


def test_ipv6_zone_is_dropped() -> None:
    assert decode(encode(packet(src=("fe80::1%lo", 1), dst=("fe80::2", 2)))).src == ("fe80::1", 1)


def test_diameter_protocol_type_is_homers() -> None:
    assert ProtoType.SIP == 1 and ProtoType.DIAMETER == 0x38
    assert Chunk.CORRELATION_ID == 0x11 and Chunk.PAYLOAD == 0x0F and Chunk.AUTH_KEY == 0x0E


@pytest.mark.parametrize("t, expected", [
    (1_700_000_000.0, (1_700_000_000, 0)),
    (1_700_000_000.123456, (1_700_000_000, 123_456)),
    (1_700_000_000.9999996, (1_700_000_001, 0)),  # rounds into the next second
    (0.000001, (0, 1)),
])  # fmt: skip
def test_timestamp(t: float, expected: tuple[int, int]) -> None:
    assert timestamp(t) == expected


@pytest.mark.parametrize("changes, match", [
    ({"src": ("localhost", 5060)}, "not an IP address"),
    ({"dst": ("1.2.3", 5060)}, "not an IP address"),
    ({"dst": ("1.2.3.4\0", 5060)}, "not an IP address"),
    ({"dst": ("fe80::zz", 5060)}, "not an IP address"),
    ({"src": ("1.2.3.4", 65536)}, "out of range"),
    ({"src": ("1.2.3.4", -1)}, "out of range"),
    ({"capture_id": 1 << 32}, "out of range"),
    ({"proto_type": 256}, "out of range"),
    ({"ts_sec": 1 << 32}, "out of range"),
    ({"payload": b"x" * 65_500}, "over the 65535"),
    ({"payload": b"x" * 70_000}, "over the 65535"),
    ({"correlation_id": b"x" * 70_000}, "over the 65535"),
])  # fmt: skip
def test_encode_rejects(changes: dict[str, object], match: str) -> None:
    with pytest.raises(HepError, match=match):
        encode(packet(**changes))


def test_largest_packet_fits() -> None:
    p = packet(auth_key=b"", node_name=b"", correlation_id=b"")
    room = 65535 - len(encode(p)) + len(p.payload)
    assert len(encode(packet(auth_key=b"", node_name=b"", correlation_id=b"",
                             payload=b"x" * room))) == 65535
    with pytest.raises(HepError):
        encode(packet(auth_key=b"", node_name=b"", correlation_id=b"", payload=b"x" * (room + 1)))


MALFORMED: list[tuple[bytes, str]] = [
    (b"", "shorter than a HEP3 header"),
    (b"HEP3\x00", "shorter than a HEP3 header"),
    (b"HEP2\x00\x06", "magic"),
    (b"\x02\x10" + b"\0" * 30, "magic"),  # HEPv2 is not HEP3
    (hep(*REQUIRED_V4, chunk(15, b"x"))[:-1], "total length"),
    (hep(*REQUIRED_V4, chunk(15, b"x")) + b"\0", "total length"),
    (hep(*REQUIRED_V4, chunk(15, b"x"), b"\0\0\0"), "shorter than a chunk header"),
    (hep(*REQUIRED_V4, b"\0\0\0\x0f\0\x05"), "length 5"),
    (hep(*REQUIRED_V4, b"\0\0\0\x0f\0\x10x"), "length 16"),
    (hep(*REQUIRED_V4, b"\0\0\0\x0f\xff\xff"), "length 65535"),
    (hep(*REQUIRED_V4[:6], chunk(8, b"\x13\xce\x00"), *REQUIRED_V4[7:], chunk(15, b"x")),
     "chunk 0x0008: 3 octets, not 2"),
    (hep(chunk(1, b""), *REQUIRED_V4[1:], chunk(15, b"x")), "chunk 0x0001: 0 octets"),
    (hep(chunk(3, b"\x7f\0\0\x01\0"), *REQUIRED_V4, chunk(15, b"x")), "chunk 0x0003: 5"),
    (hep(*REQUIRED_V4, chunk(15, b"x"), chunk(15, b"y")), "chunk 0x000f twice"),
    (hep(*REQUIRED_V4), "no chunk 0x000f"),
    (hep(*REQUIRED_V4[1:], chunk(15, b"x")), "no chunk 0x0001"),
    (hep(*REQUIRED_V4[:9], chunk(15, b"x")), "no chunk 0x000c"),
    (hep(chunk(1, b"\x03"), *REQUIRED_V4[1:], chunk(15, b"x")), "IP family 3"),
    (hep(chunk(1, b"\x0a"), *REQUIRED_V4[1:], chunk(15, b"x")), "without its source"),
    (hep(*REQUIRED_V4[:3], *REQUIRED_V4[4:], chunk(15, b"x")), "without its source"),
]


@pytest.mark.parametrize("data, match", MALFORMED)
def test_malformed_is_a_hep_error(data: bytes, match: str) -> None:
    with pytest.raises(HepError, match=match):
        decode(data)


def test_other_vendors_and_unknown_chunks_are_skipped() -> None:
    wire = hep(chunk(0x0013, b"x", vendor=7), *REQUIRED_V4, chunk(0x0099, b"?"),
               chunk(0x000D, b"\0\x05"), chunk(0x000F, b"payload"), chunk(0x0001, b"", vendor=3))
    got = decode(wire)
    assert got.payload == b"payload" and got.node_name == b""
    assert got.src == ("192.0.2.1", 5060) and got.capture_id == 2001


ports = st.integers(0, 65535)
v4 = st.ip_addresses(v=4).map(str)
v6 = st.ip_addresses(v=6).map(str)
packets = st.builds(
    HepPacket,
    src=st.tuples(v4 | v6, ports), dst=st.tuples(v4 | v6, ports),
    ip_proto=st.sampled_from([IPPROTO_UDP, IPPROTO_TCP]) | st.integers(0, 255),
    proto_type=st.integers(0, 255), ts_sec=st.integers(0, (1 << 32) - 1),
    ts_usec=st.integers(0, 999_999), capture_id=st.integers(0, (1 << 32) - 1),
    payload=st.binary(max_size=2000), correlation_id=st.binary(max_size=100),
    auth_key=st.binary(max_size=40), node_name=st.binary(max_size=40),
)  # fmt: skip


def _same_address(a: str, b: str) -> bool:
    x, y = ipaddress.ip_address(a), ipaddress.ip_address(b)
    if x.version != y.version:  # sent as IPv4-mapped IPv6
        x, y = (ipaddress.IPv6Address(f"::ffff:{z}") if z.version == 4 else z for z in (x, y))
    return x == y


@given(packets)
def test_round_trip(p: HepPacket) -> None:
    wire = encode(p)
    assert wire[:4] == b"HEP3" and struct.unpack(">H", wire[4:6])[0] == len(wire)
    got = decode(wire)
    assert _same_address(got.src[0], p.src[0]) and _same_address(got.dst[0], p.dst[0])
    assert (got.src[1], got.dst[1]) == (p.src[1], p.dst[1])
    assert got.payload == p.payload and got.correlation_id == p.correlation_id
    assert (got.ip_proto, got.proto_type, got.ts_sec, got.ts_usec, got.capture_id,
            got.auth_key, got.node_name) == (p.ip_proto, p.proto_type, p.ts_sec, p.ts_usec,
                                             p.capture_id, p.auth_key, p.node_name)
    both_v4 = ":" not in p.src[0] and ":" not in p.dst[0]
    assert (":" not in got.src[0] and ":" not in got.dst[0]) == both_v4


def _decodes_or_hep_error(data: bytes) -> None:
    try:
        got = decode(data)
    except HepError:
        return
    assert isinstance(got, HepPacket)
    assert decode(encode(got)).payload == got.payload  # what decodes, encodes again


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    _decodes_or_hep_error(data)
    _decodes_or_hep_error(b"HEP3" + struct.pack(">H", len(data) + 6) + data)


chunks = st.lists(st.tuples(st.sampled_from([0, 0, 0, 1, 0xFFFF]), st.integers(0, 0x14),
                            st.binary(max_size=20)), max_size=25)


@settings(max_examples=300)
@given(chunks, st.booleans())
def test_chunk_soup_never_crashes(soup: list[tuple[int, int, bytes]], with_required: bool) -> None:
    """Chunks of any type and size, with and without the required ones: a packet or a
    HepError, never anything else."""
    body = [chunk(t, v, vendor) for vendor, t, v in soup]
    _decodes_or_hep_error(hep(*(REQUIRED_V4 if with_required else ()), *body))


@settings(max_examples=300)
@given(packets, st.data())
def test_damaged_packets_never_crash(p: HepPacket, data: st.DataObject) -> None:
    wire = bytearray(encode(p))
    cut = data.draw(st.integers(0, len(wire)))
    _decodes_or_hep_error(bytes(wire[:cut]))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(wire) - 1))
        wire[i] = data.draw(st.integers(0, 255))
    _decodes_or_hep_error(bytes(wire))


REGISTER = (b"REGISTER sip:ims.example SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.15:5060;branch=z9hG4bK-1;i=x\r\n"
            b"From: <sip:alice@ims.example>;tag=9\r\nTo: <sip:alice@ims.example>\r\n"
            b"In-Reply-To: other@host\r\n"
            b"%s\r\nCSeq: 1 REGISTER\r\nContent-Length: %d\r\n\r\n%s")


def register(call_id_line: bytes, body: bytes = b"") -> bytes:
    return REGISTER % (call_id_line, len(body), body)


@pytest.mark.parametrize("line, expected", [
    (b"Call-ID: a84b4c76e66710@pc33.atlanta.example", b"a84b4c76e66710@pc33.atlanta.example"),
    (b"i: f81d4fae-7dec-11d0", b"f81d4fae-7dec-11d0"),  # compact form (RFC 3261 7.3.3)
    (b"I:x", b"x"),
    (b"call-id \t:  spaced@host \t", b"spaced@host"),
    (b"CALL-ID: upper", b"upper"),
])  # fmt: skip
def test_sip_call_id(line: bytes, expected: bytes) -> None:
    msg = register(line)
    assert sip_call_id(msg) == expected
    assert correlation_id("sip", msg) == expected


def test_sip_call_id_is_looked_for_in_the_headers_only() -> None:
    body = b"Call-ID: in-the-body\r\n"
    msg = register(b"X-Other: 1", body)
    assert sip_call_id(msg) == b""
    assert sip_call_id(register(b"i: head", body)) == b"head"


def test_sip_call_id_with_bare_lf_and_without_a_blank_line() -> None:
    assert sip_call_id(b"OPTIONS sip:x SIP/2.0\nCall-ID: lf@host\nCSeq: 1 OPTIONS\n\n") \
        == b"lf@host"
    assert sip_call_id(b"SIP/2.0 200 OK\r\ni: cut") == b"cut"
    assert sip_call_id(b"") == b"" and sip_call_id(b"\xff\xfe\r\n\r\n") == b""


def test_diameter_session_id() -> None:
    uar = samples.uar()
    wire = uar.encode()
    sid = uar.get_str("Session-Id")
    assert sid and diameter_session_id(wire) == sid.encode()
    assert correlation_id("diameter", wire) == sid.encode()
    answer = samples.uaa(uar).encode()
    assert diameter_session_id(answer) == sid.encode()  # answers echo it (RFC 6733 §8.8)


def test_diameter_session_id_not_first_and_absent() -> None:
    body = raw_avp(264, 0x40, b"scscf.ims") + raw_avp(263, 0x40, b"scscf.ims;1;2")
    assert diameter_session_id(raw_message(300, 16777216, 0xC0, body)) == b"scscf.ims;1;2"
    dwr = raw_message(280, 0, 0x80, raw_avp(264, 0x40, b"scscf.ims") + raw_avp(296, 0x40, b"i"))
    assert diameter_session_id(dwr) == b""
    vendor_263 = raw_message(300, 16777216, 0xC0, raw_avp(263, 0x40, b"v", vendor=10415))
    assert diameter_session_id(vendor_263) == b""  # a 3GPP AVP 263 is another AVP
    for junk in (b"", b"\x01\x00\x00", b"\x01" + b"\xff" * 40, raw_message(300, 0, 0x80, b"")):
        assert diameter_session_id(junk) == b""


@given(st.binary(max_size=200))
def test_correlation_never_crashes(data: bytes) -> None:
    assert isinstance(correlation_id("sip", data), bytes)
    assert isinstance(correlation_id("diameter", data), bytes)
    assert isinstance(correlation_id("diameter", raw_message(300, 0, 0x80, data)), bytes)


def test_families_are_the_specifications() -> None:
    assert (FAMILY_IPV4, FAMILY_IPV6, IPPROTO_UDP, IPPROTO_TCP) == (2, 10, 17, 6)
