"""ims_core.identity: URI equality (RFC 3261 §19.1.4, RFC 3966 §4), public identity keys
and the TS 23.003 derivations. Examples from the RFCs, then Hypothesis: every way of
writing the same URI maps to one key, and changing any part that matters changes it."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims_core import identity
from ims_core.identity import (
    contact_views,
    default_impi,
    default_impus,
    global_number,
    home_domain,
    impi_from_impu,
    impu_aliases,
    impu_key,
    plain_identity,
    same_identity,
    text_and_key,
    to_uri,
    uri_equal,
    uri_key,
)
from ims_core.sip import SipParseError, parse_message, parse_uri

# RFC 3261 §19.1.4: equivalent pairs.
EQUAL = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
    ("sip:ue@[2001:DB8::1]:5070", "sip:ue@[2001:db8:0:0::1]:5070"),
    # RFC 3966 §4 / §5.1.1: visual separators and case do not matter.
    ("tel:+1-201-555-0123", "tel:+12015550123"),
    ("tel:7042;phone-context=example.com", "tel:7042;phone-context=EXAMPLE.com"),
    ("tel:+1(201)555.0123;ext=7", "tel:+12015550123;EXT=7"),
]
# RFC 3261 §19.1.4: not equivalent.
DIFFERENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
    ("sip:a%3bb@h.example", "sip:a;b@h.example"),  # an escaped reserved character
    ("tel:+12015550123", "tel:12015550123;phone-context=+1"),
    ("tel:7042;phone-context=example.com", "tel:7042;phone-context=example.net"),
    ("tel:+12015550123", "tel:+12015550123;ext=7"),
    ("sip:alice@atlanta.com", "tel:+12015550123"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_rfc_equal_pairs(a: str, b: str) -> None:
    assert uri_equal(a, b) and uri_equal(b, a)
    if "newparam" not in a + b and "security" not in a + b:
        assert uri_key(a) == uri_key(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_rfc_different_pairs(a: str, b: str) -> None:
    assert not uri_equal(a, b) and not uri_equal(b, a)
    if "security" not in a:
        assert uri_key(a) != uri_key(b)


def test_unparseable_text_equals_nothing() -> None:
    assert not uri_equal("sip:", "sip:")
    assert not same_identity("not a uri", "not a uri")


def test_name_addr_text_is_accepted() -> None:
    assert uri_key('"Alice" <sip:alice@Atlanta.com>') == uri_key("sip:alice@atlanta.com")
    assert impu_key("<tel:+1-555-0100;phone-context=x>") == "tel:+15550100"


# -- public identities -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "key"), [
    ("sip:Alice@EXAMPLE.com;user=phone", "sip:Alice@example.com"),
    ("SIP:001010000000001@IMS.mnc001.mcc001.3gppnetwork.org",
     "sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org"),
    ("sip:%61lice@example.com?subject=x", "sip:alice@example.com"),
    ("sip:alice@example.com:5070;transport=tcp", "sip:alice@example.com:5070"),
    ("tel:+1-555-0100;phone-context=x", "tel:+15550100"),
    ("tel:0100;phone-context=ims.example", "tel:0100;phone-context=ims.example"),
    ("tel:0100;phone-context=+1-555", "tel:0100;phone-context=+1555"),
])
def test_impu_key(text: str, key: str) -> None:
    assert impu_key(text) == key
    assert impu_key(parse_uri(text)) == key


def test_impu_aliases_for_global_numbers() -> None:
    domain = "IMS.example"
    assert impu_aliases(parse_uri("tel:+1-555-0100"), domain) == [
        "tel:+15550100", "sip:+15550100@ims.example"]
    assert impu_aliases(parse_uri("sip:+15550100@ims.example;user=phone"), domain) == [
        "sip:+15550100@ims.example", "tel:+15550100"]
    # Without user=phone a SIP user part is just a name (RFC 3261 §19.1.6).
    assert impu_aliases(parse_uri("sip:+15550100@ims.example"), domain) == [
        "sip:+15550100@ims.example"]
    assert global_number(parse_uri("tel:5550100;phone-context=x")) is None


def test_plain_identity_keeps_the_written_form() -> None:
    assert plain_identity(parse_uri("sip:a%20b:pw@Host.example:5060;user=phone?x=y")) == (
        "sip:a%20b@Host.example:5060")
    assert plain_identity(parse_uri("tel:+1-555;ext=2")) == "tel:+1-555"
    assert plain_identity(parse_uri("tel:0100;phone-context=ims.example;ext=2")) == (
        "tel:0100;phone-context=ims.example")


def test_impi_from_impu() -> None:
    # TS 24.229 §5.4.1.2.1: scheme, port and parameters removed.
    assert impi_from_impu(parse_uri("sip:alice@IMS.Example:5060;user=x")) == (
        "alice@ims.example")
    assert impi_from_impu(parse_uri("sip:ims.example")) is None
    assert impi_from_impu(parse_uri("tel:+15550100")) is None


def test_ts_23_003_derivations() -> None:
    assert home_domain("001", "01") == "ims.mnc001.mcc001.3gppnetwork.org"
    assert home_domain("310", "410") == "ims.mnc410.mcc310.3gppnetwork.org"
    with pytest.raises(ValueError):
        home_domain("01", "001")
    domain = "ims.mnc001.mcc001.3gppnetwork.org"
    assert default_impi("001010000000001", domain) == f"001010000000001@{domain}"
    assert default_impus("001010000000001", domain) == (f"sip:001010000000001@{domain}",)
    assert default_impus("001010000000001", domain, "15550000001") == (
        f"sip:001010000000001@{domain}", f"sip:+15550000001@{domain}", "tel:+15550000001")


# -- Hypothesis --------------------------------------------------------------------------

UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'"
users = st.text(UNRESERVED, min_size=1, max_size=12)
labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
domains = st.lists(labels, min_size=1, max_size=3).map(lambda x: ".".join([*x, "example"]))
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
hosts = st.one_of(domains, ipv4)
ports = st.one_of(st.none(), st.integers(1, 65535))
token_values = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
significant = st.dictionaries(st.sampled_from(["transport", "user", "ttl", "method", "maddr"]),
                              token_values, max_size=3)
others = st.dictionaries(st.sampled_from(["lr", "ob", "x-a", "gr", "foo"]), token_values,
                         max_size=2)
headers = st.dictionaries(st.sampled_from(["subject", "priority", "x"]), token_values,
                          max_size=2)


@st.composite
def sip_parts(draw: st.DrawFn) -> dict[str, object]:
    return {
        "scheme": draw(st.sampled_from(["sip", "sips"])),
        "user": draw(st.one_of(st.none(), users)),
        "host": draw(hosts),
        "port": draw(ports),
        "params": draw(significant),
        "others": draw(others),
        "headers": draw(headers),
    }


def render(p: dict[str, object], rnd: random.Random, *, extra: dict[str, str] | None = None
           ) -> str:
    """One of the many ways to write the URI described by `p`: random case where case
    does not matter, escapes of unreserved characters, any parameter and header order."""
    def case(text: str) -> str:
        return "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in text)

    def escape(text: str) -> str:
        out = []
        for c in text:
            if rnd.random() < 0.3:
                code = f"{ord(c):02x}"
                out.append("%" + (code.upper() if rnd.random() < 0.5 else code))
            else:
                out.append(c)
        return "".join(out)

    text = case(str(p["scheme"])) + ":"
    if p["user"] is not None:
        text += escape(str(p["user"])) + "@"
    text += case(str(p["host"]))
    if p["port"] is not None:
        text += f":{p['port']}"
    params = [*dict(p["params"]).items(), *dict(p["others"]).items(),  # type: ignore[call-overload]
              *(extra or {}).items()]
    rnd.shuffle(params)
    text += "".join(f";{case(n)}={case(v)}" for n, v in params)
    hdrs = list(dict(p["headers"]).items())  # type: ignore[call-overload]
    rnd.shuffle(hdrs)
    if hdrs:
        text += "?" + "&".join(f"{case(n)}={v}" for n, v in hdrs)
    return text


MUTATIONS = ["user", "host", "port", "scheme", "param", "header"]


def mutate(p: dict[str, object], which: str) -> dict[str, object]:
    q = dict(p)
    if which == "user":
        q["user"] = "z" if p["user"] is None else f"{p['user']}z"
    elif which == "host":
        q["host"] = "other-" + str(p["host"]) if not str(p["host"])[0].isdigit() else (
            "other.example")
    elif which == "port":
        q["port"] = 5060 if p["port"] is None else None
    elif which == "scheme":
        q["scheme"] = "sips" if p["scheme"] == "sip" else "sip"
    elif which == "param":
        params = dict(p["params"])  # type: ignore[call-overload]
        if "transport" in params:
            params["transport"] = params["transport"] + "x"
        else:
            params["transport"] = "tcp"
        q["params"] = params
    else:
        hdrs = dict(p["headers"])  # type: ignore[call-overload]
        hdrs["x-extra"] = "1"
        q["headers"] = hdrs
    return q


@settings(max_examples=300, deadline=None)
@given(sip_parts(), st.integers(0, 2**32))
def test_equal_uris_share_one_key(parts: dict[str, object], seed: int) -> None:
    rnd = random.Random(seed)
    a, b = render(parts, rnd), render(parts, rnd)
    assert uri_equal(a, b), (a, b)
    assert uri_key(a) == uri_key(b), (a, b)
    assert impu_key(a) == impu_key(b), (a, b)
    # A parameter only one side has (and that is not one of the five) changes nothing.
    c = render(parts, rnd, extra={"x-only": "1"})
    assert uri_equal(a, c) and uri_key(a) == uri_key(c), (a, c)


@settings(max_examples=300, deadline=None)
@given(sip_parts(), st.sampled_from(MUTATIONS), st.integers(0, 2**32))
def test_different_uris_get_different_keys(parts: dict[str, object], which: str,
                                           seed: int) -> None:
    rnd = random.Random(seed)
    other = mutate(parts, which)
    a, b = render(parts, rnd), render(other, rnd)
    assert not uri_equal(a, b), (a, b)
    assert uri_key(a) != uri_key(b), (a, b)
    if which in ("user", "host", "port", "scheme"):
        assert impu_key(a) != impu_key(b), (a, b)
    else:  # parameters and headers are not part of a public identity
        assert impu_key(a) == impu_key(b), (a, b)


digits = st.text("0123456789", min_size=3, max_size=12)


def with_separators(number: str, rnd: random.Random) -> str:
    out = []
    for c in number:
        out.append(c)
        if rnd.random() < 0.3:
            out.append(rnd.choice("-.()"))
    return "".join(out)


@settings(max_examples=200, deadline=None)
@given(digits, st.booleans(), st.integers(0, 2**32))
def test_tel_numbers_ignore_visual_separators(number: str, is_global: bool,
                                              seed: int) -> None:
    rnd = random.Random(seed)
    ctx = "" if is_global else ";phone-context=ims.example"
    prefix = "+" if is_global else ""
    a = f"tel:{prefix}{with_separators(number, rnd)}{ctx}"
    b = f"tel:{prefix}{with_separators(number, rnd)}{ctx.upper()}"
    assert uri_equal(a, b) and uri_key(a) == uri_key(b), (a, b)
    assert impu_key(a) == impu_key(b)
    changed = f"tel:{prefix}{number}9{ctx}"
    assert not uri_equal(a, changed) and uri_key(a) != uri_key(changed)
    assert impu_key(a) != impu_key(changed)
    if is_global:  # a global and a local number are never equal (RFC 3966 §4)
        local = f"tel:{number};phone-context=+1"
        assert not uri_equal(a, local) and impu_key(a) != impu_key(local)


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.builds(lambda u, h: f"sip:{u}@{h}", users, domains),
    st.builds(lambda u, h: f"sips:{u}@{h}", users, ipv4),
    digits.map(lambda d: f"tel:+{d}"),
))
def test_the_canonical_fast_path_agrees_with_the_full_rule(text: str) -> None:
    """impu_key returns canonical text as it is; it must equal what parsing gives."""
    from ims_core.identity import _as_uri, _impu_key

    assert impu_key(text) == _impu_key(_as_uri(text))


# -- kept keys, and what a REGISTER names read without copies ----------------------------------
def test_keys_of_texts_are_kept_bounded_and_failures_are_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    text = "sip:%61lice@AtLanTa.CoM;transport=TCP"
    assert uri_key(text) == uri_key(parse_uri(text)) == uri_key(text)
    assert impu_key(text) == impu_key(parse_uri(text)) == impu_key(text)
    assert identity._URI_KEYS[text] == uri_key(text)
    for _ in range(2):  # text that is no URI raises every time, and is never kept
        with pytest.raises(SipParseError):
            uri_key("sip:")
    assert "sip:" not in identity._URI_KEYS and "sip:" not in identity._IMPU_KEYS
    monkeypatch.setattr(identity, "_KEYS_MAX", 50)
    for i in range(identity._KEYS_MAX + 10):
        assert impu_key(f"sip:User{i}@Example.com") == f"sip:User{i}@example.com"
    assert len(identity._IMPU_KEYS) <= identity._KEYS_MAX


@pytest.mark.parametrize("text", [t for pair in EQUAL + DIFFERENT for t in pair])
def test_a_uri_and_its_text_share_a_key(text: str) -> None:
    """Nodes key bindings by a contact's text (kept keys) where they have the parse."""
    uri = parse_uri(text)
    assert uri_key(str(uri)) == uri_key(uri)
    assert impu_key(str(uri)) == impu_key(uri)
    assert text_and_key(uri) == (str(uri), uri_key(uri))
    assert identity._URI_KEYS[str(uri)] == uri_key(uri)


