"""Codec: round trips for every Cx command, wire details, and malformed input (RFC 6733 §3-§7)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ims_core.diameter import (
    CX_APPLICATION_ID,
    FLAG_E,
    FLAG_P,
    FLAG_R,
    Avp,
    DiameterError,
    Framer,
    Message,
    ResultCode,
    decode,
    error_answer,
    make_request,
)

from . import samples as s
from .samples import raw_avp, raw_message

BASE_AVPS = (
    raw_avp(263, 0x40, b"sid;1;2") + raw_avp(264, 0x40, b"a.ims") + raw_avp(296, 0x40, b"ims")
)


@pytest.mark.parametrize(("label", "make_req", "make_ans"), s.ALL, ids=[c[0] for c in s.ALL])
def test_cx_round_trip(
    label: str, make_req: Callable[[], Message], make_ans: Callable[[Message], Message]
) -> None:
    req = make_req()
    req.hop_by_hop, req.end_to_end = 0x01020304, 0xA0B0C0D0
    wire = req.encode()
    got = decode(wire)
    assert got.is_request and got.is_proxiable and not got.is_error
    assert (got.command_code, got.application_id) == (req.command_code, CX_APPLICATION_ID)
    assert (got.hop_by_hop, got.end_to_end) == (0x01020304, 0xA0B0C0D0)
    assert got.avps == req.avps
    assert got.encode() == wire
    ans = make_ans(got)
    awire = ans.encode()
    agot = decode(awire)
    assert not agot.is_request and agot.is_proxiable
    assert (agot.hop_by_hop, agot.end_to_end) == (0x01020304, 0xA0B0C0D0)
    assert agot.session_id == req.session_id
    assert agot.avps == ans.avps
    assert agot.encode() == awire
    assert agot.name[:2] == req.name[:2] and agot.name.endswith("A")


def test_wire_bytes_by_hand() -> None:
    m = Message(300, CX_APPLICATION_ID, FLAG_R | FLAG_P, 1, 2)
    m.add("User-Name", "ab")  # IETF, M: 8-byte header, 2 octets, 2 of padding
    m.add("Public-Identity", "sip:x")  # 3GPP, V+M: 12-byte header, 5 octets, 3 of padding
    m.add("Wildcarded-IMPU", "w")  # 3GPP, V only
    body = (
        b"\x00\x00\x00\x01\x40\x00\x00\x0aab\x00\x00"
        + b"\x00\x00\x02\x59\xc0\x00\x00\x11\x00\x00\x28\xafsip:x\x00\x00\x00"
        + b"\x00\x00\x02\x7c\x80\x00\x00\x0d\x00\x00\x28\xafw\x00\x00\x00"
    )
    assert (
        m.encode()
        == b"\x01\x00\x00\x44\xc0\x00\x01\x2c\x01\x00\x00\x00"
        + (b"\x00\x00\x00\x01\x00\x00\x00\x02")
        + body
    )


def test_grouped_nesting_and_accessors() -> None:
    req = s.mar()
    ans = decode(s.maa_digest(decode(req.encode())).encode())
    item = ans.get_grouped("SIP-Auth-Data-Item")
    assert item is not None
    dig = item.get_grouped("SIP-Digest-Authenticate")
    assert dig is not None and dig.get_str("Digest-HA1") == "0" * 32
    assert ans.find_code(612, 10415) is not None
    assert ans.get("SIP-Auth-Data-Item") == item


def test_unknown_avp_without_m_is_kept() -> None:
    req = s.sar()
    wire = req.encode()
    extra = raw_avp(494, 0x00, b"kamailio", vendor=50)  # as Kamailio's SAR carries
    body = wire[20:] + extra
    got = decode(raw_message(301, CX_APPLICATION_ID, 0xC0, body))
    unknown = got.find_code(494, 50)
    assert unknown is not None and unknown.value == b"kamailio" and unknown.defn is None
    assert got.encode()[20:] == body


@pytest.mark.parametrize("flags", [0x80, 0xC0])
def test_m_bit_either_way_for_cx(flags: int) -> None:
    body = wire_lir_body(public_identity_flags=flags)
    got = decode(raw_message(302, CX_APPLICATION_ID, 0xC0, body))
    assert got.get("Public-Identity") == "sip:x"


def wire_lir_body(public_identity_flags: int = 0xC0, extra: bytes = b"") -> bytes:
    return (
        BASE_AVPS
        + raw_avp(260, 0x40, raw_avp(266, 0x40, (10415).to_bytes(4, "big"))
                  + raw_avp(258, 0x40, CX_APPLICATION_ID.to_bytes(4, "big")))
        + raw_avp(277, 0x40, b"\0\0\0\x01")
        + raw_avp(283, 0x40, b"ims")
        + raw_avp(601, public_identity_flags & 0x7F, b"sip:x", vendor=10415)
        + extra
    )  # fmt: skip


def unpadded(avp: bytes) -> bytes:
    """The AVP as its length field counts it (Failed-AVP carries no padding)."""
    return avp[: int.from_bytes(avp[5:8], "big")]


def _err(data: bytes) -> DiameterError:
    with pytest.raises(DiameterError) as ei:
        decode(data)
    return ei.value


def test_lir_by_hand_decodes() -> None:
    assert decode(raw_message(302, CX_APPLICATION_ID, 0xC0, wire_lir_body())).name == "LIR"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x01\x00\x00\x14\x80", ResultCode.INVALID_MESSAGE_LENGTH),  # short header
        (b"\x02" + raw_message(280, 0, 0x80, BASE_AVPS)[1:], ResultCode.UNSUPPORTED_VERSION),
        (raw_message(280, 0, 0x80, BASE_AVPS) + b"\0\0\0\0", ResultCode.INVALID_MESSAGE_LENGTH),
        (raw_message(280, 0, 0x80, BASE_AVPS)[:-4], ResultCode.INVALID_MESSAGE_LENGTH),
        (raw_message(280, 0, 0xA0, BASE_AVPS), ResultCode.INVALID_HDR_BITS),  # R and E
        (raw_message(280, 0, 0xC0, BASE_AVPS), ResultCode.INVALID_HDR_BITS),  # P on DWR
        (raw_message(999, 0, 0x80, BASE_AVPS), ResultCode.COMMAND_UNSUPPORTED),
        (raw_message(302, 0, 0xC0, wire_lir_body()), ResultCode.APPLICATION_UNSUPPORTED),
        (raw_message(302, 4, 0xC0, wire_lir_body()), ResultCode.APPLICATION_UNSUPPORTED),
        (raw_message(280, 0, 0x80, BASE_AVPS)[:-2], ResultCode.INVALID_MESSAGE_LENGTH),
    ],
    ids=[
        "short",
        "version",
        "length-long",
        "length-short",
        "R+E",
        "P-on-DWR",
        "unknown-cmd",
        "app-0",
        "app-4",
        "unaligned",
    ],
)
def test_malformed_message(data: bytes, code: int) -> None:
    assert _err(data).result_code == code


def _with_avp(bad: bytes) -> bytes:
    return raw_message(302, CX_APPLICATION_ID, 0xC0, wire_lir_body(extra=bad))


def test_avp_length_below_header() -> None:
    bad = b"\x00\x00\x00\x01\x40\x00\x00\x04"
    e = _err(_with_avp(bad))
    assert e.result_code == ResultCode.INVALID_AVP_LENGTH and not e.e_bit
    assert e.failed_avp is not None and e.failed_avp.startswith(bad)


def test_vendor_avp_length_below_its_header() -> None:
    bad = b"\x00\x00\x02\x59\xc0\x00\x00\x0a\x00\x00\x28\xaf"
    assert _err(_with_avp(bad)).result_code == ResultCode.INVALID_AVP_LENGTH


def test_avp_overrunning_message() -> None:
    bad = b"\x00\x00\x00\x01\x40\x00\x00\x40abcd"
    e = _err(_with_avp(bad))
    assert e.result_code == ResultCode.INVALID_AVP_LENGTH
    assert e.session_id == "sid;1;2" and e.header is not None and e.header.hop_by_hop == 7


def test_trailing_octets() -> None:
    assert _err(_with_avp(b"\0\0\0\0")).result_code == ResultCode.INVALID_AVP_LENGTH


def test_reserved_avp_bits() -> None:
    bad = raw_avp(1, 0x41, b"user")
    e = _err(_with_avp(bad))
    assert e.result_code == ResultCode.INVALID_AVP_BITS and e.e_bit
    assert e.failed_avp == bad


def test_unknown_mandatory_avp() -> None:
    bad = raw_avp(4242, 0x40, b"\0\0\0\x01", vendor=10415)
    e = _err(_with_avp(bad))
    assert (e.result_code, e.e_bit) == (ResultCode.AVP_UNSUPPORTED, False)
    assert e.failed_avp == unpadded(bad)


def test_unknown_mandatory_avp_inside_grouped() -> None:
    inner = raw_avp(4242, 0x40, b"x")
    e = _err(_with_avp(raw_avp(612, 0xC0, inner, vendor=10415)))
    assert (e.result_code, e.failed_avp) == (ResultCode.AVP_UNSUPPORTED, unpadded(inner))


def test_invalid_utf8_is_5004_naming_the_avp() -> None:
    # The one-pass decoder reads text inline: what it cannot decode goes to the phases.
    bad = raw_avp(1, 0x40, b"ok\xff\xfe")
    e = _err(_with_avp(bad))
    assert (e.result_code, e.failed_avp) == (ResultCode.INVALID_AVP_VALUE, unpadded(bad))


def test_bad_value_and_length_in_typed_avp() -> None:
    e = _err(_with_avp(raw_avp(1, 0x40, b"\xff\xfe")))
    assert e.result_code == ResultCode.INVALID_AVP_VALUE
    bad = raw_avp(607, 0xC0, b"\0\0\x01", vendor=10415)
    e = _err(_with_avp(bad))
    assert (e.result_code, e.failed_avp) == (ResultCode.INVALID_AVP_LENGTH, unpadded(bad))


def test_grouped_with_bad_inner_length() -> None:
    inner = b"\x00\x00\x02\x63\xc0\x00\x00\x30\x00\x00\x28\xaf"  # 48 octets claimed, 12 there
    e = _err(_with_avp(raw_avp(612, 0xC0, inner, vendor=10415)))
    assert e.result_code == ResultCode.INVALID_AVP_LENGTH


def test_missing_required_avp() -> None:
    body = wire_lir_body().replace(raw_avp(283, 0x40, b"ims"), b"")
    e = _err(raw_message(302, CX_APPLICATION_ID, 0xC0, body))
    assert e.result_code == ResultCode.MISSING_AVP
    assert e.failed_avp is not None and Avp.from_raw(e.failed_avp).code == 283


def test_missing_result_in_answer() -> None:
    req = s.lir()
    ans = s.lia(decode(req.encode()))
    ans.remove("Result-Code")
    assert _err(ans.encode()).result_code == ResultCode.MISSING_AVP
    ans.add("Experimental-Result", {"Vendor-Id": 10415, "Experimental-Result-Code": 5001})
    assert decode(ans.encode()).result == 5001


def test_rules_can_be_skipped() -> None:
    m = make_request("LIR", session_id="x;1", origin_host="a", origin_realm="b")
    assert _err(m.encode()).result_code == ResultCode.MISSING_AVP
    assert decode(m.encode(), check_rules=False).session_id == "x;1"


def test_error_answer_carries_failed_avp_and_e_bit() -> None:
    bad = raw_avp(1, 0x41, b"user")
    e = _err(_with_avp(bad))
    assert e.header is not None
    ans = error_answer(e.header, e, origin_host="hss", origin_realm="ims")
    got = decode(ans.encode())
    assert got.flags & FLAG_E and not got.is_request and got.is_proxiable
    assert (got.hop_by_hop, got.end_to_end, got.command_code) == (7, 9, 302)
    assert got.result_code == ResultCode.INVALID_AVP_BITS and got.session_id == "sid;1;2"
    failed = got.get_grouped("Failed-AVP")
    assert failed is not None and failed.avps[0].encode() == bad


def test_error_answer_without_e_bit() -> None:
    e = _err(_with_avp(raw_avp(4242, 0x40, b"x")))
    assert e.header is not None
    got = decode(error_answer(e.header, e, origin_host="h", origin_realm="r").encode())
    assert not got.is_error and got.result_code == ResultCode.AVP_UNSUPPORTED


def test_framer_reassembles_and_splits() -> None:
    a, b = s.uar().encode(), s.lir().encode()
    f = Framer()
    stream = a + b
    out: list[bytes] = []
    for i in range(0, len(stream), 7):
        out += f.feed(stream[i : i + 7])
    assert out == [a, b] and f.buffered == 0
    assert Framer().feed(a + b + a[:30]) == [a, b]


@pytest.mark.parametrize(
    "head",
    [b"\x02\x00\x00\x14", b"\x01\x00\x00\x10", b"\x01\x00\x00\x15", b"\x01\xff\xff\xfc"],
    ids=["version", "too-short", "unaligned", "too-long"],
)
def test_framer_rejects_garbage(head: bytes) -> None:
    with pytest.raises(DiameterError):
        Framer().feed(head + b"\0" * 16)


def test_padding_contents_are_ignored_but_padding_is_required() -> None:
    # §4: padding is not counted in AVP Length; its octets carry no meaning.
    body = wire_lir_body(extra=raw_avp(1, 0x40, b"ab")[:-2] + b"\xff\xff")
    assert decode(raw_message(302, CX_APPLICATION_ID, 0xC0, body)).get("User-Name") == "ab"
    unpadded_last = wire_lir_body(extra=raw_avp(1, 0x40, b"ab")[:-2])
    e = _err(raw_message(302, CX_APPLICATION_ID, 0xC0, unpadded_last))
    assert e.result_code == ResultCode.INVALID_MESSAGE_LENGTH


def test_grouped_without_padding_of_its_last_member_is_tolerated() -> None:
    inner = raw_avp(608, 0xC0, b"Digest-AKAv1-MD5x", vendor=10415)[:-3]  # 17 octets, unpadded
    body = wire_lir_body(extra=raw_avp(612, 0xC0, inner, vendor=10415))
    got = decode(raw_message(302, CX_APPLICATION_ID, 0xC0, body))
    item = got.get_grouped("SIP-Auth-Data-Item")
    assert item is not None and item.get("SIP-Authentication-Scheme") == "Digest-AKAv1-MD5x"
