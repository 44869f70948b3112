"""Parser: start lines, headers, folding, compact forms, framing, limits, the capture."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ims_core.sip import (
    COMPACT_FORMS,
    Limits,
    Request,
    Response,
    SipParseError,
    header_key,
    parse_message,
)

from .corpus import wire

CAPTURE = Path(__file__).resolve().parents[1] / "data" / "ims_registration_capture.sip"


def capture_messages() -> list[bytes]:
    """The four messages of the capture (``=== title`` lines separate them)."""
    blocks = re.split(r"^=== .*\n", CAPTURE.read_text(), flags=re.M)
    return [b.rstrip("\n").replace("\n", "\r\n").encode() + b"\r\n\r\n"
            for b in blocks if b.strip()]


def test_capture_register_401_200_round_trip() -> None:
    msgs = capture_messages()
    assert len(msgs) == 4
    parsed = [parse_message(m) for m in msgs]
    for data, msg in zip(msgs, parsed, strict=True):
        msg.validate(full=True)
        assert msg.to_bytes() == data
    reg1, r401, reg2, r200 = parsed
    assert isinstance(reg1, Request) and reg1.method == "REGISTER"
    (cred,) = reg1.auth_headers("Authorization")
    assert cred.nonce == "" and cred.response == "" and cred.integrity_protected == "no"
    assert isinstance(r401, Response) and r401.status == 401 and r401.reason == "Unauthorized "
    (cred2,) = reg2.auth_headers("authorization")
    assert cred2.algorithm == "AKAv1-MD5" and cred2.nc == "00000001" and cred2.qop == "auth"
    assert cred2.username == "8613911000057@ims.mnc000.mcc000.3gppnetwork.org"
    assert isinstance(r200, Response)
    (contact,) = r200.contacts()
    assert contact.param("expires") == "600000"
    (sr,) = r200.service_routes()
    assert sr.sip_uri is not None and sr.sip_uri.lr and sr.sip_uri.port == 5060
    (path,) = reg2.paths()
    assert path.sip_uri is not None and path.sip_uri.param("key") == "0a04f65a2b9bdd01d9d7a4b866"
    assert reg1.contacts()[0].param("+g.3gpp.icsi-ref") == (
        '"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel"'
    )


BASIC = wire(
    """
OPTIONS sip:bob@example.com SIP/2.0
v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa, SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKb
f: <sip:alice@example.com>;tag=1
t: Bob <sip:bob@example.com>
i: abc@192.0.2.1
CSeq: 7 OPTIONS
m: <sip:alice@192.0.2.1>, "A" <sip:alice@[2001:db8::2]:5062;transport=tcp>;expires=60
k: path, gruu
e: gzip
c: text/plain
s: subject
o: presence
u: presence
r: <sip:carol@example.com>
b: <sip:dave@example.com>
x: 1800;refresher=uac
a: *;+g.3gpp.icsi-ref="x"
j: *;+sip.automata
d: proxy
y: abc
n: <https://example.com/cert>;alg=rsa-sha1
l: {cl}
""",
    b"hello",
)


def test_compact_forms_and_multi_values() -> None:
    msg = parse_message(BASIC)
    msg.validate(full=True)
    assert msg.to_bytes() == BASIC
    for letter, long_name in COMPACT_FORMS.items():
        assert header_key(letter) == long_name
        assert header_key(letter.upper()) == long_name
        assert msg.headers.get(long_name) is not None, long_name
    vias = msg.vias()
    assert vias[1].host == "[2001:db8::1]" and vias[1].port == 5070
    assert vias[1].sent_by == "[2001:db8::1]:5070"
    contacts = msg.contacts()
    assert contacts[1].display_name == "A" and contacts[1].param("expires") == "60"
    assert contacts[1].sip_uri is not None and contacts[1].sip_uri.transport == "tcp"
    assert msg.headers.values("supported") == ["path", "gruu"]
    assert msg.body == b"hello"


def test_one_header_over_several_lines_and_fields() -> None:
    data = wire(
        """
REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1
Via: SIP/2.0/UDP b.example.com;branch=z9hG4bK2,
 SIP/2.0/UDP c.example.com;branch=z9hG4bK3
