"""`top_via()` is parsed once per top Via field and never served stale: after every
kind of Via edit it equals a fresh parse of the message as it would go on the wire."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims_core.sip import Headers, Request, SipParseError, Via, parse_message, parse_via
from ims_core.sip import message as message_module

from .corpus import wire

INVITE = wire(
    """
INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa, SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKzzz
Max-Forwards: 70
v: SIP/2.0/TCP 192.0.2.7;branch=z9hG4bKccc
From: <sip:alice@example.com>;tag=fff
To: <sip:bob@example.com>
Call-ID: c1@192.0.2.1
CSeq: 42 INVITE
Content-Length: 0
""",
    b"",
)
NEW = "SIP/2.0/TCP 10.0.0.1:5061;branch=z9hG4bKnew"


def parsed() -> Request:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    return msg


def fresh_top(msg: Request) -> Via | None:
    """What a receiver of `msg` would see as the top Via."""
    again = parse_message(msg.to_bytes())
    return again.top_via() if "via" in again.headers else None


def top_or_none(msg: Request) -> Via | None:
    try:
        return msg.top_via()
    except SipParseError:
        return None


def _edit_returned_via(m: Request) -> None:
    m.top_via().set_param("received", "203.0.113.9")  # a copy: changes nothing


def _replace_fields(m: Request) -> None:
    m.headers.fields[:] = [f for f in m.headers.fields if f[0] != "via"]
    m.headers.fields.insert(0, ("via", "Via", NEW, None))


def _new_headers(m: Request) -> None:
    m.headers = Headers.from_pairs([("Via", NEW), *list(m.headers)[1:]])


def _set_top_via(m: Request) -> None:
    via = m.top_via()
    via.set_param("received", "203.0.113.5")
    m.set_top_via(via)


EDITS: dict[str, Callable[[Request], object]] = {
    "push_via": lambda m: m.push_via(NEW),
    "pop_via (of a two-value field)": lambda m: m.pop_via(),
    "pop_via twice (field gone)": lambda m: (m.pop_via(), m.pop_via()),
    "pop_via to none": lambda m: [m.pop_via() for _ in range(4)],
    "set_top_via": _set_top_via,
    "headers.set": lambda m: m.headers.set("Via", NEW),
    "headers.set compact": lambda m: m.headers.set("v", NEW),
    "headers.remove": lambda m: m.headers.remove("via"),
    "headers.remove then add": lambda m: (m.headers.remove("v"), m.headers.add("Via", NEW)),
    "headers.prepend": lambda m: m.headers.prepend("v", NEW),
    "headers.replace_first_value": lambda m: m.headers.replace_first_value("via", NEW),
    "headers.pop_first_value": lambda m: m.headers.pop_first_value("v"),
    "direct edit of headers.fields": _replace_fields,
    "headers object replaced": _new_headers,
    "returned Via edited": _edit_returned_via,
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_no_stale_top_via_after_an_edit(edit: Callable[[Request], object]) -> None:
    msg = parsed()
    assert msg.top_via().branch == "z9hG4bKaaa"  # memo filled
    edit(msg)
    assert top_or_none(msg) == fresh_top(msg)
    assert top_or_none(msg) == fresh_top(msg)  # and once memoised again


def test_top_via_is_parsed_once_per_field(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(value: str) -> Via:
        calls.append(value)
        return parse_via(value)

    monkeypatch.setattr(message_module, "parse_via", counting)
    msg = parsed()
    first = msg.top_via()
    msg.top_via()
    msg.top_via()
    assert calls == ["SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa"]
    assert msg.top_via() is not first and msg.top_via() == first  # copies
    msg.headers.set("Max-Forwards", "69")  # another header: memo still good
    msg.top_via()
    assert len(calls) == 1
    msg.push_via(NEW)
    msg.top_via()
    msg.top_via()
    assert calls[1:] == [NEW]


def test_missing_and_bad_via_raise_every_time() -> None:
    msg = parsed()
    msg.headers.remove("via")
    for _ in range(2):
        with pytest.raises(SipParseError, match="Missing Via"):
            msg.top_via()
    msg.headers.add("Via", "garbage")
    for _ in range(2):
        with pytest.raises(SipParseError, match="Bad Via"):
            msg.top_via()


def test_a_copy_does_not_share_the_memo_edits() -> None:
    msg = parsed()
    msg.top_via()
    copy = msg.copy()
    copy.push_via(NEW)
    assert copy.top_via().branch == "z9hG4bKnew"
    assert msg.top_via().branch == "z9hG4bKaaa"


_OPS = st.sampled_from(sorted(EDITS))


@settings(max_examples=200, deadline=None)
@given(st.lists(_OPS, max_size=8), st.lists(st.booleans(), min_size=8, max_size=8))
def test_random_edit_sequences_never_see_a_stale_via(ops: list[str], look: list[bool]) -> None:
    msg = parsed()
    for op, peek in zip(ops, look, strict=False):
        if peek:
            top_or_none(msg)  # fill the memo before some edits, not others
        try:
            EDITS[op](msg)
        except SipParseError:
            continue  # e.g. set_top_via with no Via left
        assert top_or_none(msg) == fresh_top(msg)
