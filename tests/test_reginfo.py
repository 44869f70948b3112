"""The reginfo document (RFC 3680 §5): what the S-CSCF writes, the P-CSCF and UE read."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims_core import reginfo
from ims_core.reginfo import ContactInfo, Reginfo, ReginfoError, RegistrationInfo

# RFC 3680 §6 example (trimmed), with a GRUU extension element a reader must ignore.
RFC_EXAMPLE = b"""<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
         xmlns:gr="urn:ietf:params:xml:ns:gruuinfo" version="0" state="full">
  <registration aor="sip:user@example.com" id="as9" state="active">
    <contact id="76" state="active" event="registered" duration-registered="7322"
             q="0.8" expires="3600">
      <uri>sip:user@pc887.example.com</uri>
      <unknown-param name="+sip.instance">"&lt;urn:uuid:0001&gt;"</unknown-param>
      <gr:pub-gruu uri="sip:user@example.com;gr=urn:uuid:0001"/>
    </contact>
    <contact id="77" state="terminated" event="expired">
      <uri>sip:user@university.edu</uri>
    </contact>
  </registration>
</reginfo>
"""


def test_parses_the_rfc_example() -> None:
    doc = reginfo.parse(RFC_EXAMPLE)
    assert (doc.version, doc.state) == (0, "full")
    reg = doc.registration("sip:user@example.com")
    assert reg is not None and reg.state == "active"
    first, second = reg.contacts
    assert first == ContactInfo("76", "active", "registered", "sip:user@pc887.example.com",
                                3600, (("+sip.instance", '"<urn:uuid:0001>"'),))
    assert (second.state, second.event, second.expires) == ("terminated", "expired", None)
    assert reg.active_contacts == (first,)


def test_round_trip() -> None:
    doc = Reginfo(3, "full", (
        RegistrationInfo("sip:001010000000001@ims.example", "r1", "terminated", (
            ContactInfo("c1", "terminated", "rejected", "sip:ue@192.0.2.1:5060", 0,
                        (("+sip.instance", '"<urn:gsma:imei:1>"'),)),)),
        RegistrationInfo("tel:+15550001", "r2", "init"),
    ))
    data = reginfo.encode(doc)
    assert data.startswith(b"<?xml")
    assert reginfo.parse(data) == doc


@pytest.mark.parametrize("body, why", [
    (b"", "not well-formed"),
    (b"<reginfo version='0' state='full'>", "not well-formed"),
    (b"<other/>", "root element"),
    (b"<reginfo state='full'/>", "no version"),
    (b"<reginfo version='-1' state='full'/>", "non-negative"),
    (b"<reginfo version='0' state='half'/>", "state"),
    (b"<reginfo version='0' state='full'><registration id='1' state='active'/></reginfo>",
     "no aor"),
    (b"<reginfo version='0' state='full'><registration aor='sip:a@b' id='1' state='up'/>"
     b"</reginfo>", "state"),
    (b"<reginfo version='0' state='full'><registration aor='sip:a@b' id='1' state='active'>"
     b"<contact id='1' state='active' event='bogus'><uri>sip:x@y</uri></contact>"
     b"</registration></reginfo>", "event"),
    (b"<reginfo version='0' state='full'><registration aor='sip:a@b' id='1' state='active'>"
     b"<contact id='1' state='active' event='registered'/></registration></reginfo>",
     "no <uri>"),
    (b'<!DOCTYPE r [<!ENTITY a "aaaa">]><reginfo version="0" state="full">&a;</reginfo>',
     "DTD"),
    (b"<reginfo version='0' state='full'>" + b" " * reginfo.MAX_BODY + b"</reginfo>",
     "too large"),
])
def test_malformed_bodies_raise_reginfo_error(body: bytes, why: str) -> None:
    with pytest.raises(ReginfoError, match=why):
        reginfo.parse(body)


@given(st.binary(max_size=300))
def test_any_bytes_give_a_document_or_reginfo_error(data: bytes) -> None:
    with contextlib.suppress(ReginfoError):
        reginfo.parse(data)


# -- the form `encode` writes, read without the XML parser --------------------------------
def _outcome(read: Callable[[str], Reginfo], text: str) -> object:
    """What a reader makes of `text`: the document, or the error it raises."""
    try:
        return read(text)
    except ReginfoError as exc:
        return ("error", str(exc))


_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12) | \
    st.sampled_from(["", " ", "a&b", 'q"q', "<x>", "x'y", "é", "a\tb", "]]>", "  sip:a@b  "])
_CONTACTS = st.builds(
    ContactInfo, id=_VALUES, state=st.sampled_from(sorted(reginfo.CONTACT_STATES)),
    event=st.sampled_from(sorted(reginfo.CONTACT_EVENTS)), uri=_VALUES.filter(str.strip),
    expires=st.none() | st.integers(0, 10**6),
    params=st.lists(st.tuples(_VALUES, st.none() | _VALUES), max_size=2).map(tuple))
_DOCS = st.builds(
    Reginfo, version=st.integers(0, 10**6), state=st.sampled_from(["full", "partial"]),
    registrations=st.lists(st.builds(
        RegistrationInfo, aor=_VALUES, id=_VALUES,
        state=st.sampled_from(sorted(reginfo.REGISTRATION_STATES)),
        contacts=st.lists(_CONTACTS, max_size=3).map(tuple)), max_size=3).map(tuple))


@given(_DOCS)
def test_what_encode_writes_reads_back_alike_by_both_readers(doc: Reginfo) -> None:
    text = reginfo.encode(doc).decode()
    fast = reginfo._read_encoded(text)
    assert reginfo._read_tree(text) == reginfo.parse(text)
    if fast is not None:  # the patterns only take what reads the same
        assert fast == reginfo._read_tree(text)


@given(_DOCS.filter(lambda d: all(  # values of printable ASCII without & < > " \
    ch not in '&<>"' and 0x20 <= ord(ch) <= 0x7E
    for r in d.registrations for v in (r.aor, r.id, *(x for c in r.contacts for x in (
        c.id, c.uri, *(y or "" for p in c.params for y in p)))) for ch in v)))
def test_what_encode_writes_of_plain_values_skips_the_parser(doc: Reginfo) -> None:
    """The patterns follow `encode`: its usual output (what an S-CSCF sends on every
    registration change) is read without the XML parser, and reads as it."""
    text = reginfo.encode(doc).decode()
    assert reginfo._read_encoded(text) == reginfo._read_tree(text)
    assert reginfo._read_encoded(text) is not None


_OWN = ('<?xml version="1.0" encoding="UTF-8"?>\n<reginfo xmlns="urn:ietf:params:xml:ns:'
        'reginfo" version="7" state="full"><registration aor="sip:a@b" id="r1" state="active">'
        '<contact id="c1" state="active" event="registered" expires="600"><uri>sip:a@1.2.3.4'
        '</uri><unknown-param name="+sip.instance">x</unknown-param></contact></registration>'
        '</reginfo>')


@pytest.mark.parametrize("text", [
    _OWN,
    _OWN.replace('version="7"', 'version="07"'),
    _OWN.replace("<uri>sip:a@1.2.3.4</uri>", "<uri>  </uri>"),  # an error: the parser's
    _OWN.replace('event="registered"', 'event="bogus"'),
    _OWN.replace('state="full"', 'state="half"'),
    _OWN.replace("sip:a@1.2.3.4", "sip:a@1.2.3.4;x=&amp;"),  # a reference
    _OWN.replace("sip:a@1.2.3.4", "sip:a@1.2.3.4\r\n"),  # line ends the parser normalises
    _OWN.replace('aor="sip:a@b"', 'aor="sip:a\tb"'),  # attribute normalisation
    _OWN.replace("<uri>", "<uri><![CDATA[x]]>"),
    _OWN.replace("</contact>", "<!-- c --></contact>"),
    _OWN + "<reginfo/>",  # junk after the document
    _OWN + "\n",
    "\ufeff" + _OWN,
    _OWN.replace('encoding="UTF-8"', 'encoding="UTF-16"'),
    _OWN.replace('xmlns="urn:ietf:params:xml:ns:reginfo"', 'xmlns="urn:other"'),
    _OWN.replace("<registration ", "<r:registration xmlns:r='urn:x' ").replace(
        "</registration>", "</r:registration>"),
    _OWN.replace("</registration>", "</registration >"),
    _OWN.replace("</contact>", "</contact></contact>"),
    _OWN.replace('expires="600"', 'expires="' + "9" * 5000 + '"'),  # int() refuses it
    _OWN.replace(' expires="600"', ""),
    _OWN.replace('<unknown-param name="+sip.instance">x</unknown-param>',
                 '<unknown-param name="a" /><unknown-param name="b"></unknown-param>'),
])
def test_the_encoded_form_reader_agrees_with_the_parser(text: str) -> None:
    assert reginfo._read_encoded(_OWN) is not None  # the form itself is read by the patterns
    assert _outcome(reginfo.parse, text) == _outcome(reginfo._read_tree, text)
    fast = reginfo._read_encoded(text)  # None: not the form, or something to say about it
    if fast is not None:
        assert fast == reginfo._read_tree(text)


def test_too_many_digits_are_a_reginfo_error() -> None:
    """int() refuses more than 4300 digits: a body with such a number is bad, not a crash."""
    with pytest.raises(ReginfoError, match="non-negative"):
        reginfo.parse(_OWN.replace('expires="600"', 'expires="' + "9" * 5000 + '"'))
    with pytest.raises(ReginfoError, match="non-negative"):
        reginfo.parse(_OWN.replace('version="7"', 'version="' + "1" * 5000 + '"'))


@given(_DOCS.filter(lambda d: all(  # text (uri, parameter values) may hold & < >
    ch != '"' and 0x20 <= ord(ch) <= 0x7E
    for r in d.registrations for c in r.contacts
    for v in (c.uri, *(p[1] or "" for p in c.params)) for ch in v) and all(
    ch not in '&<>"' and 0x20 <= ord(ch) <= 0x7E
    for r in d.registrations for v in (r.aor, r.id, *(x for c in r.contacts for x in (
        c.id, *(p[0] for p in c.params)))) for ch in v)))
def test_escaped_text_skips_the_parser_too(doc: Reginfo) -> None:
    """`encode` escapes & < > in element text (a +sip.instance "<urn:...>" on every
    handset's contact): that text is read without the parser as well."""
    text = reginfo.encode(doc).decode()
    assert reginfo._read_encoded(text) == reginfo._read_tree(text)
    assert reginfo._read_encoded(text) is not None


_INSTANCE = '<unknown-param name="+sip.instance">x</unknown-param>'


@pytest.mark.parametrize("value,fast", [
    ('"&lt;urn:gsma:imei:35000000-000000-0&gt;"', True),
    ("a&amp;lt;b", True),  # "a&lt;b": &amp; is replaced last
    ("&amp;&amp;", True),
    ("&quot;x&quot;", False),  # references `encode` never writes in text: the parser's
    ("&apos;", False),
    ("&#60;x&#x3E;", False),
    ("&lt", False),
    ("&LT;", False),
    ("&unknown;", False),  # not well-formed: the parser says so
    ("&", False),
])
def test_text_references_read_as_the_parser_reads_them(value: str, fast: bool) -> None:
    text = _OWN.replace(_INSTANCE, f'<unknown-param name="+sip.instance">{value}'
                                   "</unknown-param>").replace("sip:a@1.2.3.4", f"sip:{value}")
    read = reginfo._read_encoded(text)
    assert (read is not None) == fast
    assert _outcome(reginfo.parse, text) == _outcome(reginfo._read_tree, text)
    if read is not None:
        assert read == reginfo._read_tree(text)
