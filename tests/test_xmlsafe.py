"""XML from peers (Cx User-Data, reginfo bodies): entity and DTD tricks are refused with a
clear error before the parser expands or fetches anything."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from ims_core import reginfo, userdata_xml, xmlsafe
from ims_core.reginfo import ReginfoError
from ims_core.userdata import UserDataError

REGINFO = '<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">{}</reginfo>'
USERDATA = "<IMSSubscription><PrivateID>{}</PrivateID></IMSSubscription>"

PARSERS: list[tuple[str, Callable[[bytes], object], type[ValueError]]] = [
    (REGINFO, reginfo.parse, ReginfoError),
    (USERDATA, userdata_xml.parse, UserDataError),
]
IDS = ["reginfo", "userdata"]

_LAUGHS = "".join(
    f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
)
BILLION_LAUGHS = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{_LAUGHS}]>'
QUADRATIC = '<!DOCTYPE r [<!ENTITY a "' + "a" * 20_000 + '">]>'


def _doc(template: str, prolog: str, body: str) -> bytes:
    return (prolog + template.format(body)).encode()


@pytest.mark.parametrize(("template", "parse", "error"), PARSERS, ids=IDS)
@pytest.mark.parametrize(("prolog", "body"), [
    (BILLION_LAUGHS, "&l9;"),
    (QUADRATIC, "&a;" * 2000),
    ('<!DOCTYPE r SYSTEM "http://192.0.2.1/r.dtd">', ""),
    ('<!DOCTYPE r PUBLIC "-//X//DTD R//EN" "http://192.0.2.1/r.dtd">', ""),
    ('<!DOCTYPE r [<!ENTITY % p SYSTEM "http://192.0.2.1/p.dtd"> %p;]>', ""),
    ("<!doctype r>", ""),
], ids=["billion-laughs", "quadratic", "external-dtd", "public-id", "parameter-entity",
        "lower-case"])
def test_dtds_and_entities_are_refused(template: str, parse: Callable[[bytes], object],
                                       error: type[ValueError], prolog: str, body: str) -> None:
    with pytest.raises(error, match="DTDs and entity declarations are not accepted"):
        parse(_doc(template, prolog, body))


@pytest.mark.parametrize(("template", "parse", "error"), PARSERS, ids=IDS)
def test_external_entity_does_not_read_a_file(tmp_path: Path, template: str,
                                              parse: Callable[[bytes], object],
                                              error: type[ValueError]) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    prolog = f'<!DOCTYPE r [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
    with pytest.raises(error, match="DTD") as info:
        parse(_doc(template, prolog, "&x;"))
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(("template", "parse", "error"), PARSERS, ids=IDS)
def test_a_utf16_document_cannot_hide_its_doctype(template: str,
                                                  parse: Callable[[bytes], object],
                                                  error: type[ValueError]) -> None:
    # Found by fuzzing: the DOCTYPE check looked at the octets, the parser at the
    # declared encoding, so "<\0!\0D\0..." went through and its entities were expanded.
    doc = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY a "aaaa">]>'
           + template.format("&a;")).encode("utf-16")
    with pytest.raises(error, match="not UTF-8"):
        parse(doc)


VALID_USERDATA = USERDATA.format("ü@b").replace(
    "</PrivateID>", "</PrivateID><ServiceProfile><PublicIdentity><Identity>sip:a@b"
    "</Identity></PublicIdentity></ServiceProfile>")


@pytest.mark.parametrize("encoding", ["UTF-2", "x-no-such-codec", "UTF-16", "UTF-8"])
def test_a_declared_encoding_is_not_looked_up(encoding: str) -> None:
    # Found by fuzzing: an unknown encoding name escaped as LookupError. The octets
    # are UTF-8 whatever the declaration says.
    prolog = f'<?xml version="1.0" encoding="{encoding}"?>'
    assert userdata_xml.parse((prolog + VALID_USERDATA).encode()).private_id == "ü@b"
    assert reginfo.parse((prolog + REGINFO.format("")).encode()).version == 0


def test_utf8_documents_with_a_declaration_or_a_bom_still_parse() -> None:
    text = VALID_USERDATA
    for doc in (text.encode(), b"\xef\xbb\xbf" + text.encode(),
                b'<?xml version="1.0" encoding="UTF-8"?>' + text.encode(), text):
        assert userdata_xml.parse(doc).private_id == "ü@b"
    assert reginfo.parse("\ufeff" + REGINFO.format("")).version == 0


def test_size_is_checked_first() -> None:
    with pytest.raises(xmlsafe.UnsafeXmlError, match="too large"):
        xmlsafe.parse(b"<!DOCTYPE " + b"x" * 100, 50)


def test_the_encoded_reginfo_form_passes_the_same_checks() -> None:
    """A reginfo body in the form our S-CSCF writes is read without the XML parser, but
    never without the checks: size, UTF-8, no DTD."""
    doc = reginfo.Reginfo(1, "full", (reginfo.RegistrationInfo("sip:a@b", "r", "active", (
        reginfo.ContactInfo("c", "active", "registered", "sip:a@192.0.2.1", 60),)),))
    text = reginfo.encode(doc).decode()
    assert reginfo.parse(text) == doc
    head, _, rest = text.partition("\n")
    with pytest.raises(ReginfoError, match="DTDs and entity declarations"):
        reginfo.parse(f"{head}\n<!DOCTYPE reginfo>{rest}")
    with pytest.raises(ReginfoError, match="too large"):
        reginfo.parse(text.replace("sip:a@192.0.2.1", "sip:a@" + "h" * reginfo.MAX_BODY))
    with pytest.raises(ReginfoError, match="not UTF-8"):
        reginfo.parse(text.encode() + b"\xff")
    with pytest.raises(xmlsafe.UnsafeXmlError, match="DTDs"):
        xmlsafe.checked_text(b"<!DOCTYPE r><r/>", 100)
    assert xmlsafe.checked_text(text.encode(), len(text)) == text


def test_read_checks_first_then_asks_the_fast_reader_then_the_parser() -> None:
    seen: list[str] = []

    def fast(text: str) -> str | None:
        seen.append(text)
        return "fast" if text == "<ours/>" else None

    def tree(root: ET.Element) -> str:
        return f"tree {root.tag}"

    assert xmlsafe.read(b"<ours/>", 100, fast, tree) == "fast"
    assert xmlsafe.read("<other/>", 100, fast, tree) == "tree other"
    assert xmlsafe.read("<ours/>", 100, None, tree) == "tree ours"
    assert seen == ["<ours/>", "<other/>"]
    for bad, why in ((b"<!DOCTYPE r><ours/>", "DTDs"), (b"<ours/>" + b" " * 100, "too large"),
                     (b"\xff<ours/>", "not UTF-8"), ("<ours/>\ud800", "not UTF-8"),
                     (b"<other>", "not well-formed")):
        with pytest.raises(xmlsafe.UnsafeXmlError, match=why):
            xmlsafe.read(bad, 100, fast, tree)
    assert len(seen) == 3  # only "<other>" passed the checks to reach the fast reader
