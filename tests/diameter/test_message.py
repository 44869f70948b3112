"""The message model: building by name, reading, answers (RFC 6733 §6.2, §7.2)."""

from __future__ import annotations

from typing import Any

import pytest

from ims_core.diameter import (
    CX_APPLICATION_ID,
    CX_VSAI,
    DEFAULT,
    FLAG_E,
    FLAG_P,
    VENDOR_3GPP,
    Avp,
    CxResult,
    DiameterError,
    Dictionary,
    Grouped,
    Message,
    ResultCode,
    SessionIds,
    decode,
    make_answer,
    make_request,
    new_session_id,
)

from . import samples as s


def test_make_request_cx_boilerplate() -> None:
    m = make_request("MAR", origin_host="scscf.ims", origin_realm="ims", destination_realm="ims")
    assert m.is_request and m.is_proxiable and m.application_id == CX_APPLICATION_ID
    assert m.avps[0].name == "Session-Id" and m.session_id is not None
    assert m.session_id.startswith("scscf.ims;")
    vsai = m.get_grouped("Vendor-Specific-Application-Id")
    assert vsai is not None
    assert (vsai.get("Vendor-Id"), vsai.get("Auth-Application-Id")) == (10415, 16777216)
    assert m.get("Auth-Session-State") == 1
    assert m.origin_host == "scscf.ims" and m.origin_realm == "ims"


def test_make_request_by_code_and_unknown() -> None:
    assert make_request(280, session_id=False).name == "DWR"
    with pytest.raises(KeyError):
        make_request("XYZ")


def test_session_ids_are_unique() -> None:
    ids = {new_session_id("h") for _ in range(1000)}
    assert len(ids) == 1000
    assert new_session_id("h", "opt").endswith(";opt")


def test_make_request_takes_session_ids_from_the_generator() -> None:
    gen = SessionIds(lambda n: bytes(n))
    sids = [make_request(cmd, origin_host="scscf.ims", session_ids=gen).session_id
            for cmd in ("MAR", "SAR")]
    assert sids == ["scscf.ims;0;0", "scscf.ims;0;1"]
    # an explicit Session-Id, or none at all, leaves the generator alone
    assert make_request("LIR", origin_host="i", session_id="x;1", session_ids=gen).session_id == (
        "x;1"
    )
    assert make_request(280, session_id=False, session_ids=gen).session_id is None
    assert gen("scscf.ims") == "scscf.ims;0;2"


def test_make_request_without_generator_needs_origin_host() -> None:
    with pytest.raises(ValueError, match="origin_host"):
        make_request("MAR")
    a = make_request("MAR", origin_host="h").session_id
    b = make_request("MAR", origin_host="h").session_id
    assert a is not None and b is not None and a != b and a.startswith("h;")


def test_cx_boilerplate_is_per_dictionary_and_never_shared() -> None:
    templates = DEFAULT.cx_request_avps
    assert DEFAULT.cx_request_avps is templates  # encoded once
    assert [a.encode() for a in templates] == [
        Avp.of("Vendor-Specific-Application-Id", CX_VSAI).encode(),
        Avp.of("Auth-Session-State", 1).encode(),
    ]
    m1 = make_request("MAR", origin_host="h")
    m2 = make_request("MAR", origin_host="h")
    v1 = m1.find("Vendor-Specific-Application-Id")
    assert v1 is not None and all(v1 is not t for t in templates)
    v1.value.add("Vendor-Id", 1)  # editing one message's copy...
    m1.find("Auth-Session-State").value = 0  # type: ignore[union-attr]
    v2 = m2.get_grouped("Vendor-Specific-Application-Id")
    assert v2 is not None and v2.get_all("Vendor-Id") == [VENDOR_3GPP]  # ...changes no other
    assert m2.get("Auth-Session-State") == 1
    assert DEFAULT.cx_request_avps[0].value.get_all("Vendor-Id") == [VENDOR_3GPP]
    assert m2.encode() == make_request("MAR", origin_host="h", session_id=m2.session_id).encode()
    with pytest.raises(TypeError):
        CX_VSAI["Vendor-Id"] = 0  # type: ignore[index]


def test_cx_boilerplate_follows_the_dictionary() -> None:
    from ims_core.diameter import dict_base, dict_cx

    d = Dictionary([*dict_base.AVPS, *dict_cx.AVPS], [*dict_base.COMMANDS, *dict_cx.COMMANDS],
                   [*dict_base.APPLICATIONS, *dict_cx.APPLICATIONS])
    first = d.cx_request_avps
    assert first is not DEFAULT.cx_request_avps and first == DEFAULT.cx_request_avps
    assert make_request("UAR", origin_host="h", dictionary=d).dictionary is d
    d.extend()  # new definitions could change the encoding: computed again
    assert d.cx_request_avps is not first and d.cx_request_avps == first


