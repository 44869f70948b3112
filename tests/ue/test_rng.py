"""The UE's randomness is injected: with the same rng it builds the same REGISTER, and
every Call-ID, tag, branch and cnonce comes from it (none from a hidden source)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from ims_core.ue import FirstRegister, Registration, demo_profile
from ims_core.ue.messages import Local, message

LOCAL = Local("udp", "10.0.0.1", 5070)
IMSI = "001010000000001"


def counting_rng() -> Callable[[int], bytes]:
    counter = itertools.count()
    return lambda n: bytes((next(counter) + i) % 256 for i in range(n))


def test_same_rng_same_register() -> None:
    a = Registration(demo_profile(IMSI), LOCAL, rng=counting_rng()).start()
    b = Registration(demo_profile(IMSI), LOCAL, rng=counting_rng()).start()
    assert a.to_bytes() == b.to_bytes()
    c = Registration(demo_profile(IMSI), LOCAL).start()  # os.urandom by default
    assert c.call_id != a.call_id and c.top_via().branch != a.top_via().branch


def test_every_identifier_comes_from_the_rng() -> None:
    calls: list[int] = []

    def rng(n: int) -> bytes:
        calls.append(n)
        return bytes(n)

    reg = Registration(demo_profile(IMSI), LOCAL, first=FirstRegister.IMS, rng=rng)
    first = reg.start()
    assert first.call_id.startswith("00000000000000000000@")
    assert first.from_tag == "0000000000"
    assert first.top_via().branch == "z9hG4bK" + "00" * 8
    assert sorted(calls) == [5, 8, 8, 10]  # tag, cnonce, branch, Call-ID
    msg = message(demo_profile(IMSI), LOCAL, "sip:x@example.com", "hi", rng=rng)
    assert msg.call_id.startswith("00" * 10)
