"""The codec's fast paths agree with its general ones.

Decoding: the one-pass decoder (``codec._decode_well_formed``, for the top level and the
members of a Grouped) against the phases alone, over the sample Cx messages and many
mutations of them: the same AVPs and header, or the same error (Result-Code, Failed-AVP,
text, header, Session-Id). Encoding: what ``Avp.of``, ``Dictionary.constant``,
``make_request`` and ``make_answer`` build without the type's encoder against what the
encoder and a by-hand build give."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ims_core.diameter import (
    DEFAULT,
    Avp,
    CxResult,
    DiameterError,
    Message,
    codec,
    decode,
    error_answer,
    make_answer,
    make_request,
)
from ims_core.diameter.avp import _frame
from ims_core.diameter.dictionary import KIND_STRUCT, AvpDef

from . import samples as s


@contextmanager
def phases_only() -> Iterator[None]:
    """Decode with the phases alone: the one-pass decoder always declines."""
    saved = codec._decode_well_formed
    codec._decode_well_formed = lambda *args: None
    try:
        yield
    finally:
        codec._decode_well_formed = saved


Outcome = tuple[Any, ...]


def _outcome(data: bytes, check_rules: bool = True) -> Outcome:
    DEFAULT.decoded_groups.clear()  # no template decoded by the other path
    try:
        m = decode(data, check_rules=check_rules)
    except DiameterError as err:
        return ("error", err.result_code, err.failed_avp, err.text, err.e_bit, err.header,
                err.session_id)  # fmt: skip
    return ("message", m.command_code, m.application_id, m.flags, m.hop_by_hop,
            m.end_to_end, m.avps, m.encode())  # fmt: skip


def assert_paths_agree(data: bytes) -> tuple[str, str]:
    """The kinds of outcome, with the command rules and without."""
    kinds = []
    for rules in (True, False):
        fast = _outcome(data, rules)
        with phases_only():
            general = _outcome(data, rules)
        assert fast == general, data.hex()
        kinds.append(fast[0])
    return kinds[0], kinds[1]


def _extra_messages() -> list[bytes]:
    req = s.mar()
    unknown = Avp(9999, 0, 0, b"opaque")  # unknown, M bit clear: kept as bytes
    req.avps.insert(3, unknown)
    failed = error_answer(s.uar(), DiameterError(5004, "bad", failed_avp=s.raw_avp(1, 0x40, b"x")),
                          origin_host=s.HSS, origin_realm=s.DOMAIN)  # fmt: skip
    # A Grouped whose last member has no padding (tolerated), inside a Cx request.
    body = s.raw_avp(263, 0x40, b"sid") + s.raw_avp(
        260, 0x40, s.raw_avp(266, 0x40, struct.pack(">I", 10415))
        + struct.pack(">II", 1, (0x40 << 24) | 9) + b"u"
    )  # fmt: skip
    return [req.encode(), failed.encode(), s.raw_message(300, 16777216, 0xC0, body)]


SAMPLES = [make().encode() for _, make, _ in s.ALL] + [
    answer(make()).encode() for _, make, answer in s.ALL
] + _extra_messages()


@pytest.mark.parametrize("data", SAMPLES, ids=range(len(SAMPLES)))
def test_sample_messages_decode_alike(data: bytes) -> None:
    assert assert_paths_agree(data)[1] == "message"
    # All but the unknown AVP and the Failed-AVP take the one pass (not just the phases).
    one_pass = codec._decode_well_formed(data, 20, len(data), DEFAULT, 0)
    assert (one_pass is None) == (data in SAMPLES[-3:-1])


@pytest.mark.parametrize("data", SAMPLES, ids=range(len(SAMPLES)))
def test_every_octet_changed_decodes_alike(data: bytes) -> None:
    outcomes: set[str] = set()
    for pos in range(len(data)):
        for value in (0x00, 0xFF, data[pos] ^ 0x80, data[pos] ^ 0x20, (data[pos] + 1) & 0xFF):
            buf = bytearray(data)
            buf[pos] = value
            outcomes.update(assert_paths_agree(bytes(buf)))
    assert outcomes == {"message", "error"}  # both kinds were compared


@pytest.mark.parametrize("data", SAMPLES, ids=range(len(SAMPLES)))
def test_random_edits_and_cuts_decode_alike(data: bytes) -> None:
    rng = random.Random(len(data))
    for _ in range(150):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        assert_paths_agree(bytes(buf))
    for cut in range(20, len(data), 4):  # AVPs cut short, the header telling the new length
        short = bytearray(data[:cut])
        short[1:4] = cut.to_bytes(3, "big")
        assert_paths_agree(bytes(short))


def test_repeated_grouped_payloads_decode_alike() -> None:
    """The second sighting of a Grouped payload makes a template, the third copies it."""
    for data in SAMPLES:
        DEFAULT.decoded_groups.clear()
        first, second, third = (decode(data, check_rules=False) for _ in range(3))
        with phases_only():
            DEFAULT.decoded_groups.clear()
            general = decode(data, check_rules=False)
        assert first.avps == second.avps == third.avps == general.avps
        assert third.encode() == general.encode()


# --- encoding

_INTS = (0, 1, 7, 2001, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
         2**64, -1, -(2**31), -(2**31) - 1, -(2**63), -(2**63) - 1, True, False)  # fmt: skip


def _result(build: Callable[..., Avp | bytes], *args: Any) -> tuple[str, Any]:
    """The AVP *build* makes on the wire, or its error."""
    try:
        got = build(*args)
        return ("bytes", got if isinstance(got, bytes) else got.encode())
    except (TypeError, ValueError) as err:
        return (type(err).__name__, str(err))


def _frame_encoded(d: AvpDef, value: Any) -> bytes:
    return _frame(d.code, d.vendor, d.flags, d.encoder(value))


def test_avp_of_ints_match_the_encoder() -> None:
    defs = [d for d in DEFAULT.by_name.values() if d.kind == KIND_STRUCT]
    assert {d.type.value for d in defs} >= {"Unsigned32", "Enumerated", "Unsigned64"}
    for d in defs:
        for value in _INTS:
            got = _result(Avp.of, d.name, value)
            want = _result(_frame_encoded, d, value)
            assert got == want, (d.name, value)
            if got[0] == "bytes":
                decoded = Avp.of(d.name, value)
                assert decoded.value == value and decoded.value.__class__ is value.__class__


def test_constants_are_avp_of() -> None:
    for name, value in (("Result-Code", 2001), ("Origin-Host", s.HSS), ("Vendor-Id", 10415),
                        ("User-Name", b"raw"), ("Experimental-Result-Code", 2**32)):
        got = _result(DEFAULT.constant, name, value)
        assert got == _result(Avp.of, name, value)
        if got[0] == "bytes":
            assert DEFAULT.constant(name, value) == Avp.of(name, value)


def _by_hand(msg: Message, names: list[tuple[str, Any]]) -> bytes:
    ref = Message(msg.command_code, msg.application_id, msg.flags, msg.hop_by_hop,
                  msg.end_to_end)  # fmt: skip
    for name, value in names:
        ref.add(name, value)
    return ref.encode()


def test_make_request_is_built_as_by_hand() -> None:
    req = make_request("SAR", origin_host=s.SCSCF, origin_realm=s.DOMAIN,
                       destination_realm=s.DOMAIN, destination_host=s.HSS, session_id="sid",
                       avps=[("User-Name", s.IMPI), ("Server-Assignment-Type", 1)])  # fmt: skip
    assert req.encode() == _by_hand(req, [
        ("Session-Id", "sid"),
        ("Vendor-Specific-Application-Id", {"Vendor-Id": 10415, "Auth-Application-Id": 16777216}),
        ("Auth-Session-State", 1),
        ("Origin-Host", s.SCSCF), ("Origin-Realm", s.DOMAIN), ("Destination-Host", s.HSS),
        ("Destination-Realm", s.DOMAIN), ("User-Name", s.IMPI), ("Server-Assignment-Type", 1),
    ])  # fmt: skip
    raw = make_request("SAR", origin_host=s.SCSCF.encode(), session_id="sid")  # type: ignore[arg-type]
    assert raw.get("Origin-Host") == s.SCSCF.encode()  # bytes are taken as they are


def test_make_answer_experimental_result_is_built_as_by_hand() -> None:
    req = s.uar()
    ans = make_answer(req, experimental=CxResult.FIRST_REGISTRATION, origin_host=s.HSS,
                      origin_realm=s.DOMAIN)  # fmt: skip
    er = {"Vendor-Id": 10415, "Experimental-Result-Code": 2001}
    assert ans.get("Experimental-Result") == Avp.of("Experimental-Result", er).value
    assert ans.encode() == _by_hand(ans, [
        ("Session-Id", req.session_id),
        ("Vendor-Specific-Application-Id", {"Vendor-Id": 10415, "Auth-Application-Id": 16777216}),
        ("Auth-Session-State", 1), ("Experimental-Result", er), ("Origin-Host", s.HSS),
        ("Origin-Realm", s.DOMAIN),
    ])  # fmt: skip
    with pytest.raises(TypeError):  # a bool is no vendor, cached or not
        make_answer(req, experimental=2001, experimental_vendor=True)


def test_commands_by_abbreviation_are_the_first_of_that_name() -> None:
    for c in DEFAULT.commands.values():
        first = next(x for x in DEFAULT.commands.values()
                     if c.request_abbrev in (x.request_abbrev, x.answer_abbrev))  # fmt: skip
        assert DEFAULT.command_by_abbrev(c.request_abbrev) is first
        assert DEFAULT.command_by_abbrev(c.answer_abbrev).code == c.code
    with pytest.raises(KeyError, match="unknown command 'XYZ'"):
        DEFAULT.command_by_abbrev("XYZ")