def test_enumerated_by_name_and_number() -> None:
    m = s.sar()
    assert m.get("Server-Assignment-Type") == 1
    m.add("Server-Assignment-Type", 5)
    assert m.get_all("Server-Assignment-Type") == [1, 5]
    with pytest.raises(ValueError):
        m.add("Server-Assignment-Type", "NOT_A_VALUE")
    assert DEFAULT.avp("Server-Assignment-Type").enum_name(5) == "USER_DEREGISTRATION"


def test_add_rejects_bad_values_at_once() -> None:
    m = Message(303)
    with pytest.raises(TypeError):
        m.add("SIP-Number-Auth-Items", "two")
    with pytest.raises(KeyError):
        m.add("No-Such-AVP", 1)
    with pytest.raises(TypeError):
        m.add("SIP-Auth-Data-Item", 5)


def test_grouped_forms_are_equivalent() -> None:
    as_map = Avp.of("Experimental-Result", {"Vendor-Id": 10415, "Experimental-Result-Code": 2001})
    as_pairs = Avp.of(
        "Experimental-Result", [("Vendor-Id", 10415), ("Experimental-Result-Code", 2001)]
    )
    g = Grouped()
    g.add("Vendor-Id", 10415)
    g.add("Experimental-Result-Code", 2001)
    as_grouped = Avp.of("Experimental-Result", g)
    assert as_map.encode() == as_pairs.encode() == as_grouped.encode()


def test_mandatory_override_and_flags() -> None:
    a = Avp.of("Public-Identity", "sip:x", mandatory=False)
    assert not a.mandatory and a.flags == 0x80
    assert Avp.of("Feature-List-ID", 1).flags == 0x80  # V only per TS 29.229 §6.3
    assert Avp.of("Public-Identity", "sip:x").flags == 0xC0


def test_typed_getters() -> None:
    m = decode(s.mar().encode())
    assert m.get_str("User-Name") == s.IMPI
    assert m.get_int("SIP-Number-Auth-Items") == 2
    assert m.get_bytes("User-Data") is None
    with pytest.raises(DiameterError) as ei:
        m.get_int("User-Name")
    assert ei.value.result_code == ResultCode.INVALID_AVP_VALUE
    with pytest.raises(DiameterError) as ei:
        m.require("User-Data")
    assert ei.value.result_code == ResultCode.MISSING_AVP and ei.value.failed_avp is not None
    assert "User-Name" in m and "User-Data" not in m
    assert m.remove("Public-Identity") == 1 and "Public-Identity" not in m


def test_make_answer_copies_what_it_must() -> None:
    req = decode(s.mar().encode())
    req.hop_by_hop, req.end_to_end = 11, 22
    req.add("Proxy-Info", {"Proxy-Host": "dra.ims", "Proxy-State": b"\x01"})
    ans = make_answer(
        req, experimental=CxResult.ERROR_USER_UNKNOWN, origin_host="hss", origin_realm="ims"
    )
    assert not ans.is_request and ans.flags == FLAG_P
    assert (ans.command_code, ans.application_id) == (303, CX_APPLICATION_ID)
    assert (ans.hop_by_hop, ans.end_to_end) == (11, 22)
    assert ans.avps[0].name == "Session-Id" and ans.session_id == req.session_id
    assert ans.get("Vendor-Specific-Application-Id") == req.get("Vendor-Specific-Application-Id")
    assert ans.experimental_result == (VENDOR_3GPP, 5001) and ans.result == 5001
    assert ans.result_code is None
    assert ans.get_all("Proxy-Info") == req.get_all("Proxy-Info")
    decode(ans.encode())  # satisfies the MAA rules


def test_protocol_error_answer_sets_e_bit() -> None:
    req = decode(s.lir().encode())
    ans = make_answer(req, ResultCode.COMMAND_UNSUPPORTED, error_message="nope")
    assert ans.flags & FLAG_E and ans.result == 3001
    assert "Vendor-Specific-Application-Id" not in ans and ans.get("Error-Message") == "nope"
    assert not make_answer(req, 5012).is_error


def test_repr_and_names() -> None:
    m = s.uar()
    assert m.name == "UAR" and "User-Name" in repr(m)
    assert Message(999).name == "Request(999)"
    assert Message(999, flags=0).name == "Answer(999)"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Event-Timestamp", "not a datetime"),
        ("Host-IP-Address", "not an ip"),
    ],
)
def test_bad_derived_values(name: str, value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        Avp.of(name, value)


def test_first_values_reads_several_avps_in_one_pass() -> None:
    m = s.mar()
    m.add("Public-Identity", "sip:second@ims.example")
    names = ("Server-Name", "Public-Identity", "Destination-Host", "User-Name")
    got = m.first_values(names)
    assert got == [m.get(n) for n in names]  # each the first of its name, or None
    assert got[1] != "sip:second@ims.example" and got[2] is None
    assert m.first_values(names) == got  # the positions are kept, not the values
    with pytest.raises(KeyError):
        m.first_values(("No-Such-AVP",))
    with pytest.raises(ValueError, match="twice"):
        m.first_values(("User-Name", "User-Name"))
