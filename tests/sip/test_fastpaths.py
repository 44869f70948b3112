"""The parser's shortcuts give what the grammar gives: the header-line cache, the Via
head cache, plain generic params, plain CSeq, is_contact_star from one scan, received
responses built without computing anything, and a handed-over top Via."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims_core.sip import (
    CSeq,
    Headers,
    Request,
    Response,
    SipError,
    SipParseError,
    parse_cseq,
    parse_message,
    parse_via,
)
from ims_core.sip import fields as fields_module
from ims_core.sip import parser as parser_module
from ims_core.sip.grammar import CSEQ_RE, TOKEN_CHARS, TOKEN_RE
from ims_core.sip.params import _params_by_grammar, parse_generic_params

from .corpus import wire

SETTINGS = settings(max_examples=300, deadline=None)

REQ = wire(
    """
REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa;rport
Max-Forwards: 70
From: <sip:alice@example.com>;tag=fff
To: <sip:alice@example.com>
Call-ID: c1@192.0.2.1
CSeq: 1 REGISTER
Contact: <sip:alice@192.0.2.1:5060>;expires=600
Content-Length: 0
""",
)


def request(data: bytes = REQ) -> Request:
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def snapshot(msg: Request) -> tuple[object, ...]:
    """Everything the views say, errors included."""
    out: list[object] = []
    for view in (
        lambda: msg.top_via_view(), lambda: msg.cseq, lambda: msg.call_id,
        lambda: msg.max_forwards, lambda: msg.from_tag, lambda: msg.to_tag,
        lambda: msg.contacts(), lambda: msg.is_contact_star(), lambda: list(msg.headers),
    ):
        try:
            out.append(view())
        except SipParseError as exc:
            out.append(("error", exc.reason))
    return tuple(out)


EDITS: dict[str, Callable[[Request], object]] = {
    "decrement_max_forwards": lambda m: m.decrement_max_forwards(),
    "set CSeq": lambda m: m.headers.set("CSeq", "2 REGISTER"),
    "remove Contact": lambda m: m.headers.remove("contact"),
    "Contact star": lambda m: m.headers.set("m", "*"),
    "second Contact": lambda m: m.headers.add("Contact", "<sip:b@192.0.2.2>"),
    "push Via": lambda m: m.push_via("SIP/2.0/TCP 192.0.2.9;branch=z9hG4bKx"),
    "pop Via": lambda m: m.pop_via(),
    "mark Via": lambda m: m.set_top_via(m.top_via()),
    "To tag": lambda m: m.headers.set("To", "<sip:alice@example.com>;tag=t1"),
}


@given(st.lists(st.sampled_from(sorted(EDITS)), max_size=6))
@SETTINGS
def test_cached_lines_never_leak_edits_between_messages(edits: list[str]) -> None:
    """Two parses of the same bytes share field tuples from the line cache: editing one
    leaves the other as parsed, and each one's views equal a fresh parse."""
    one, two = request(), request()
    assert one.headers.fields == two.headers.fields
    before = snapshot(two)
    for name in edits:
        with contextlib.suppress(SipError, SipParseError):  # e.g. no Via left to mark
            EDITS[name](one)
        assert snapshot(one) == snapshot(request(one.to_bytes()))
    assert snapshot(two) == before == snapshot(request())
    assert two.to_bytes() == REQ


