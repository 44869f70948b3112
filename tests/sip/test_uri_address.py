"""URIs (§19.1, RFC 3966) and name-addr values (§20.10)."""

from __future__ import annotations

import pytest

from ims_core.sip import (
    AbsoluteUri,
    NameAddr,
    SipParseError,
    SipUri,
    TelUri,
    parse_name_addr,
    parse_name_addr_list,
    parse_uri,
    quote,
    split_values,
    unescape,
    unquote,
)
from ims_core.sip import address as address_module
from ims_core.sip import uri as uri_module
from ims_core.sip.address import name_addr_view


@pytest.mark.parametrize(
    "text",
    [
        "sip:alice@example.com",
        "sips:alice:secret@example.com:5061;transport=tcp;lr",
        "sip:+12125551212@gw.example.com;user=phone",
        "sip:[2001:db8::10]:5070;maddr=[2001:db8::1]",
        "sip:example.com?Subject=hi&Priority=urgent",
        "sip:alice@192.0.2.4;ttl=15;method=INVITE",
        "SIP:Alice@Example.COM",
        "tel:+1-201-555-0123;ext=1234",
        "tel:7042;phone-context=example.com",
        "urn:service:sos",
        "http://www.example.com/x?y=1",
        "sip:%61lice@example.com",
        "sip:host_name.example.com",
    ],
)
def test_uri_round_trip(text: str) -> None:
    assert str(parse_uri(text)) == text


def test_uri_components() -> None:
    uri = parse_uri("sips:alice:secret@[2001:db8::10]:5061;transport=TCP;lr?h=v")
    assert isinstance(uri, SipUri)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips", "alice", "secret", "[2001:db8::10]", 5061,
    )
    assert uri.secure and uri.lr and uri.transport == "tcp" and uri.headers == [("h", "v")]
    assert uri.hostport == "[2001:db8::10]:5061" and uri.maddr is None
    uri.remove_param("lr")
    uri.set_param("maddr", "192.0.2.1")
    assert str(uri) == "sips:alice:secret@[2001:db8::10]:5061;transport=TCP;maddr=192.0.2.1?h=v"
    tel = parse_uri("tel:+44-20-7946-0000;phone-context=+44")
    assert isinstance(tel, TelUri) and tel.is_global and tel.param("phone-context") == "+44"
    assert isinstance(parse_uri("mailto:a@b.c"), AbsoluteUri)
    assert unescape("%61b%20c") == "ab c"


@pytest.mark.parametrize(
    "text",
    [
        "", "sip:", "sip:@host", "sip:a b@host", "sip:host;", "sip:host?x", "sip:host:abc",
        "sip:a@[::g]", "<sip:a@b>", "1sip:a", "tel:xyz;x", "urn:bad value", "sip:a@b;=x",
    ],
)
def test_bad_uris(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_uri(text)
    assert info.value.status == 400


def test_name_addr_forms() -> None:
    a = parse_name_addr('"Alice \\"A\\"" <sip:alice@example.com>;tag=1;+sip.instance="<urn:x>"')
    assert a.display_name == 'Alice "A"' and a.tag == "1"
    assert a.param("+sip.instance") == '"<urn:x>"'
    assert str(a) == '"Alice \\"A\\"" <sip:alice@example.com>;tag=1;+sip.instance="<urn:x>"'
    b = parse_name_addr("sip:bob@example.com;tag=2")
    assert b.tag == "2" and b.uri.params == []  # type: ignore[union-attr]
    assert str(b) == "<sip:bob@example.com>;tag=2"
    c = parse_name_addr("Bob Smith <sip:bob@example.com;transport=tcp>;expires=3600")
    assert c.display_name == "Bob Smith" and c.param("expires") == "3600"
    assert c.sip_uri is not None and c.sip_uri.transport == "tcp"
    assert str(NameAddr(parse_uri("tel:+1234"), "")) == '"" <tel:+1234>'
    d = c.copy()
    d.set_param("expires", "0")
    assert c.param("expires") == "3600"
    e = parse_name_addr('sip:u@192.0.2.1;+sip.instance="<urn:uuid:1>";expires=60')
    assert e.param("+sip.instance") == '"<urn:uuid:1>"' and str(e.uri) == "sip:u@192.0.2.1"
    lst = parse_name_addr_list('<sip:a@x>, "B, C" <sip:b@x>;q=0.5 , sip:c@x')
    assert [n.display_name for n in lst] == [None, "B, C", None]


@pytest.mark.parametrize(
    "text",
    [
        '"unterminated <sip:a@b>', "Bad, Name <sip:a@b>", "<sip:a@b", "< sip:a@b>",
        "sip:a@b?x=y", "<sip:a@b>;;", "<sip:a@b> junk", '"x" sip:a@b',
    ],
)
def test_bad_name_addrs(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_name_addr(text)


def test_split_and_quote_helpers() -> None:
    assert split_values('a, "b,c", <d,e>;x="f,g" ,h') == ["a", '"b,c"', "<d,e>;x=\"f,g\"", "h"]
    with pytest.raises(SipParseError):
        split_values('"abc')
    assert unquote(quote('x"\\y')) == 'x"\\y'
    assert unquote("plain") == "plain"


# -- the parse caches: the same answers, each caller its own copy, bounded ------------------


def test_each_parse_is_a_copy_of_its_own() -> None:
    first = parse_name_addr('"A" <sip:alice@example.com;lr>;tag=1')
    assert isinstance(first.uri, SipUri)
    first.uri.host = "evil.example"
    first.uri.params.clear()
    first.params.append(("x", None))
    again = parse_name_addr('"A" <sip:alice@example.com;lr>;tag=1')
    assert str(again) == "A <sip:alice@example.com;lr>;tag=1"
    uri = parse_uri("sip:bob@example.com:5070;transport=tcp")
    assert isinstance(uri, SipUri)
    uri.params.append(("lr", None))
    uri.port = 1
    assert str(parse_uri("sip:bob@example.com:5070;transport=tcp")) == (
        "sip:bob@example.com:5070;transport=tcp")
    view = name_addr_view("<sip:carol@example.com>;tag=7")
    assert view.tag == "7" and name_addr_view("<sip:carol@example.com>;tag=7") is view


@pytest.mark.parametrize("text", ["sip:", "sip:a@b:99999", "<sip:a@b", "sip:a b@c"])
def test_what_does_not_parse_raises_every_time(text: str) -> None:
    for _ in range(2):
        with pytest.raises(SipParseError):
            parse_name_addr(text)


def test_the_caches_stay_bounded() -> None:
    for i in range(2 * max(uri_module.PARSED.size, address_module.PARSED.size) + 10):
        parse_name_addr(f"<sip:u{i}@example.com>")
    assert 0 < len(uri_module.PARSED) <= 2 * uri_module.PARSED.size
    assert 0 < len(address_module.PARSED) <= 2 * address_module.PARSED.size
