"""Stream framing (§18.3) and RFC 5626 keep-alives."""

from __future__ import annotations

import pytest

from ims_core.sip import (
    PING,
    PONG,
    Frame,
    Limits,
    SipParseError,
    StreamFramer,
    is_keepalive,
    parse_message,
)

from .corpus import SDP, WSINV, wire

MSG = wire(
    """
MESSAGE sip:b@example.com SIP/2.0
Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1
l: {cl}
""",
    b"0123456789",
)


def drain(framer: StreamFramer) -> list[Frame]:
    out = []
    while (frame := framer.next_frame()) is not None:
        out.append(frame)
    return out


def test_messages_split_byte_by_byte() -> None:
    stream = MSG + WSINV + b"\r\n\r\n" + MSG + b"\r\n" + MSG
    framer = StreamFramer()
    frames: list[Frame] = []
    for i in range(len(stream)):
        framer.feed(stream[i : i + 1])
        frames += drain(framer)
    assert frames == [MSG, WSINV, PING, MSG, PONG, MSG]
    assert framer.buffered == 0
    assert parse_message(frames[1], stream=True).body == SDP  # type: ignore[arg-type]


def test_all_at_once_and_missing_content_length() -> None:
    no_cl = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK2\r\n\r\n"
    framer = StreamFramer()
    framer.feed(b"\r\n\r\n" + no_cl + MSG + MSG[:20])
    assert drain(framer) == [PING, no_cl, MSG]
    assert framer.buffered == 20
    framer.feed(MSG[20:])
    assert drain(framer) == [MSG]


def test_partial_ping_waits() -> None:
    framer = StreamFramer()
    framer.feed(b"\r\n\r")
    assert framer.next_frame() is None
    framer.feed(b"\n")
    assert framer.next_frame() == PING
    framer.feed(b"\r\n")
    assert framer.next_frame() is None  # could still become a ping
    framer.expect_pong()
    assert framer.next_frame() == PONG


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -5\r\n\r\n", 400),
        (b"OPTIONS sip:a@b SIP/2.0\r\nl: 99999999999\r\n\r\n", 400),
        (b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 500\r\n\r\n", 513),
        (b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"y" * 300, 513),
    ],
)
def test_stream_violations_are_fatal(data: bytes, status: int) -> None:
    framer = StreamFramer(Limits(max_message_size=256))
    framer.feed(data)
    with pytest.raises(SipParseError) as info:
        drain(framer)
    assert info.value.status == status and not info.value.can_respond
    with pytest.raises(SipParseError):
        framer.feed(MSG)
    with pytest.raises(SipParseError):
        framer.next_frame()


def test_datagram_keepalives() -> None:
    assert is_keepalive(b"\r\n\r\n") and is_keepalive(b"\r\n") and is_keepalive(b"")
    assert not is_keepalive(MSG)