def test_line_cache_is_bounded_and_keeps_only_short_unfolded_valid_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache: dict[str, object] = {}
    monkeypatch.setattr(parser_module, "_LINE_FIELDS", cache)
    monkeypatch.setattr(parser_module, "LINE_CACHE_SIZE", 8)
    for i in range(30):
        request(REQ.replace(b"Call-ID: c1", f"Call-ID: c{i}".encode()))
        assert len(cache) <= 8
    cache.clear()
    long_value = "x" * parser_module.LINE_CACHE_MAX_LEN
    request(REQ.replace(b"Content-Length: 0", f"X-Long: {long_value}\r\nContent-Length: 0"
                        .encode()))
    assert not any(line.startswith("X-Long") for line in cache)
    cache.clear()
    folded = REQ.replace(b"To: <sip:alice@example.com>", b"To: <sip:alice@example.com>\r\n ;x=1")
    msg = request(folded)
    assert msg.headers.get("to") == "<sip:alice@example.com> ;x=1"
    # Lines seen before the continuation may be kept (each is a whole field when alone);
    # a continuation line never is, so it is never taken for a field of its own.
    assert " ;x=1" not in cache and all(line[:1] not in " \t" for line in cache)
    assert msg.to_bytes() == folded
    # The first line of a folded field, seen alone before, is still unfolded with the rest.
    request()
    assert request(folded).headers.get("to") == "<sip:alice@example.com> ;x=1"
    cache.clear()
    for _ in range(2):
        with pytest.raises(SipParseError):
            parse_message(REQ.replace(b"Max-Forwards: 70", b"Max Forwards 70"))
    assert "Max Forwards 70" not in cache


def test_cached_line_gives_the_same_field_as_a_parse() -> None:
    first = request().headers.fields
    second = request().headers.fields
    assert first == second
    assert all(a is b for a, b in zip(first, second, strict=True))  # shared, immutable tuples


vias = st.builds(
    lambda proto, transport, host, port, params: (
        f"{proto}/{transport} {host}{port}{params}"
    ),
    st.sampled_from(["SIP/2.0", "sip/2.0", "SIP / 2.0", "SIP/3.0"]),
    st.sampled_from(["UDP", "TCP", "tls", "X!"]),
    st.sampled_from(["192.0.2.1", "host.example.com", "[2001:db8::1]", "[::zz]", "a..b"]),
    st.sampled_from(["", ":5060", ":70000", " : 5061", ":"]),
    st.sampled_from(["", ";branch=z9hG4bK1", ";rport;branch=z", " ;received", ";maddr=x"]),
)


def _via_or_error(value: str) -> object:
    try:
        return parse_via(value)
    except SipParseError as exc:
        return ("error", exc.reason)


@given(vias)
@SETTINGS
def test_via_head_cache_gives_what_a_fresh_parse_gives(value: str) -> None:
    fields_module._VIA_HEADS.clear()
    cold = _via_or_error(value)
    warm = _via_or_error(value)
    assert cold == warm
    head = value.split(";", 1)[0]
    try:
        fields_module._via_head(head)
    except SipParseError:  # a head that does not parse raises each time, never kept
        assert head not in fields_module._VIA_HEADS


def test_via_head_cache_is_bounded_and_copies_are_independent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heads: dict[str, object] = {}
    monkeypatch.setattr(fields_module, "_VIA_HEADS", heads)
    monkeypatch.setattr(fields_module, "VIA_HEAD_CACHE_SIZE", 4)
    for port in range(5000, 5020):
        parse_via(f"SIP/2.0/UDP 192.0.2.1:{port};branch=z9hG4bK{port}")
        assert len(heads) <= 4
    one = parse_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1")
    one.set_param("received", "203.0.113.1")
    two = parse_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1")
    assert two.received is None and two.port == 5060 and two.host == "192.0.2.1"


param_texts = st.lists(
    st.sampled_from([*"ab1-.;=:\" \t[]!~", "rport", "lr", "::1", "z9hG4bK"]),
    max_size=20,
).map("".join)


def _params_or_error(fn: Callable[[str, int], object], text: str) -> object:
    try:
        return fn(text, 0)
    except SipParseError as exc:
        return ("error", exc.reason)


@given(param_texts)
@SETTINGS
def test_plain_params_give_what_the_grammar_gives(text: str) -> None:
    assert _params_or_error(parse_generic_params, text) == _params_or_error(
        _params_by_grammar, text)


@pytest.mark.parametrize("text", [";rport", ";branch=z9hG4bK.1;lr", ";a=1;b;c=x-y", ";rport="])
def test_plain_params_examples(text: str) -> None:
    assert _params_or_error(parse_generic_params, text) == _params_or_error(
        _params_by_grammar, text)


