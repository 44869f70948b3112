"""Security-Client/-Server/-Verify (RFC 3329 §2.2) with ipsec-3gpp (TS 33.203 Annex H)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims_core.sip import SipParseError
from ims_core.sip.secagree import (
    IPSEC_3GPP,
    SEC_AGREE,
    Choice,
    Mechanism,
    choose,
    format_mechanisms,
    mechanisms,
    offer_mechanisms,
    parse_mechanisms,
    server_mechanism,
    supported_mechanisms,
    verify_matches,
)

from ..sipmsg import build_request

INTEGRITY = ("hmac-sha-1-96", "hmac-md5-96")
ENCRYPTION = ("aes-cbc", "des-ede3-cbc", "null")

# As a Samsung handset sends it: one entry per algorithm pair, the same SPIs and ports.
SAMSUNG = (
    "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=3929102;spi-s=3929103;"
    "port-c=49925;port-s=49926, "
    "ipsec-3gpp;alg=hmac-md5-96;ealg=null;spi-c=3929102;spi-s=3929103;"
    "port-c=49925;port-s=49926"
)
# An older UE: no ealg (TS 33.203 Annex H: null encryption), prot and mod spelled out.
NO_EALG = ("ipsec-3gpp; alg=hmac-md5-96; prot=esp; mod=trans; spi-c=1111; spi-s=2222; "
           "port-c=5062; port-s=5064")


def parse_one(value: str, header: str = "security-client") -> Mechanism:
    [mech] = parse_mechanisms(value, header)
    return mech


# -- parsing -----------------------------------------------------------------------------
def test_samsung_security_client() -> None:
    first, second = parse_mechanisms(SAMSUNG)
    assert (first.name, first.alg, first.ealg) == (IPSEC_3GPP, "hmac-sha-1-96", "aes-cbc")
    assert (first.spi_c, first.spi_s, first.port_c, first.port_s) == (
        3929102, 3929103, 49925, 49926)
    assert (second.alg, second.ealg, second.spi_c) == ("hmac-md5-96", "null", 3929102)
    assert first.prot is None and first.mod is None and first.q is None


def test_entry_without_ealg() -> None:
    mech = parse_one(NO_EALG)
    assert (mech.alg, mech.ealg, mech.prot, mech.mod) == ("hmac-md5-96", None, "esp", "trans")
    assert mech.params[0] == ("alg", "hmac-md5-96")


def test_rfc3329_values() -> None:
    # RFC 3329 §3: the client's list, the server's list with preferences, digest params.
    assert [m.name for m in parse_mechanisms("tls, digest")] == ["tls", "digest"]
    ike, tls = parse_mechanisms("ipsec-ike;q=0.1, tls;q=0.2", "security-server")
    assert (ike.name, ike.q, tls.name, tls.q) == ("ipsec-ike", 0.1, "tls", 0.2)
    digest = parse_one('digest;d-alg=md5;d-qop=auth-int;'
                       'd-ver="0123456789abcdef0123456789abcdef";q=1')
    assert digest.param("d-ver") == '"0123456789abcdef0123456789abcdef"'
    assert digest.param("D-QOP") == "auth-int" and digest.q == 1.0


def test_whitespace_and_case_variants() -> None:
    mech = parse_one("  IPsec-3GPP ;ALG = HMAC-SHA-1-96 ;Ealg=AES-CBC; Spi-C=0000001000 ;"
                     "SPI-S=4294967295;Port-C=1;PORT-S=65535 ;Q=0.500 ")
    assert mech.name == IPSEC_3GPP
    assert [n for n, _ in mech.params] == [
        "alg", "ealg", "spi-c", "spi-s", "port-c", "port-s", "q"]
    assert (mech.alg, mech.ealg) == ("hmac-sha-1-96", "aes-cbc")
    assert (mech.spi_c, mech.spi_s, mech.port_c, mech.port_s, mech.q) == (
        1000, 2**32 - 1, 1, 65535, 0.5)
    assert mech.param("alg") == "HMAC-SHA-1-96"  # values kept as received


def test_every_field_of_the_header() -> None:
    req = build_request(
        "REGISTER", "sip:ims.example.org", vias=["SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa"],
        from_="<sip:u@ims.example.org>;tag=1", to="<sip:u@ims.example.org>", call_id="c",
        headers=[f"Security-Client: {SAMSUNG}", f"Security-Client: {NO_EALG}",
                 "Security-Verify: tls;q=0.2"])
    assert [m.alg for m in mechanisms(req, "security-client")] == [
        "hmac-sha-1-96", "hmac-md5-96", "hmac-md5-96"]
    assert mechanisms(req, "Security-Server") == []
    assert [m.name for m in mechanisms(req, "security-verify")] == ["tls"]


def test_bad_field_in_message_names_the_header() -> None:
    req = build_request(
        "REGISTER", "sip:ims.example.org", vias=["SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa"],
        from_="<sip:u@ims.example.org>;tag=1", to="<sip:u@ims.example.org>", call_id="c",
        headers=["Security-Verify: ipsec-3gpp;alg=hmac-md5-96"])
    with pytest.raises(SipParseError) as err:
        mechanisms(req, "security-verify")
    assert (err.value.status, err.value.reason) == (400, "Bad Security-Verify")


SA = "spi-c=1111;spi-s=2222;port-c=5062;port-s=5064"


@pytest.mark.parametrize("value", [
    "",
    "   ",
    ",",
    f"ipsec-3gpp;alg=hmac-md5-96;{SA},",
    "ipsec-3gpp;alg=hmac-md5-96;spi-c=1111;port-c=5062;port-s=5064",  # no spi-s
    f"ipsec-3gpp;{SA}",  # no alg
    "ipsec-3gpp;alg=hmac-md5-96;spi-c=4294967296;spi-s=2222;port-c=5062;port-s=5064",
    "ipsec-3gpp;alg=hmac-md5-96;spi-c=12345678901;spi-s=2222;port-c=5062;port-s=5064",
    "ipsec-3gpp;alg=hmac-md5-96;spi-c=-1;spi-s=2222;port-c=5062;port-s=5064",
    "ipsec-3gpp;alg=hmac-md5-96;spi-c=1111;spi-s=2222;port-c=0;port-s=5064",
    "ipsec-3gpp;alg=hmac-md5-96;spi-c=1111;spi-s=2222;port-c=5062;port-s=65536",
    "ipsec-3gpp;alg=hmac-md5-96;spi-c=0x10;spi-s=2222;port-c=5062;port-s=5064",
    "ipsec-3gpp;alg=hmac-md5-96;spi-c;spi-s=2222;port-c=5062;port-s=5064",
    f"ipsec-3gpp;alg=hmac-md5-96;alg=hmac-sha-1-96;{SA}",  # twice
    f'ipsec-3gpp;alg="hmac-md5-96";{SA}',
    f"ipsec-3gpp;alg=hmac-md5-96;{SA};q=1.5",
    f"ipsec-3gpp;alg=hmac-md5-96;{SA};q=0.1234",
    "tls;q",
    "tls;q=high",
    "tls junk",
    "tls;;q=0.1",
    "@@@",
    '"tls"',
    "tls;d-ver=\"unterminated",
])
def test_malformed_is_400(value: str) -> None:
    with pytest.raises(SipParseError) as err:
        parse_mechanisms(value, "security-client")
    assert (err.value.status, err.value.reason) == (400, "Bad Security-Client")
    assert err.value.can_respond
    assert isinstance(err.value.__cause__, ValueError)  # the detail, for the log


def test_reason_names_the_header_given() -> None:
    with pytest.raises(SipParseError, match="Bad Security-Server"):
        parse_mechanisms("ipsec-3gpp;alg=hmac-md5-96", "security-server")


def test_a_494_list_needs_no_sa_parameters() -> None:
    listed = parse_mechanisms("ipsec-3gpp;alg=hmac-md5-96;ealg=null", "security-server",
                              need_sa=False)
    assert listed[0].spi_c is None and listed[0].alg == "hmac-md5-96"
    with pytest.raises(SipParseError):
        parse_mechanisms("ipsec-3gpp;ealg=null", "security-server", need_sa=False)


def test_construction_checks_values() -> None:
    with pytest.raises(ValueError, match="port-c"):
        Mechanism(IPSEC_3GPP, (("port-c", "0"),))
    with pytest.raises(ValueError, match="token"):
        Mechanism("two words")
    with pytest.raises(ValueError, match="generic-param"):
        Mechanism("tls", (("x", " padded"),))
    assert Mechanism("TLS", (("Q", "0.2"),)) == Mechanism("tls", (("q", "0.2"),))


# -- choosing ----------------------------------------------------------------------------
def test_choose_follows_our_preference_integrity_first() -> None:
    offer = parse_mechanisms(SAMSUNG)
    assert choose(offer, INTEGRITY, ENCRYPTION) == Choice(offer[0], "hmac-sha-1-96", "aes-cbc")
    # md5 preferred: its only entry offers null, which we accept.
    assert choose(offer, ["hmac-md5-96", "hmac-sha-1-96"], ENCRYPTION) == Choice(
        offer[1], "hmac-md5-96", "null")
    # integrity outranks encryption: sha-1 with null beats md5 with aes.
    mixed = parse_mechanisms(f"ipsec-3gpp;alg=hmac-md5-96;ealg=aes-cbc;{SA}, "
                             f"ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;{SA}")
    assert choose(mixed, INTEGRITY, ENCRYPTION) == Choice(mixed[1], "hmac-sha-1-96", "null")


def test_choose_reads_no_ealg_as_null() -> None:
    offer = parse_mechanisms(NO_EALG)
    assert choose(offer, INTEGRITY, ENCRYPTION) == Choice(offer[0], "hmac-md5-96", "null")
    assert choose(offer, INTEGRITY, ["aes-cbc"]) is None


def test_choose_none_when_nothing_fits() -> None:
    offer = parse_mechanisms(SAMSUNG)
    assert choose(offer, ["hmac-md5-96"], ["aes-cbc"]) is None
    assert choose([], INTEGRITY, ENCRYPTION) is None


def test_choose_ignores_what_it_cannot_install() -> None:
    offer = parse_mechanisms(
        f"digest;d-alg=md5, tls;q=0.9, "
        f"ipsec-3gpp;alg=hmac-sha-1-96;prot=ah;{SA}, "
        f"ipsec-3gpp;alg=hmac-sha-1-96;mod=tun;{SA}, "
        "ipsec-3gpp;alg=hmac-sha-1-96;spi-c=255;spi-s=2222;port-c=5062;port-s=5064, "
        f"ipsec-3gpp;alg=hmac-md5-96;prot=ESP;mod=Trans;{SA}")
    assert choose(offer, INTEGRITY, ENCRYPTION) == Choice(offer[5], "hmac-md5-96", "null")


def test_choose_compares_names_case_insensitively() -> None:
    offer = parse_mechanisms(f"ipsec-3gpp;alg=HMAC-SHA-1-96;ealg=AES-CBC;{SA}")
    assert choose(offer, ["Hmac-Sha-1-96"], ["aes-CBC"]) == Choice(
        offer[0], "hmac-sha-1-96", "aes-cbc")


# -- writing -----------------------------------------------------------------------------
def test_server_mechanism() -> None:
    choice = Choice(parse_one(NO_EALG), "hmac-md5-96", "null")
    server = server_mechanism(choice, spi_c=5001, spi_s=5002, port_c=5066, port_s=5064, q=0.1)
    assert server.format() == ("ipsec-3gpp;prot=esp;mod=trans;spi-c=5001;spi-s=5002;"
                               "port-c=5066;port-s=5064;ealg=null;alg=hmac-md5-96;q=0.1")
    plain = server_mechanism(choice, spi_c=5001, spi_s=5002, port_c=5066, port_s=5064)
    assert plain.q is None and str(plain).endswith("alg=hmac-md5-96")
    with pytest.raises(ValueError):
        server_mechanism(choice, spi_c=5001, spi_s=2**32, port_c=5066, port_s=5064)
    with pytest.raises(ValueError):
        server_mechanism(choice, spi_c=5001, spi_s=5002, port_c=5066, port_s=5064, q=2)


def test_supported_mechanisms_for_a_494() -> None:
    listed = supported_mechanisms(INTEGRITY, ["aes-cbc", "null"])
    assert format_mechanisms(listed) == (
        "ipsec-3gpp;prot=esp;mod=trans;ealg=aes-cbc;alg=hmac-sha-1-96, "
        "ipsec-3gpp;prot=esp;mod=trans;ealg=null;alg=hmac-sha-1-96, "
        "ipsec-3gpp;prot=esp;mod=trans;ealg=aes-cbc;alg=hmac-md5-96, "
        "ipsec-3gpp;prot=esp;mod=trans;ealg=null;alg=hmac-md5-96")
    assert all(m.spi_c is None and m.port_s is None for m in listed)


def test_offer_mechanisms_round_trip_through_choose() -> None:
    offer = offer_mechanisms(INTEGRITY, ENCRYPTION, spi_c=7001, spi_s=7002, port_c=40001,
                             port_s=40000)
    assert [(m.alg, m.ealg) for m in offer] == [(a, e) for a in INTEGRITY for e in ENCRYPTION]
    assert {(m.spi_c, m.spi_s, m.port_c, m.port_s) for m in offer} == {
        (7001, 7002, 40001, 40000)}
    parsed = parse_mechanisms(format_mechanisms(offer))
    assert parsed == offer
    assert choose(parsed, ["hmac-md5-96"], ["des-ede3-cbc"]) == Choice(
        offer[4], "hmac-md5-96", "des-ede3-cbc")


def test_option_tag() -> None:
    assert SEC_AGREE == "sec-agree"


# -- Security-Verify ---------------------------------------------------------------------
SERVER = ("ipsec-3gpp;prot=esp;mod=trans;spi-c=5001;spi-s=5002;port-c=5066;port-s=5064;"
          "ealg=aes-cbc;alg=hmac-sha-1-96;q=0.1")


@pytest.mark.parametrize("verify", [
    SERVER,
    SERVER.upper(),  # names and token values case-insensitively
    "ipsec-3gpp;q=0.100;alg=hmac-sha-1-96;ealg=aes-cbc;port-s=5064;port-c=05066;"
    "spi-s=5002;spi-c=0005001;mod=trans;prot=esp",  # any order, numbers as numbers
    "ipsec-3gpp ; prot = esp ; mod=trans;spi-c=5001;spi-s=5002;port-c=5066;port-s=5064;"
    "ealg=aes-cbc;alg=hmac-sha-1-96;q=0.1",
])
def test_verify_matches(verify: str) -> None:
    server = parse_mechanisms(SERVER, "security-server")
    assert verify_matches(parse_mechanisms(verify, "security-verify"), server)


@pytest.mark.parametrize("verify", [
    SERVER.replace("spi-c=5001", "spi-c=5003"),
    SERVER.replace("ealg=aes-cbc", "ealg=null"),
    SERVER.replace(";q=0.1", ""),  # a parameter fewer
    SERVER + ";x=1",  # a parameter more
    SERVER.replace("q=0.1", "q=0.2"),
    SERVER + ", " + SERVER,  # a mechanism more
    "tls;q=0.1",
])
def test_verify_does_not_match(verify: str) -> None:
    server = parse_mechanisms(SERVER, "security-server")
    assert not verify_matches(parse_mechanisms(verify, "security-verify"), server)
    assert not verify_matches([], server)


def test_verify_keeps_the_order_of_mechanisms() -> None:
    server = parse_mechanisms("ipsec-ike;q=0.1, tls;q=0.2", "security-server")
    assert verify_matches(parse_mechanisms("ipsec-ike;q=0.1, tls;q=0.2"), server)
    assert not verify_matches(parse_mechanisms("tls;q=0.2, ipsec-ike;q=0.1"), server)
    quoted = parse_mechanisms('digest;d-ver="ABC"')
    assert not verify_matches(quoted, parse_mechanisms('digest;d-ver="abc"'))


# -- round trips -------------------------------------------------------------------------
def test_format_parse_round_trip_of_received_text() -> None:
    for value in (SAMSUNG, NO_EALG, SERVER, 'digest;d-ver="a, b";q=1'):
        parsed = parse_mechanisms(value)
        assert parse_mechanisms(format_mechanisms(parsed)) == parsed


_TOKEN = st.text("abcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~", min_size=1, max_size=10)
_GENERIC = st.tuples(
    _TOKEN.filter(lambda n: n not in {"q", "alg", "ealg", "prot", "mod", "spi-c", "spi-s",
                                      "port-c", "port-s"}),
    st.none() | _TOKEN | st.text("abc ,;=xyz", max_size=8).map(lambda s: f'"{s}"'))


@st.composite
def ipsec_entries(draw: st.DrawFn) -> Mechanism:
    sa = [("spi-c", draw(st.integers(0, 2**32 - 1))), ("spi-s", draw(st.integers(0, 2**32 - 1))),
          ("port-c", draw(st.integers(1, 65535))), ("port-s", draw(st.integers(1, 65535)))]
    known: list[tuple[str, str | None]] = [
        ("alg", draw(st.sampled_from(INTEGRITY))), *((n, str(v)) for n, v in sa)]
    if draw(st.booleans()):
        known.append(("ealg", draw(st.sampled_from(ENCRYPTION))))
    if draw(st.booleans()):
        known.append(("q", draw(st.sampled_from(["0", "0.1", "0.25", "0.999", "1", "1.000"]))))
    params = draw(st.permutations(known)) + draw(st.lists(_GENERIC, max_size=3))
    return Mechanism(IPSEC_3GPP, tuple(params))


@settings(max_examples=150, deadline=None)
@given(st.lists(ipsec_entries() | st.builds(
    Mechanism, _TOKEN.filter(lambda t: t != IPSEC_3GPP),
    st.lists(_GENERIC, max_size=3).map(tuple)), min_size=1, max_size=4))
def test_property_format_parse_round_trip(mechs: list[Mechanism]) -> None:
    text = format_mechanisms(mechs)
    parsed = parse_mechanisms(text)
    assert parsed == mechs
    assert verify_matches(parsed, mechs)
    if '"' not in text:  # quoted strings are compared exactly
        assert verify_matches(parse_mechanisms(text.upper()), mechs)
