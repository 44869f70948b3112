"""The single-valued typed views (CSeq, Call-ID, Max-Forwards, Content-Length, From/To
tags) are parsed once per field and never served stale; set_top_via and pop_via reuse
the top Via parse; Headers.remove of an absent header leaves the field list alone."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims_core.sip import Request, SipParseError, parse_message, parse_via
from ims_core.sip import message as message_module
from ims_core.sip.inbound import request_source

from .corpus import wire

REQ = wire(
    """
MESSAGE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa;rport
Max-Forwards: 70
From: <sip:alice@example.com>;tag=fff
To: <sip:bob@example.com>
Call-ID: c1@192.0.2.1
CSeq: 42 MESSAGE
Content-Length: 2
""",
    b"hi",
)

VIEWS: dict[str, Callable[[Request], object]] = {
    "cseq": lambda m: m.cseq,
    "call_id": lambda m: m.call_id,
    "max_forwards": lambda m: m.max_forwards,
    "content_length": lambda m: m.content_length,
    "from_tag": lambda m: m.from_tag,
    "to_tag": lambda m: m.to_tag,
}

EDITS: dict[str, Callable[[Request], object]] = {
    "decrement_max_forwards": lambda m: m.decrement_max_forwards(),
    "set CSeq": lambda m: m.headers.set("CSeq", "43 MESSAGE"),
    "set Call-ID": lambda m: m.headers.set("i", "c2@192.0.2.1"),
    "remove Max-Forwards": lambda m: m.headers.remove("max-forwards"),
    "set_body": lambda m: m.set_body(b"hello"),
    "To tag via set": lambda m: m.headers.set("To", "<sip:bob@example.com>;tag=t9"),
    "From prepended": lambda m: m.headers.prepend("From", "<sip:eve@example.com>;tag=e1"),
    "bad CSeq": lambda m: m.headers.set("CSeq", "x MESSAGE"),
    "direct edit of headers.fields": lambda m: m.headers.fields.insert(
        0, ("max-forwards", "Max-Forwards", "3", None)),
    "copy": lambda m: m.copy(),
}


def parsed() -> Request:
    msg = parse_message(REQ)
    assert isinstance(msg, Request)
    return msg


def view_or_error(msg: Request, view: str) -> object:
    try:
        return VIEWS[view](msg)
    except SipParseError as exc:
        return ("error", exc.reason)


def fresh(msg: Request, view: str) -> object:
    again = parse_message(msg.to_bytes())
    assert isinstance(again, Request)
    return view_or_error(again, view)


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_no_stale_view_after_an_edit(view: str, edit: Callable[[Request], object]) -> None:
    msg = parsed()
    view_or_error(msg, view)  # memo filled
    edit(msg)
    assert view_or_error(msg, view) == fresh(msg, view)
    assert view_or_error(msg, view) == fresh(msg, view)  # and once memoised again


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(sorted(EDITS)), max_size=6),
       st.lists(st.sampled_from(sorted(VIEWS)), min_size=6, max_size=6))
def test_random_edits_never_see_a_stale_view(ops: list[str], views: list[str]) -> None:
    msg = parsed()
    for op, view in zip(ops, views, strict=False):
        view_or_error(msg, view)
        try:
            EDITS[op](msg)
        except Exception:  # e.g. decrement of a bad Max-Forwards
            continue
        for name in VIEWS:
            assert view_or_error(msg, name) == fresh(msg, name)


def test_views_parse_once_and_copies_keep_the_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = message_module.parse_max_forwards

    def counting(value: str) -> int:
        calls.append(value)
        return real(value)

    monkeypatch.setattr(message_module, "parse_max_forwards", counting)
    msg = parsed()
    assert msg.max_forwards == 70 and msg.max_forwards == 70
    out = msg.copy()
    assert out.decrement_max_forwards() == 69  # §16.6 step 3 reuses the §16.3 check's parse
    assert calls == ["70"]
    assert out.max_forwards == 69 and msg.max_forwards == 70
    assert calls == ["70", "69"]


def test_marking_the_top_via_keeps_its_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(value: str) -> object:
        calls.append(value)
        return parse_via(value)

    monkeypatch.setattr(message_module, "parse_via", counting)
    msg = parsed()
    request_source(msg, "UDP", "203.0.113.9", 5999)
    via = msg.top_via()
    assert len(calls) == 1
    assert msg.pop_via() == via and len(calls) == 1  # the whole field went: its memo
    assert via.received == "203.0.113.9" and via.rport == 5999
    msg.push_via(via)
    again = parse_message(msg.to_bytes())
    assert isinstance(again, Request)
    assert via == again.top_via()
    msg.pop_via()
    assert "via" not in msg.headers


def test_removing_an_absent_header_leaves_the_list_alone() -> None:
    msg = parsed()
    fields = msg.headers.fields
    before = list(fields)
    assert msg.headers.remove("P-Asserted-Identity") == 0
    assert msg.headers.fields is fields and fields == before
    assert msg.headers.remove("t") == 1 and "to" not in msg.headers
    assert [f for f in before if f[0] != "to"] == fields
