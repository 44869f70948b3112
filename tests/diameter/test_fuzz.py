"""Property tests: whatever the input, decoding raises nothing but DiameterError."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ims_core.diameter import DiameterError, Framer, decode, error_answer

from . import samples as s

VALID = [f().encode() for _, f, _ in s.ALL] + [
    make_ans(make_req()).encode() for _, make_req, make_ans in s.ALL
]

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode_or_error(data: bytes) -> None:
    try:
        decode(data)
    except DiameterError as err:
        assert 1000 <= err.result_code < 6000
        if err.header is not None:  # an error answer can always be built and encoded
            error_answer(err.header, err, origin_host="h", origin_realm="r").encode()


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _decode_or_error(data)


@FUZZ
@given(st.binary(max_size=300))
def test_random_body_behind_a_valid_header(body: bytes) -> None:
    body = body + b"\0" * (-len(body) % 4)
    head = struct.pack(">IIIII", (1 << 24) | (20 + len(body)), (0x80 << 24) | 303, 16777216, 1, 2)
    _decode_or_error(head + body)


@FUZZ
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_mutated_valid_messages(data: bytes, edits: list[tuple[int, int]]) -> None:
    buf = bytearray(data)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    _decode_or_error(bytes(buf))


@FUZZ
@given(st.sampled_from(VALID), st.integers(0, 2000))
def test_truncated_valid_messages(data: bytes, cut: int) -> None:
    _decode_or_error(data[: cut % len(data)])


@FUZZ
@given(st.lists(st.binary(max_size=64), max_size=10))
def test_framer_never_crashes(chunks: list[bytes]) -> None:
    f = Framer(max_length=4096)
    try:
        for c in chunks:
            for frame in f.feed(c):
                _decode_or_error(frame)
    except DiameterError:
        pass


@FUZZ
@given(
    st.text(max_size=40),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=40),
    st.lists(st.text(max_size=20), max_size=4),
)
def test_round_trip_random_values(name: str, number: int, blob: bytes, impus: list[str]) -> None:
    m = s.mar()
    m.add("User-Name", name)
    m.add("SIP-Item-Number", number)
    m.add("SIP-Auth-Data-Item", {"SIP-Authorization": blob, "SIP-Authentication-Scheme": name})
    for i in impus:
        m.add("Public-Identity", i)
    wire = m.encode()
    got = decode(wire)
    assert got.avps == m.avps and got.encode() == wire
