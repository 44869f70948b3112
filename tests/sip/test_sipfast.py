"""The C fast paths of the SIP parser (_sipfast) against their pure-Python twin: the same
messages, fields and errors on the corpus, the capture and mutations of them; the
backend choice; no leaks."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ims_core.sip import params as params_module
from ims_core.sip import parser
from ims_core.sip.errors import SipParseError
from ims_core.sip.message import Request, Response
from ims_core.sip.parser import DEFAULT_LIMITS, Limits, parse_message
from tests.cbuild import import_c_module

from .corpus import VALID
from .corpus_invalid import INVALID
from .test_parser import capture_messages


def _c_module() -> ModuleType:
    return import_c_module("ims_core.sip._sipfast", "C SIP fast paths")


@pytest.fixture(scope="module")
def c_mod() -> ModuleType:
    return _c_module()


# What a SIPp UE sends (bench/bench_sip_cores.py), and what a proxy forwards of it.
REGISTER = (
    b"REGISTER sip:ims.mnc001.mcc001.3gppnetwork.org SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.10:5061;rport;branch=z9hG4bK-1-1\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>;tag=4242SIPpTag001\r\n"
    b"To: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>\r\n"
    b"Call-ID: r0-001010000000001@127.0.0.10\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"Contact: <sip:001010000000001@127.0.0.10:5061;transport=UDP>\r\n"
    b'Authorization: Digest username="001010000000001@ims.mnc001.mcc001.3gppnetwork.org",'
    b' realm="ims.mnc001.mcc001.3gppnetwork.org", nonce="", response=""\r\n'
    b"Expires: 600\r\nSupported: path\r\nUser-Agent: SIPp ims-core tests\r\n"
    b"P-Track-ID: c98ce46b\r\nVIA: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-x\r\nl: 0\r\n\r\n"
)
OK_200 = (
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.10:5061;branch=z9hG4bK-1-1\r\n"
    b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>;tag=2\r\n"
    b"Call-ID: c1\r\nCSeq: 1 REGISTER\r\n"
    b"Contact: <sip:a@127.0.0.10:5061>;expires=600\r\nContent-Length: 4\r\n\r\nbody"
)
SEEDS = [REGISTER, OK_200, *(c.data for c in VALID), *(c.data for c in INVALID),
         *capture_messages()]
SMALL = Limits(max_message_size=2048, max_headers=24, max_line_length=512)


@pytest.fixture
def use_c(c_mod: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """parse_message with the C split (whatever the backend chosen at import)."""
    monkeypatch.setattr(parser, "_split_message", c_mod.split_message)
    yield


def _outcome(data: bytes, limits: Limits, stream: bool) -> tuple[Any, ...]:
    """Everything parse_message gives for `data`: the message or the error, in full."""
    try:
        msg = parse_message(data, limits, stream=stream)
    except SipParseError as exc:
        salvaged = None if exc.request is None else (
            exc.request.method, exc.request.headers.fields)
        return ("error", type(exc), exc.status, exc.can_respond, exc.reason, salvaged)
    head: tuple[Any, ...]
    if isinstance(msg, Request):
        head = ("request", msg.method, msg.uri_text, str(msg.uri), msg.uri)
    else:
        assert isinstance(msg, Response)
        head = ("response", msg.status, msg.reason, msg.generated)
    return (*head, type(msg), msg.version, msg.start_line(), msg.headers.fields, msg.body,
            msg.to_bytes())


def _both(
    data: bytes, limits: Limits = DEFAULT_LIMITS, stream: bool = False
) -> tuple[tuple[Any, ...], bool]:
    """(the outcome, whether C split it) after checking C and Python agree on it."""
    split = parser._split_message
    assert split is not None
    taken = split(data, limits.max_message_size, limits.max_headers, limits.max_line_length,
                  stream, parser._KNOWN_DICT, {}, 4096, 200) is not None
    fast = _outcome(data, limits, stream)
    parser._split_message = None
    try:
        parser._LINE_FIELDS.clear()  # the pure path builds every field itself
        pure = _outcome(data, limits, stream)
    finally:
        parser._split_message = split
    assert fast == pure, data
    return fast, taken


@pytest.mark.usefixtures("use_c")
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("data", SEEDS, ids=range(len(SEEDS)))
def test_seeds_give_the_same_answer(data: bytes, stream: bool) -> None:
    _both(data, DEFAULT_LIMITS, stream)
    _both(data, SMALL, stream)


@pytest.mark.usefixtures("use_c")
def test_plain_messages_take_the_c_path() -> None:
    """The common shapes are split in C (else the fast path would be dead weight): the
    SIPp REGISTER (unknown and odd-case names included), a response with a body, the
    captured registration."""
    for data in (REGISTER, OK_200, *capture_messages()):
        outcome, taken = _both(data)
        assert taken and outcome[0] in ("request", "response"), data[:40]
    assert _both(OK_200)[0][-2] == b"body"
    assert ("p-track-id", "P-Track-ID", "c98ce46b", "P-Track-ID: c98ce46b") in _both(
        REGISTER)[0][-3]


@pytest.mark.usefixtures("use_c")
@pytest.mark.parametrize(
    "data",
    [
        REGISTER.replace(b"Max-Forwards: 70", b"Max-Forwards: 70\r\n 1"),  # folding
        REGISTER.replace(b"Max-Forwards: 70", b"Max-Forwards: 70\r\n\t1"),
        REGISTER.replace(b"\r\n", b"\n"),  # bare LF line ends
        REGISTER.replace(b"tests", b"t\xc3\xa9sts"),  # UTF-8
        REGISTER.replace(b"tests", b"te\x00sts"),
        REGISTER.replace(b"Expires:", b"Expires :"),
        REGISTER.replace(b"Expires:", b"Exp ires:"),
        REGISTER.replace(b"Expires: 600", b"Expires 600"),
        REGISTER.replace(b"l: 0", b"l: 0\r\nContent-Length: 0"),
        REGISTER.replace(b"l: 0", b"l: 1"),
        REGISTER.replace(b"l: 0", b"l: x"),
        REGISTER.replace(b"l: 0", b"l: 00000000001"),
        REGISTER.replace(b" SIP/2.0\r\n", b" SIP/2.1\r\n", 1),
        REGISTER.replace(b" SIP/2.0\r\n", b" sip/2.0\r\n", 1),
        REGISTER.replace(b"REGISTER sip:", b"REGISTER  sip:", 1),
        REGISTER.replace(b"REGISTER sip:", b"REG/ISTER sip:", 1),
        REGISTER.replace(b"sip:ims.mnc001", b"sip:ims.mnc001?X=1", 1),  # URI error
        REGISTER.replace(b"sip:ims.mnc001", b"<sip:ims.mnc001", 1),
        OK_200.replace(b"200 OK", b"200"),  # no reason phrase, no SP
        OK_200.replace(b"200 OK", b"099 OK"),
        OK_200.replace(b"200 OK", b"2000 OK"),
        OK_200.replace(b"SIP/2.0 200", b"SIP/3.0 200"),
        OK_200.replace(b"\r\n\r\n", b"\r\n"),
        b"\r\n\r\n" + OK_200,
        b"\r\n\r\n",
        b"",
        b"\r\n",
        b"SIP/2.0 200 OK\r\n\r\n",
        b"OPTIONS sip:a SIP/2.0\r\n\r\n",
        b"OPTIONS sip:a SIP/2.0\r\n\r\n\r\n",
    ],
)
def test_unusual_messages_give_the_same_answer(data: bytes) -> None:
    _both(data)
    _both(data, stream=True)


@pytest.mark.usefixtures("use_c")
def test_limits_give_the_same_answer() -> None:
    many = REGISTER.replace(b"l: 0", b"Supported: x\r\n" * 23 + b"l: 0")
    long_line = REGISTER.replace(b"tests", b"t" * 600)
    for data in (many, long_line, REGISTER + b"x" * 3000):
        for limits in (SMALL, DEFAULT_LIMITS, Limits(0, 0, 0), Limits(-1, -1, -1),
                       Limits(2**70, 2**70, 2**70)):
            _both(data, limits)


@pytest.mark.usefixtures("use_c")
def test_truncation_at_every_offset() -> None:
    for data in (REGISTER, OK_200, *capture_messages()):
        for end in range(len(data) + 1):
            _both(data[:end])
            _both(data[:end], stream=True)


@pytest.mark.usefixtures("use_c")
def test_outcome_does_not_depend_on_the_line_cache() -> None:
    """C keeps the lines it split in the cache even when it then hands over to Python;
    what Python makes of a block must not depend on that (here: a line seen alone
    before, then a known name without a colon, then a continuation line)."""
    data = b"OPTIONS sip:a SIP/2.0\r\nX-A: 1\r\nMax-Forwards\r\n : 70\r\n\r\n"
    seen = b"OPTIONS sip:a SIP/2.0\r\nX-A: 1\r\n\r\n"
    split = parser._split_message
    outcomes = []
    try:
        for fast in (split, None):
            parser._split_message = fast
            parser._LINE_FIELDS.clear()
            outcomes.append(_outcome(data, DEFAULT_LIMITS, False))
            _outcome(seen, DEFAULT_LIMITS, False)
            assert "X-A: 1" in parser._LINE_FIELDS
            outcomes.append(_outcome(data, DEFAULT_LIMITS, False))
    finally:
        parser._split_message = split
    assert outcomes[0][0] == "request" and outcomes[0][-3][1][2] == "70"
    assert all(o == outcomes[0] for o in outcomes)


SPECIAL = st.sampled_from(b"\r\n\x00\t :;,<>\"\\\x7f\x80\xc3\xff")
BYTES = st.integers(0, 255) | SPECIAL
MUTATE = settings(max_examples=400, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed with a few octets replaced, inserted or removed, lines repeated or grown."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "grow"]))
        if kind == "flip" and at < len(data):
            data[at] = draw(BYTES)
        elif kind == "insert":
            data[at:at] = bytes([draw(BYTES)]) * draw(st.integers(1, 3))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 4))]
        else:
            end = data.find(b"\r\n", at)
            start = data.rfind(b"\r\n", 0, at) + 2
            if 2 <= start < end:
                line = bytes(data[start : end + 2])
                times = draw(st.integers(1, 300)) if kind == "repeat" else 1
                grown = line if kind == "repeat" else line[:-2] + b"x" * draw(
                    st.integers(1, 9000)) + b"\r\n"
                data[start : end + 2] = grown * times
    return bytes(data)


@pytest.mark.usefixtures("use_c")
@MUTATE
@given(data=mutated(), stream=st.booleans(), small=st.booleans())
def test_mutations_give_the_same_answer(data: bytes, stream: bool, small: bool) -> None:
    _both(data, SMALL if small else DEFAULT_LIMITS, stream)


@pytest.mark.usefixtures("use_c")
@MUTATE
@given(
    names=st.lists(st.text("abcXYZ-.!%*_+`'~Vvl:; \t\x00\x80", min_size=0, max_size=8),
                   max_size=6),
    value=st.text(" \t\x7fabc:,;<>\"", max_size=10),
)
def test_header_names_give_the_same_answer(names: list[str], value: str) -> None:
    """Known, odd-case, compact, unknown and invalid header names, odd blanks in values."""
    head = b"".join(f"{name}:{value}\r\n".encode("utf-8", "surrogateescape") for name in names)
    _both(OK_200.replace(b"Call-ID: c1\r\n", head))


class _NoTruth:
    def __bool__(self) -> bool:
        raise ZeroDivisionError


def test_bad_arguments_fall_back_or_raise(c_mod: ModuleType) -> None:
    split: Callable[..., Any] = c_mod.split_message
    known: dict[str, str] = {}
    good = (REGISTER, 65535, 256, 8192, False, known, {}, 4096, 200)
    assert split(*good) is not None
    for at, bad in ((0, bytearray(REGISTER)), (0, REGISTER.decode()), (1, 2**80), (2, "256"),
                    (5, parser.KNOWN_KEYS), (6, None), (7, 1.5)):
        assert split(*good[:at], bad, *good[at + 1 :]) is None, at
    with pytest.raises(TypeError):
        split(*good[:-1])
    with pytest.raises(ZeroDivisionError):
        split(*good[:4], _NoTruth(), *good[5:])
    cache = {"Max-Forwards: 70": ("not", "a", "field")}  # not what the parser keeps
    assert split(*good[:6], cache, *good[7:]) is None
    assert split(REGISTER, 65535, 256, 8192, False, {"Via": 1}, {}, 4096, 200) is None


def test_cache_is_bounded(c_mod: ModuleType) -> None:
    cache: dict[str, Any] = {}
    for i in range(20):
        data = REGISTER.replace(b"Call-ID: r0", f"Call-ID: r{i}".encode())
        assert c_mod.split_message(data, 65535, 256, 8192, False, {}, cache, 8, 40) is not None
        assert 0 < len(cache) <= 8
        assert all(len(line) <= 40 for line in cache)


def _exercise(split: Callable[..., Any]) -> None:
    for data in (*SEEDS[:6], REGISTER.replace(b"l: 0", b"l: 9"), REGISTER[:-30],
                 REGISTER.replace(b"Expires:", b"Exp ires:"), REGISTER.replace(b"p", b"\xff")):
        split(data, 65535, 256, 8192, False, parser._KNOWN_DICT, {}, 4096, 200)
        split(data, 65535, 256, 8192, True, parser._KNOWN_DICT, {}, 1, 200)


def test_no_leak_under_tracemalloc(c_mod: ModuleType) -> None:
    def exercise() -> None:
        _exercise(c_mod.split_message)
        for text in (";tag=1;lr;x", ";a=b;c=", ";é", ""):
            c_mod.plain_params(text, 0)

    for _ in range(200):
        exercise()
    gc.collect()
    tracemalloc.start()
    try:
        exercise()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(3000):
            exercise()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 3000 rounds of ~20 splits: leaking one small object per split would be > 1 MB.
    assert grown < 64 * 1024, f"memory grew by {grown} bytes"


def _params_outcome(text: str, pos: int) -> object:
    try:
        return params_module.parse_generic_params(text, pos)
    except SipParseError as exc:
        return (type(exc), exc.status, exc.reason)


def _params_both(c_mod: ModuleType, text: str, pos: int) -> tuple[object, bool]:
    """(the outcome, whether C split it) after checking C and Python agree on it."""
    taken = c_mod.plain_params(text, pos) is not None
    saved = params_module._plain_params
    params_module._plain_params = c_mod.plain_params
    try:
        fast = _params_outcome(text, pos)
        params_module._plain_params = None
        pure = _params_outcome(text, pos)
    finally:
        params_module._plain_params = saved
    assert fast == pure, (text, pos)
    return fast, taken


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        (";tag=4242SIPpTag001", True),
        (";lr;transport=udp;x=a.b-c!%*_+`'~", True),
        ("sip:a@b;lr;ob", False),  # from pos 0: not a param list
        (";lr;", False),
        (";=x", False),
        (";a=", False),
        (";a==b", False),
        (";a=b=c", False),
        (";received=::1", False),
        ('; a = "q"', False),
        (";q=é", False),
        ("", False),
    ],
)
def test_plain_params_match_the_grammar(c_mod: ModuleType, text: str, plain: bool) -> None:
    assert _params_both(c_mod, text, 0)[1] is plain
    for pos in range(-2, len(text) + 2):
        _params_both(c_mod, text, pos)


@MUTATE
@given(text=st.text(";=abcAZ09-.!%*_+`'~ \t\":<>[]\x00\x80é", max_size=30),
       pos=st.integers(-1, 32))
def test_random_params_give_the_same_answer(c_mod: ModuleType, text: str, pos: int) -> None:
    _params_both(c_mod, text, pos)


def test_params_bad_arguments(c_mod: ModuleType) -> None:
    assert c_mod.plain_params(";a", 2**80) is None
    assert c_mod.plain_params(b";a", 0) is None
    assert c_mod.plain_params(";a", "0") is None
    with pytest.raises(TypeError):
        c_mod.plain_params(";a")


def _backend(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", "import ims_core.sip.parser as p; print(p.BACKEND)"],
        env={**os.environ, **env}, capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def test_c_backend_is_default(c_mod: ModuleType) -> None:
    assert _backend({"IMS_CORE_PURE_SIP": ""}) == "c"


def test_env_forces_the_twin() -> None:
    assert _backend({"IMS_CORE_PURE_SIP": "1"}) == "python"