def _register(*headers: str) -> bytes:
    return ("REGISTER sip:ims.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
            + "".join(f"{h}\r\n" for h in headers)
            + "Call-ID: c\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n").encode()


def test_to_uri_and_contact_views_read_what_the_copies_read() -> None:
    message = parse_message(_register(
        "To: <sip:Alice@IMS.example>", "From: <sip:alice@ims.example>;tag=1",
        "Contact: <sip:a@192.0.2.1:5070>;expires=60, <sip:b@192.0.2.1>", "Contact: <tel:+1>"))
    assert to_uri(message) == message.to_addr.uri
    assert contact_views(message) == message.contacts()
    assert [str(c.uri) for c in contact_views(message)] == [
        "sip:a@192.0.2.1:5070", "sip:b@192.0.2.1", "tel:+1"]
    star = parse_message(_register("To: <sip:a@b>", "Contact: *"))
    assert contact_views(star) == star.contacts() == []
    bare = parse_message(_register("From: <sip:a@b>;tag=1", "Contact: <sip:a@"))
    with pytest.raises(SipParseError, match="Missing To header"):
        to_uri(bare)
    with pytest.raises(SipParseError):
        contact_views(bare)


@settings(max_examples=300, deadline=None)
@given(sip_parts(), st.integers(0, 2**32))
def test_a_written_uri_keys_as_its_parse_does(parts: dict[str, object], seed: int) -> None:
    """What keys by text (kept keys) and what keys by the parse agree, however written."""
    text = render(parts, random.Random(seed))
    uri = parse_uri(text)
    assert uri_key(str(uri)) == uri_key(uri) == uri_key(text)
    assert text_and_key(uri)[1] == uri_key(uri)
    assert impu_key(str(uri)) == impu_key(uri) == impu_key(text)