From: <sip:a@example.com>;tag=x
To: <sip:a@example.com>
Call-ID: 1
CSeq: 1 REGISTER
Route: <sip:p1.example.com;lr>,
\t<sip:p2.example.com;lr>
Content-Length: 0
"""
    )
    msg = parse_message(data)
    assert [v.host for v in msg.vias()] == ["a.example.com", "b.example.com", "c.example.com"]
    assert [str(r.uri) for r in msg.routes()] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert msg.to_bytes() == data


@pytest.mark.parametrize(
    ("data", "status", "can_respond"),
    [
        (b"", 400, False),
        (b"garbage", 400, False),
        (b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n", 400, True),  # no empty line
        (b"INVITE sip:a@b SIP/2.0\r\nNoColon\r\n\r\n", 400, True),
        (b"INVITE sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n", 400, True),
        (b"INVITE sip:a@b SIP/2.0\r\n folded-first: x\r\n\r\n", 400, True),
        (b"SIP/2.0 200 OK\r\nBad Name: x\r\n\r\n", 400, False),
        (b"SIP/2.0 2000 OK\r\n\r\n", 400, False),
        (b"SIP/x 200 OK\r\n\r\n", 400, False),
        (b"INVITE sip:a@b HTTP/1.1\r\n\r\n", 400, True),
        (b"INV(ITE sip:a@b SIP/2.0\r\n\r\n", 400, False),
        (b"INVITE sip:a@[zz::1] SIP/2.0\r\n\r\n", 400, True),
        (b"INVITE sip:a@b:99999 SIP/2.0\r\n\r\n", 400, True),
        (b"INVITE sip:a@b;;x SIP/2.0\r\n\r\n", 400, True),
        (b"INVITE sip:a@b SIP/2.0\r\nl: 5\r\nl: 5\r\n\r\nhello", 400, True),
    ],
)
def test_rejections(data: bytes, status: int, can_respond: bool) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.status == status
    assert info.value.can_respond is can_respond


def test_limits_give_513() -> None:
    limits = Limits(max_message_size=200, max_headers=5, max_line_length=50)
    big = b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"y" * 300 + b"\r\n\r\n"
    with pytest.raises(SipParseError) as info:
        parse_message(big, limits)
    assert info.value.status == 513 and info.value.can_respond
    many = b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 6 + b"\r\n"
    with pytest.raises(SipParseError) as info:
        parse_message(many, limits)
    assert info.value.status == 513
    long_line = b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"y" * 60 + b"\r\n\r\n"
    with pytest.raises(SipParseError) as info:
        parse_message(long_line, limits)
    assert info.value.status == 513
    response = b"SIP/2.0 200 OK\r\nX: " + b"y" * 300 + b"\r\n\r\n"
    with pytest.raises(SipParseError) as info:
        parse_message(response, limits)
    assert not info.value.can_respond


def test_body_framing_rules() -> None:
    head = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
    # Datagram without Content-Length: body is the rest (§18.3).
    assert parse_message(head + b"\r\nbody").body == b"body"
    # Stream without Content-Length: no body.
    assert parse_message(head + b"\r\nbody", stream=True).body == b""
    # Extra octets after Content-Length are dropped.
    assert parse_message(head + b"l: 2\r\n\r\nbody").body == b"bo"
    # Leading CRLFs are ignored (§7.5) and bare LF tolerated.
    msg = parse_message(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\nTo: <sip:a@b>\n\n")
    assert msg.headers.get("to") == "<sip:a@b>"
    assert msg.to_bytes() == b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n"


def test_lower_case_version_and_non_utf8_bytes_round_trip() -> None:
    data = b"OPTIONS sip:a@b sip/2.0\r\nX-Bin: \xff\xfe\x80\r\n\r\n"
    msg = parse_message(data)
    assert msg.to_bytes() == data


def _fields(data: bytes) -> list[tuple[str, str, str]]:
    return [(key, name, value) for key, name, value, _ in parse_message(data).headers._fields]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Via", "via"), ("VIA", "via"), ("ViA", "via"), ("via", "via"), ("Via \t", "via"),
        ("Call-ID", "call-id"), ("Call-Id", "call-id"), ("cALL-iD", "call-id"),
        ("i", "call-id"), ("I", "call-id"), ("K ", "supported"),
        ("P-Visited-Network-Id", "p-visited-network-id"), ("X-Foo", "x-foo"),
        ("x-FOO", "x-foo"), ("extensionHeader-!.%*+_`'~", "extensionheader-!.%*+_`'~"),
    ],
)
def test_header_name_spellings(name: str, key: str) -> None:
    data = f"OPTIONS sip:a@b SIP/2.0\r\n{name}: v\r\n\r\n".encode()
    assert _fields(data) == [(key, name.rstrip(" \t"), "v")]


@pytest.mark.parametrize(
    "line",
    [
        "\u212a: v",  # KELVIN SIGN lower-cases to "k" (Supported) but is no token
        "Vi\u212a: v", "Via@: v", "Via", "VIA", "Via\u00e0: v", ": v",
    ],
)
def test_bad_header_names_rejected(line: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(f"OPTIONS sip:a@b SIP/2.0\r\n{line}\r\n\r\n".encode())
    assert info.value.status == 400


def test_header_key_table_is_read_only_and_fixed() -> None:
    """The parser keeps no state between messages: its table of known header names is
    read-only and does not grow with the names it meets."""
    from ims_core.sip import parser

    table = parser._KEYS
    before = dict(table)
    with pytest.raises(TypeError):
        table["X-New"] = "x-new"  # type: ignore[index]
    for i in range(50):
        parse_message(f"OPTIONS sip:a@b SIP/2.0\r\nX-Seen-{i}: v\r\nvIa: x\r\n\r\n".encode())
    assert parser._KEYS is table and dict(table) == before
    assert all(key == header_key(spelling) for spelling, key in table.items())
    assert {table[letter] for letter in COMPACT_FORMS} == set(COMPACT_FORMS.values())


@pytest.mark.parametrize("value", ["", "7a", "256", "\u0667\u0660", "\u00b2", "00000000070",
                                   "+70"])
def test_max_forwards_takes_ascii_digits_only(value: str) -> None:
    """§20.22: 1*DIGIT (ASCII, at most 10 of them here), 0-255; other scripts' digits,
    which str.isdigit alone would take, are a 400."""
    msg = parse_message(wire(f"""
OPTIONS sip:a@b SIP/2.0
Via: SIP/2.0/UDP h;branch=z9hG4bK1
Max-Forwards: {value}
From: <sip:x@y>;tag=1
To: <sip:a@b>
Call-ID: c
CSeq: 1 OPTIONS
""", b""))
    with pytest.raises(SipParseError):
        _ = msg.max_forwards


def test_max_forwards_and_content_length_values() -> None:
    msg = parse_message(wire("""
OPTIONS sip:a@b SIP/2.0
Via: SIP/2.0/UDP h;branch=z9hG4bK1
Max-Forwards:  0000000070\t
From: <sip:x@y>;tag=1
To: <sip:a@b>
Call-ID: c
CSeq: 1 OPTIONS
Content-Length: 0
""", b""))
    assert msg.max_forwards == 70 and msg.content_length == 0
