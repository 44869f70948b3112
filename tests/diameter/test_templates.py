"""What the dictionary keeps to avoid work per message: AVPs encoded once
(``Dictionary.constant``) and top-level Grouped payloads decoded once. Both hand out fresh
copies: no message shares a mutable object with another."""

from __future__ import annotations

import pytest

from ims_core.diameter import (
    Avp,
    DiameterError,
    Dictionary,
    Grouped,
    ResultCode,
    decode,
    dict_base,
    dict_cx,
)
from ims_core.diameter.avp import grouped_avp
from ims_core.diameter.codec import _MAX_DECODED_GROUPS

from . import samples as s


def fresh_dictionary() -> Dictionary:
    return Dictionary([*dict_base.AVPS, *dict_cx.AVPS], [*dict_base.COMMANDS, *dict_cx.COMMANDS],
                      [*dict_base.APPLICATIONS, *dict_cx.APPLICATIONS])  # fmt: skip


def test_constant_is_a_fresh_copy_equal_to_avp_of() -> None:
    d = fresh_dictionary()
    a, b = d.constant("Result-Code", 2001), d.constant("Result-Code", 2001)
    assert a == b == Avp.of("Result-Code", 2001, d) and a is not b
    assert a.encode() == Avp.of("Result-Code", 2001, d).encode()
    a.value = 5012  # changing one copy changes no other
    assert d.constant("Result-Code", 2001).value == 2001
    with pytest.raises(TypeError):  # a bool is no Unsigned32, cached int or not
        d.constant("SIP-Item-Number", True)


def test_constant_is_bounded() -> None:
    d = fresh_dictionary()
    for i in range(3000):
        d.constant("Origin-Host", f"host{i}.example")
    assert len(d._constants) <= 1024


def test_grouped_members_are_decoded_once_and_never_shared() -> None:
    d = fresh_dictionary()
    wire = s.mar().encode()
    first, second = decode(wire, d), decode(wire, d)
    assert first.avps == second.avps and first.encode() == wire == second.encode()
    g1 = first.get_grouped("SIP-Auth-Data-Item")
    g2 = second.get_grouped("SIP-Auth-Data-Item")
    assert isinstance(g1, Grouped) and isinstance(g2, Grouped) and g1 is not g2
    assert all(x is not y for x, y in zip(g1.avps, g2.avps, strict=True))
    g2.add("SIP-Authorization", b"changed")  # one message's value, nobody else's
    g2.avps[0].value = "Digest-MD5"
    third = decode(wire, d)
    assert third.get_grouped("SIP-Auth-Data-Item") == g1 and third.encode() == wire
    assert len(d.decoded_groups) == 2  # Vendor-Specific-Application-Id, SIP-Auth-Data-Item


def test_a_grouped_payload_seen_once_keeps_no_copies() -> None:
    """An MAA's SIP-Auth-Data-Item never comes again: only its second sighting makes a
    template."""
    d = fresh_dictionary()
    wire = s.mar().encode()
    decode(wire, d)
    assert len(d.decoded_groups) == 2 and set(d.decoded_groups.values()) == {None}
    decode(wire, d)
    assert all(isinstance(v, tuple) and v for v in d.decoded_groups.values())


def test_bad_grouped_payload_fails_every_time_and_is_not_kept() -> None:
    d = fresh_dictionary()
    bad = s.raw_avp(260, 0x40, s.raw_avp(266, 0x40, b"\0\0"))  # Vendor-Id of 2 octets
    wire = s.raw_message(303, 16777216, 0xC0, bad)
    for _ in range(2):
        with pytest.raises(DiameterError) as e:
            decode(wire, d, check_rules=False)
        assert e.value.result_code == ResultCode.INVALID_AVP_LENGTH
    assert d.decoded_groups == {}


def test_decoded_groups_are_bounded() -> None:
    d = fresh_dictionary()
    for i in range(_MAX_DECODED_GROUPS + 10):
        m = s.mar()
        m.remove("SIP-Auth-Data-Item")
        m.add("SIP-Auth-Data-Item", {"SIP-Authentication-Scheme": f"scheme-{i}"})
        decode(m.encode(), d)
    assert len(d.decoded_groups) <= _MAX_DECODED_GROUPS


def test_nested_grouped_members_are_copied_too() -> None:
    d = fresh_dictionary()
    wire = s.maa_digest(s.mar()).encode()
    first, second = decode(wire, d), decode(wire, d)
    inner1 = first.get_grouped("SIP-Auth-Data-Item").get_grouped("SIP-Digest-Authenticate")  # type: ignore[union-attr]
    inner2 = second.get_grouped("SIP-Auth-Data-Item").get_grouped("SIP-Digest-Authenticate")  # type: ignore[union-attr]
    assert inner1 == inner2 and inner1 is not inner2
    inner2.add("Digest-QoP", "auth-int")  # the second came from what the first left
    assert len(inner1) == 4 and len(inner2) == 5
    third = decode(wire, d)
    assert third.avps == decode(wire, fresh_dictionary()).avps and third.encode() == wire


def test_grouped_avp_is_avp_of_a_grouped() -> None:
    d = fresh_dictionary()
    children = [d.constant("SIP-Item-Number", 1), Avp.of("SIP-Authenticate", b"\1" * 30, d),
                Avp.of("User-Name", "odd-length", d)]  # fmt: skip
    item = grouped_avp(d.by_name["SIP-Auth-Data-Item"], children, d)
    expected = Avp.of("SIP-Auth-Data-Item", Grouped([c.copy() for c in children], d), d)
    assert item.encode() == expected.encode() and item == expected
    state = grouped_avp(d.by_name["Vendor-Specific-Application-Id"],
                        [Avp.of("Vendor-Id", 10415, d)], d)  # a vendor 0 Grouped too
    assert state.encode() == Avp.of("Vendor-Specific-Application-Id", {"Vendor-Id": 10415},
                                    d).encode()
