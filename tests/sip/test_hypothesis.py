"""Property tests: generated messages round-trip; mutated messages never raise anything
but SipParseError (from the parser, the framer, validation or any typed view)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ims_core.sip import SipParseError, StreamFramer, parse_message

from .corpus import VALID
from .corpus_invalid import INVALID
from .test_parser import capture_messages

SEEDS = [c.data for c in VALID] + [c.data for c in INVALID] + capture_messages()
SETTINGS = settings(max_examples=150, deadline=None)

_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(_TOKEN_CHARS, min_size=1, max_size=12)
hosts = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,8}){0,3}", fullmatch=True)
values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FF, exclude_characters="\x7f"),
    max_size=40,
).map(str.strip)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    host = draw(hosts)
    method = draw(st.sampled_from(["INVITE", "REGISTER", "OPTIONS", "BYE"]) | tokens)
    user = draw(st.from_regex(r"[a-zA-Z0-9_.!~*'()&=+$,;?/-]{1,10}", fullmatch=True))
    port = draw(st.none() | st.integers(1, 65535))
    uri = f"sip:{user}@{host}" + ("" if port is None else f":{port}")
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {host};branch=z9hG4bK{draw(tokens)}",
        f"From: <sip:a@{host}>;tag={draw(tokens)}",
        f"To: <{uri}>",
        f"Call-ID: {draw(tokens)}",
        f"CSeq: {draw(st.integers(0, 2**31 - 1))} {method}",
        f"Max-Forwards: {draw(st.integers(0, 255))}",
    ]
    extra = draw(st.lists(st.tuples(tokens, values, st.booleans()), max_size=6))
    for name, value, fold in extra:
        if fold and value:
            lines.append(f"X-{name}: {value[:5]}\r\n {value[5:] or 'x'}")
        else:
            lines.append(f"X-{name}:{' ' if draw(st.booleans()) else ''}{value}")
    body = draw(st.binary(max_size=50))
    lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


@SETTINGS
@given(messages())
def test_generated_messages_round_trip(data: bytes) -> None:
    msg = parse_message(data)
    msg.validate(full=True)
    assert msg.to_bytes() == data
    assert parse_message(data, stream=True).to_bytes() == data
    copy = msg.copy()
    copy.push_via("SIP/2.0/TCP p.example.com;branch=z9hG4bKp")
    assert copy.pop_via() is not None
    assert copy.to_bytes() == data


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        kind = draw(st.integers(0, 4))
        if kind == 0:
            data[pos] = draw(st.integers(0, 255))
        elif kind == 1:
            del data[pos : pos + draw(st.integers(1, 20))]
        elif kind == 2:
            data[pos:pos] = draw(
                st.sampled_from([b"\r\n", b" ", b",", b";", b"<", b">", b'"', b"\\", b":", b"\x00"])
            )
        elif kind == 3:
            del data[pos:]
        else:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 40))]
    return bytes(data)


def _exercise(data: bytes, stream: bool) -> None:
    try:
        msg = parse_message(data, stream=stream)
        msg.to_bytes()
        msg.validate(full=True)
        msg.contacts()
        for name in ("Authorization", "WWW-Authenticate", "P-Asserted-Identity"):
            msg.auth_headers(name) if "Auth" in name else msg.addresses(name)
        parse_message(msg.to_bytes(), stream=stream)
    except SipParseError:
        pass


@SETTINGS
@given(mutated())
def test_mutated_messages_only_raise_parse_errors(data: bytes) -> None:
    _exercise(data, stream=False)
    _exercise(data, stream=True)


@SETTINGS
@given(st.lists(mutated(), min_size=1, max_size=3), st.integers(1, 200))
def test_framer_on_mutated_streams(chunks: list[bytes], step: int) -> None:
    stream = b"".join(chunks)
    framer = StreamFramer()
    try:
        for i in range(0, len(stream), step):
            framer.feed(stream[i : i + step])
            while (frame := framer.next_frame()) is not None:
                if isinstance(frame, bytes):
                    _exercise(frame, stream=True)
    except SipParseError:
        pass