def _cseq_by_grammar(value: str) -> object:
    m = CSEQ_RE.fullmatch(value.strip(" \t"))
    if m is None:
        return ("error", "Bad CSeq header")
    seq = int(m.group(1))
    if seq >= 2**31:
        return ("error", "CSeq number too large")
    return CSeq(seq, m.group(2))


def _cseq_or_error(value: str) -> object:
    try:
        return parse_cseq(value)
    except SipParseError as exc:
        return ("error", exc.reason)


@given(st.lists(st.sampled_from([*"0123456789 \tAB-!é٣x", "REGISTER", "2147483648"]),
                max_size=8).map("".join))
@SETTINGS
def test_plain_cseq_gives_what_the_grammar_gives(value: str) -> None:
    assert _cseq_or_error(value) == _cseq_by_grammar(value)


@pytest.mark.parametrize("value", [
    "1 REGISTER", " 2147483647 INVITE ", "2147483648 INVITE", "12345678901 INVITE",
    "1  INVITE", "1\tINVITE", "01 ACK", "1 IN VITE", "1 INVITÉ", "٣ INVITE", "1", " INVITE",
])
def test_plain_cseq_examples(value: str) -> None:
    assert _cseq_or_error(value) == _cseq_by_grammar(value)


def test_token_chars_are_the_token_rule() -> None:
    assert {chr(c) for c in range(0x3000) if TOKEN_RE.fullmatch(chr(c))} == set(TOKEN_CHARS)


@pytest.mark.parametrize(
    ("contacts", "star"),
    [([], False), (["*"], True), (["*", "<sip:a@b>"], False), (["<sip:a@b>", "*"], False),
     (["<sip:a@b>"], False), (["*, <sip:a@b>"], False)],
)
def test_contact_star(contacts: list[str], star: bool) -> None:
    msg = request()
    msg.headers.remove("contact")
    for value in contacts:
        msg.headers.add("Contact", value)
    assert msg.is_contact_star() is star


def test_received_response_is_what_the_constructor_makes() -> None:
    data = wire(
        """
SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa
Content-Length: 0
""",
    )
    got = parse_message(data)
    made = Response(200, "OK")
    assert isinstance(got, Response)
    assert (got.status, got.reason, got.version, got.body, got.generated) == (
        made.status, made.reason, made.version, made.body, made.generated)
    assert got.to_bytes() == data


def test_handed_over_top_via_becomes_the_memo() -> None:
    msg = request()
    via = msg.top_via()
    via.set_param("received", "203.0.113.1")
    msg.hand_over_top_via(via)
    assert msg.top_via_view() is via
    assert msg.top_via() == request(msg.to_bytes()).top_via()


def test_address_views_equal_the_copies_and_are_shared() -> None:
    msg = request()
    msg.headers.add("Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>")
    assert msg.address_views("route") == msg.routes()
    assert all(a is b for a, b in zip(msg.address_views("route"), msg.address_views("route"),
                                      strict=True))
    assert msg.contact_views() == msg.contacts() and msg.contact_views()
    copy = msg.contacts()[0]
    copy.uri.set_param("transport", "tcp")  # a copy: the kept parse is untouched
    assert msg.contact_views()[0].uri.param("transport") is None
    msg.headers.set("Contact", "*")
    assert msg.contact_views() == msg.contacts() == []


def test_from_and_to_views_equal_the_copies() -> None:
    msg = request()
    assert msg.from_addr_view == msg.from_addr and msg.to_addr_view == msg.to_addr
    assert msg.to_addr_view is msg.to_addr_view
    msg.headers.remove("to")
    with pytest.raises(SipParseError, match="Missing To header"):
        _ = msg.to_addr_view


def test_set_replaces_the_first_and_drops_later_ones_in_place() -> None:
    headers = Headers.from_pairs([("A", "1"), ("B", "x"), ("a", "2"), ("C", "y"), ("A", "3")])
    headers.set("a", "9")
    assert list(headers) == [("A", "9"), ("B", "x"), ("C", "y")]
    headers.set("D", "z")
    assert list(headers) == [("A", "9"), ("B", "x"), ("C", "y"), ("D", "z")]
