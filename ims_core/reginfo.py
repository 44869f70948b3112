"""The registration information document of the reg event package (RFC 3680 §5),
``application/reginfo+xml``: one model for the S-CSCF that writes it and the P-CSCF and
UE that read it. Sans-I/O; parsing refuses DTDs (no entity expansion) and large bodies.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from ims_core import xmlsafe

EVENT_PACKAGE = "reg"  # RFC 3680 §4.1: the Event header of its SUBSCRIBEs and NOTIFYs
CONTENT_TYPE = "application/reginfo+xml"
NAMESPACE = "urn:ietf:params:xml:ns:reginfo"
MAX_BODY = 64 * 1024

REGISTRATION_STATES = frozenset({"init", "active", "terminated"})  # RFC 3680 §5.3
CONTACT_STATES = frozenset({"active", "terminated"})
CONTACT_EVENTS = frozenset({  # RFC 3680 §5.3: what moved a contact to its state
    "registered", "created", "refreshed", "shortened", "expired", "deactivated",
    "probation", "unregistered", "rejected",
})


class ReginfoError(ValueError):
    """A body that is not a valid reginfo document (a receiver answers 400)."""


@dataclass(frozen=True, slots=True, init=False)
class ContactInfo:
    """One ``<contact>``: ``uri`` is the bare contact URI; other Contact parameters such
    as ``+sip.instance`` travel as ``<unknown-param>`` (``params``)."""

    id: str
    state: str
    event: str
    uri: str
    expires: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, id: str, state: str, event: str, uri: str, expires: int | None = None,
                 params: tuple[tuple[str, str | None], ...] = ()) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "event", event)
        object.__setattr__(self, "uri", uri)
        object.__setattr__(self, "expires", expires)
        object.__setattr__(self, "params", params)

    @property
    def active(self) -> bool:
        return self.state == "active"


@dataclass(frozen=True, slots=True, init=False)
class RegistrationInfo:
    """One ``<registration>``: an address-of-record (a public identity) and its contacts."""

    aor: str
    id: str
    state: str
    contacts: tuple[ContactInfo, ...] = ()

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, aor: str, id: str, state: str,
                 contacts: tuple[ContactInfo, ...] = ()) -> None:
        object.__setattr__(self, "aor", aor)
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "contacts", contacts)

    @property
    def active_contacts(self) -> tuple[ContactInfo, ...]:
        return tuple(c for c in self.contacts if c.active)


@dataclass(frozen=True, slots=True)
class Reginfo:
    """The document: ``version`` counts NOTIFYs of one subscription from 0 (§5.2),
    ``state`` is ``full`` or ``partial``."""

    version: int
    state: str
    registrations: tuple[RegistrationInfo, ...] = ()

    def registration(self, aor: str) -> RegistrationInfo | None:
        return next((r for r in self.registrations if r.aor == aor), None)


# -- writing ------------------------------------------------------------------------------
# Written as text: the S-CSCF sends one per registration change and subscriber, and an
# element tree serialised costs several times the few lines below (same bytes out).
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                               "\r": "&#13;", "\n": "&#10;", "\t": "&#09;"})
_ATTR_SPECIAL = re.compile(r'[&<>"\r\n\t]')


def _a(value: str) -> str:
    """An attribute value, escaped (XML 1.0 §2.3, §3.3.3: line ends as references).
    Ids, states and events are letters and digits: no search for those."""
    if value.isalnum() or _ATTR_SPECIAL.search(value) is None:
        return value
    return value.translate(_ATTR_ESCAPES)


def _element(tag: str, attrs: str, text: str | None) -> str:
    if not text:
        return f"<{tag}{attrs} />"
    if "&" in text or "<" in text or ">" in text:
        text = text.translate(_TEXT_ESCAPES)
    return f"<{tag}{attrs}>{text}</{tag}>"


def encode(info: Reginfo) -> bytes:
    return document(info.version, info.state, encode_registrations(info.registrations))


def document(version: int, state: str, elements: str) -> bytes:
    """The document `encode` writes for `version` and `state` around `elements`, the
    registrations as `encode_registrations` wrote them: a notifier sending the same
    state to several subscribers writes those once (only the version differs, §5.2)."""
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<reginfo xmlns="{NAMESPACE}" version="{version}" state="{_a(state)}"')
    if not elements:
        return f"{head} />".encode()
    return f"{head}>{elements}</reginfo>".encode()


def encode_registrations(registrations: tuple[RegistrationInfo, ...]) -> str:
    """The ``<registration>`` elements of a document, as `encode` writes them."""
    return "".join(registration_element(r.aor, r.id, r.state, "".join(
        contact_element(c.id, contact_body(c.state, c.event, c.uri, c.expires, c.params))
        for c in r.contacts)) for r in registrations)


def registration_element(aor: str, rid: str, state: str, contacts: str) -> str:
    """One ``<registration>`` around its `contact_element`s (none: an empty element)."""
    head = f'<registration aor="{_a(aor)}" id="{_a(rid)}" state="{_a(state)}"'
    return f"{head}>{contacts}</registration>" if contacts else f"{head} />"


def contact_element(cid: str, body: str) -> str:
    """One ``<contact>``: its id, then its `contact_body`."""
    return f'<contact id="{_a(cid)}"{body}'


def contact_body(state: str, event: str, uri: str, expires: int | None,
                 params: tuple[tuple[str, str | None], ...]) -> str:
    """A ``<contact>`` element after its id: the same text for a contact shown under
    every identity of a set, which a writer may reuse (only the id differs)."""
    out = [f' state="{_a(state)}" event="{_a(event)}"',
           "" if expires is None else f' expires="{expires}"', ">", _element("uri", "", uri)]
    for name, value in params:
        out.append(_element("unknown-param", f' name="{_a(name)}"', value))
    out.append("</contact>")
    return "".join(out)


# -- reading ------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _named(el: ET.Element, local: str) -> bool:
    """`_local(el.tag) == local`, without splitting (asked of every element)."""
    tag = el.tag
    return tag == local or tag.endswith("}" + local)


def _attr(el: ET.Element, name: str, allowed: frozenset[str] | None = None) -> str:
    value = el.get(name)
    if value is None:
        raise ReginfoError(f"<{_local(el.tag)}> has no {name}")
    if allowed is not None and value not in allowed:
        raise ReginfoError(f"<{_local(el.tag)}> {name}={value!r} is not one of "
                           f"{', '.join(sorted(allowed))}")
    return value


def _count(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    try:
        if text.strip().isdigit():
            return int(text)
    except ValueError:  # digits int() refuses: other scripts', or too many of them
        pass
    raise ReginfoError(f"{what} {text!r} is not a non-negative integer")


def _contact(el: ET.Element) -> ContactInfo:
    uri: str | None = None
    params: list[tuple[str, str | None]] = []
    for child in el:
        if uri is None and _named(child, "uri"):
            uri = child.text or ""
        elif _named(child, "unknown-param"):
            params.append((_attr(child, "name"), child.text))
    if not uri or not uri.strip():
        raise ReginfoError("<contact> has no <uri>")
    return ContactInfo(_attr(el, "id"), _attr(el, "state", CONTACT_STATES),
                       _attr(el, "event", CONTACT_EVENTS), uri.strip(),
                       _count(el.get("expires"), "expires"), tuple(params))


def _registration(el: ET.Element) -> RegistrationInfo:
    contacts = tuple(_contact(c) for c in el if _named(c, "contact"))
    return RegistrationInfo(_attr(el, "aor"), _attr(el, "id"),
                            _attr(el, "state", REGISTRATION_STATES), contacts)


def parse(body: bytes | str) -> Reginfo:
    """The document in *body*; ReginfoError for anything else. Elements of other
    namespaces (extensions such as GRUU, RFC 5628) are ignored, as RFC 3680 §5.4 lets
    a reader do. A document in the form `encode` writes is read without a parser
    (`_read_encoded`, the same answer); any other goes through the XML parser."""
    return _parse(body, _read_encoded)


def _read_tree(text: str) -> Reginfo:
    """`parse` by the XML parser alone: the reference `_read_encoded` is held to."""
    return _parse(text, None)


def _parse(body: bytes | str, fast: Callable[[str], Reginfo | None] | None) -> Reginfo:
    try:
        return xmlsafe.read(body, MAX_BODY, fast, _from_root)
    except xmlsafe.UnsafeXmlError as exc:
        raise ReginfoError(f"reginfo body refused: {exc}") from None


def _from_root(root: ET.Element) -> Reginfo:
    if _local(root.tag) != "reginfo":
        raise ReginfoError(f"root element is <{_local(root.tag)}>, not <reginfo>")
    version = _count(_attr(root, "version"), "version")
    assert version is not None
    return Reginfo(
        version=version, state=_attr(root, "state", frozenset({"full", "partial"})),
        registrations=tuple(_registration(r) for r in root if _named(r, "registration")),
    )


# -- the form `encode` writes, read without an XML parser --------------------------------
# Every NOTIFY a P-CSCF or UE reads comes from an S-CSCF, ours writing exactly this form;
# an XML parser costs several times these few patterns. They admit a strict subset of
# well-formed XML: printable ASCII only, no '&' but the three references `encode` writes in
# text (&lt; &gt; &amp;: a +sip.instance "<urn:...>" has them, TS 24.229 §5.4.2.1.2), no
# '>' in values or text (so no "]]>"), only spaces as whitespace inside tags (nothing for
# attribute normalisation to change), fixed elements and attributes in a fixed order,
# states from their sets. What they admit reads as the parser path reads it; anything else
# (another writer's spacing, prefixes, escapes, comments, any error) takes the parser path.
# Possessive runs (Python 3.11): a run of plain characters is never split again when a
# match fails, so text is scanned once, in C, whatever follows it.
_V = r"[ !#-%'-;=?-~]*+"  # an attribute value: printable ASCII but " & < >
_T = r"(?:[ -%'-;=?-~]++|&(?:lt|gt|amp);)+"  # element text: printable ASCII, & < > escaped
_HEAD_RE = re.compile(
    rf'<\?xml version="1\.0" encoding="UTF-8"\?>\n<reginfo xmlns="{re.escape(NAMESPACE)}" '
    r'version="([0-9]+)" state="(full|partial)"( />|>)')
_REGISTRATION_RE = re.compile(
    rf'<registration aor="({_V})" id="({_V})" state="(init|active|terminated)"( />|>)')
_PARAM = '<unknown-param name="{0}"(?: />|>{1}</unknown-param>)'  # values: plain or captured
_CONTACT_RE = re.compile(
    rf'<contact id="({_V})" state="(active|terminated)" event="([a-z]+)"'
    rf'(?: expires="([0-9]+)")?><uri>({_T})</uri>((?:{_PARAM.format(_V, _T)})*)</contact>')
_PARAM_RE = re.compile(_PARAM.format(f"({_V})", f"({_T})"))


def _text(value: str) -> str:
    """Element text as the parser gives it: the references `_T` admits, replaced
    (&amp; last, so "&amp;lt;" stays "&lt;")."""
    if "&" not in value:
        return value
    return value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _read_encoded(text: str) -> Reginfo | None:
    """The document, when *text* is in the form `encode` writes; None otherwise."""
    head = _HEAD_RE.match(text)
    if head is None:
        return None
    pos = head.end()
    registrations: list[RegistrationInfo] = []
    if head.group(3) == ">":
        while (reg := _REGISTRATION_RE.match(text, pos)) is not None:
            pos = reg.end()
            contacts: list[ContactInfo] = []
            if reg.group(4) == ">":
                while (c := _CONTACT_RE.match(text, pos)) is not None:
                    cid, state, event, expires, uri, params = c.groups()
                    uri = _text(uri)
                    if event not in CONTACT_EVENTS or not uri.strip() or (
                            expires is not None and len(expires) > 18):
                        return None  # the parser path says what is wrong, in its order
                    contacts.append(ContactInfo(
                        cid, state, event, uri.strip(), None if expires is None else int(expires),
                        tuple((n, _text(v) or None) for n, v in _PARAM_RE.findall(params))
                        if params else ()))
                    pos = c.end()
                if not text.startswith("</registration>", pos):
                    return None
                pos += len("</registration>")
            registrations.append(RegistrationInfo(reg.group(1), reg.group(2), reg.group(3),
                                                  tuple(contacts)))
        if not text.startswith("</reginfo>", pos):
            return None
        pos += len("</reginfo>")
    if pos != len(text):
        return None
    version = _count(head.group(1), "version")
    assert version is not None
    return Reginfo(version, head.group(2), tuple(registrations))
