"""IMSSubscription documents in exactly the form `userdata.build` writes are read without the
XML parser (`userdata_xml._read_encoded`); these tests hold it to the parser path's answer:
on every document the builder writes, and on any document at all it accepts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims_core import userdata
from ims_core.userdata import Ifc, Profile, Spt, UserDataError
from ims_core.userdata_xml import _build_tree, _read_encoded, _read_tree
from tests.test_userdata import _PROFILE, profile


def both(doc: bytes) -> tuple[Profile | None, Profile | None]:
    """What each reader makes of *doc* (None: the fast one passes / the parser refuses)."""
    text = doc.decode()
    try:
        tree: Profile | None = _read_tree(text)
    except UserDataError:
        tree = None
    return _read_encoded(text), tree


FULL = profile(
    Ifc(5, "sips:as.example;transport=tcp", 1, False, (
        Spt(groups=(0, 1), method="INVITE"), Spt(negated=True, session_case=3),
        Spt(groups=(1,), request_uri=r"^sip:.*@example\.net$"),
        Spt(header="Accept-Contact", header_content='.*"video".*'),
        Spt(header="P-Asserted-Identity"), Spt(sdp_line="m", sdp_content="^audio"),
        Spt(sdp_line="a", sdp_content=""), Spt(header="X-Empty", header_content=""),
        Spt(method="REGISTER", registration_types=(0, 2))), service_info=""),
    Ifc(1, "sip:as.example:5070;lr", service_info="svc\tinfo é 😀"),
    Ifc(8, "sip:as4.example", include_register_response=True),
    Ifc(9, "sip:as5.example", include_register_request=True, include_register_response=True),
    barred=True)


def test_our_own_documents_take_the_fast_path() -> None:
    doc = userdata.build(FULL)
    fast, tree = both(doc)
    assert fast == tree == FULL
    assert userdata.parse(doc) == FULL and userdata.parse(doc.decode()) == FULL


def test_the_text_builder_writes_what_elementtree_writes_for_the_full_profile() -> None:
    assert userdata.build(FULL) == _build_tree(FULL)
    odd = profile(Ifc(1, "sip:as.example", service_info="a&b<c>d ]]> &amp;",
                      spts=(Spt(header="X", header_content="<v>&"),)))
    assert userdata.build(odd) == _build_tree(odd)
    assert b"a&amp;b&lt;c&gt;d ]]&gt; &amp;amp;" in userdata.build(odd)


@settings(max_examples=300, deadline=None)
@given(_PROFILE)
def test_the_text_builder_writes_what_elementtree_writes(p: Profile) -> None:
    assert userdata.build(p) == _build_tree(p)


@settings(max_examples=150, deadline=None)
@given(_PROFILE)
def test_both_readers_agree_on_whatever_the_builder_writes(p: Profile) -> None:
    doc = userdata.build(p)
    fast, tree = both(doc)
    assert tree == p
    # The fast reader leaves only U+007F and escaped text ('&' '<' '>') to the parser.
    assert fast == p if not any(c in doc.decode() for c in "\x7f&") else fast in (None, p)
    assert userdata.parse(doc) == p


_EDITS = st.sampled_from([" ", "\n", "\r", "\t", "&amp;", "&#60;", "<!-- c -->", "<![CDATA[x]]>",
                          "<X/>", "<X />", "</X>", ">", "<", "\x7f", "\x85", "\ufeff", "0", "1",
                          "a", "true", "ns:", ' xmlns="urn:x"', "\x00"])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([FULL, profile()]), st.lists(
    st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 3), _EDITS), max_size=3))
def test_whatever_the_fast_reader_accepts_the_parser_reads_the_same(
        p: Profile, edits: list[tuple[float, int, str]]) -> None:
    text = userdata.build(p).decode()
    for at, drop, insert in edits:  # replace *drop* characters at *at* with *insert*
        i = int(at * len(text))
        text = text[:i] + insert + text[i + drop:]
    fast, tree = both(text.encode("utf-8", "surrogatepass"))
    assert fast is None or fast == tree


@pytest.mark.parametrize("old,new", [
    ("<IMSSubscription>", '<IMSSubscription xmlns="urn:ietf:params:xml:ns:ims">'),
    ("<IMSSubscription>", "<cx:IMSSubscription xmlns:cx='urn:x'>"),
    ("<ServiceProfile>", "\n  <ServiceProfile>"),
    ("</PublicIdentity>", "</PublicIdentity>\n"),
    ("<Identity>", "<Identity >"),
    ("INVITE", "INV&#73;TE"),
    ("INVITE", "<![CDATA[INVITE]]>"),
    ("<ServiceProfile>", "<ServiceProfile><!-- ours -->"),
    ("<Priority>", "<?pi x?><Priority>"),
    ("</ServiceProfile>", "<Extension /></ServiceProfile>"),
    ("<Extension><IdentityType>", "<Extension><Other /><IdentityType>"),
    ("<BarringIndication>1", "<BarringIndication>true"),
    ('<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?>'),
    ("</IMSSubscription>", "</IMSSubscription>\n"),
])  # fmt: skip
def test_other_forms_take_the_parser_path(old: str, new: str) -> None:
    text = userdata.build(FULL).decode()
    assert old in text
    text = text.replace(old, new, 1)
    if new.startswith("<cx:"):
        text = text.replace("</IMSSubscription>", "</cx:IMSSubscription>")
    assert _read_encoded(text) is None
    tree = _read_tree(text)
    assert userdata.parse(text) == tree


@pytest.mark.parametrize("old,new,msg", [
    ("<Priority>5<", "<Priority>99999999999<", "priority must be an integer"),
    ("<SessionCase>3<", "<SessionCase>7<", "session_case must be an integer"),
    ("<IdentityType>0<", "<IdentityType>9<", "identity_type must be an integer"),
    ("<ServerName>sip:as4", "<ServerName>tel:as4", "is not a SIP URI"),
    ("<Identity>sip:001010000000001", "<Identity>mailto:001010000000001", "URI"),
    ("<PrivateID>001010000000001@", "<PrivateID>0010 10000000001@", "spaces"),
    ("svc\tinfo", "svc\r\ninfo", "control character"),  # the parser makes it an LF
])  # fmt: skip
def test_values_the_model_refuses_are_worded_by_the_parser_path(old: str, new: str,
                                                                msg: str) -> None:
    text = userdata.build(FULL).decode()
    assert old in text
    text = text.replace(old, new, 1)
    assert _read_encoded(text) is None
    with pytest.raises(UserDataError, match=msg):
        userdata.parse(text)


@pytest.mark.parametrize("doc", [
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE x [<!ENTITY a "b">]>'
    "<IMSSubscription><PrivateID>&a;</PrivateID></IMSSubscription>",
    '<?xml version="1.0" encoding="UTF-8"?>\n<IMSSubscription><PrivateID>a@b</PrivateID>'
    "</IMSSubscription>" + " " * (256 * 1024),
])
def test_the_safety_checks_come_first(doc: str) -> None:
    with pytest.raises(UserDataError, match="refused"):
        userdata.parse(doc)
