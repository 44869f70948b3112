"""The IMSSubscription XML document (TS 29.228 Annex B) for :mod:`ims_core.userdata`'s
model: :func:`build` writes the elements in the order of the Annex B schema sequences;
:func:`parse` refuses documents with a DOCTYPE (and so any entity declaration, internal
or external) before the XML parser sees them, and caps the size, so neither entity
expansion nor an external fetch can happen; a document in exactly the form :func:`build`
writes is read without the parser (`_read_encoded`, the same answer). Use them as
``userdata.build`` / ``userdata.parse``."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from typing import Any

from ims_core import xmlsafe
from ims_core.userdata import (
    _DIGITS_RE,
    _INCLUDE_TAGS,
    MAX_USER_DATA,
    DefaultHandling,
    Ifc,
    Profile,
    PublicIdentity,
    ServiceProfile,
    Spt,
    UserDataError,
)

# -- IMSSubscription XML ----------------------------------------------------------------


def _sub(parent: ET.Element, tag: str, text: object | None = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _build_spt(parent: ET.Element, s: Spt) -> None:
    # tSePoTri: ConditionNegated?, Group+, (RequestURI | Method | SIPHeader | SessionCase
    # | SessionDescription)
    el = _sub(parent, "SPT")
    _sub(el, "ConditionNegated", _flag(s.negated))
    for g in s.groups:
        _sub(el, "Group", g)
    if s.request_uri is not None:
        _sub(el, "RequestURI", s.request_uri)
    elif s.method is not None:
        _sub(el, "Method", s.method)
    elif s.header is not None:
        hdr = _sub(el, "SIPHeader")  # tHeader: Header, Content?
        _sub(hdr, "Header", s.header)
        if s.header_content is not None:
            _sub(hdr, "Content", s.header_content)
    elif s.session_case is not None:
        _sub(el, "SessionCase", int(s.session_case))
    else:
        sdp = _sub(el, "SessionDescription")  # tSessionDescription: Line, Content?
        _sub(sdp, "Line", s.sdp_line)
        if s.sdp_content is not None:
            _sub(sdp, "Content", s.sdp_content)
    if s.registration_types:  # tSePoTriExtension: RegistrationType{0,2}
        ext = _sub(el, "Extension")
        for t in s.registration_types:
            _sub(ext, "RegistrationType", int(t))


def _build_ifc(parent: ET.Element, ifc: Ifc) -> None:
    # tInitialFilterCriteria: Priority, TriggerPoint?, ApplicationServer
    el = _sub(parent, "InitialFilterCriteria")
    _sub(el, "Priority", ifc.priority)
    if ifc.spts:
        tp = _sub(el, "TriggerPoint")  # tTrigger: ConditionTypeCNF, SPT+
        _sub(tp, "ConditionTypeCNF", _flag(ifc.condition_type_cnf))
        for s in ifc.spts:
            _build_spt(tp, s)
    # ServerName, DefaultHandling?, ServiceInfo?, Extension?
    app = _sub(el, "ApplicationServer")
    _sub(app, "ServerName", ifc.server_name)
    _sub(app, "DefaultHandling", int(ifc.default_handling))
    if ifc.service_info is not None:
        _sub(app, "ServiceInfo", ifc.service_info)
    if ifc.include_register_request or ifc.include_register_response:
        ext = _sub(app, "Extension")  # tApplicationServerExtension: two tEmpty flags
        for name, tag in _INCLUDE_TAGS:
            if getattr(ifc, name):
                _sub(ext, tag)


def build(profile: Profile) -> bytes:
    """The IMSSubscription document for *profile* (UTF-8, with an XML declaration).

    Written as text: byte for byte what the ElementTree build (`_build_tree`, which the
    tests hold this to) serialises, at a fraction of its cost (one per SAA at the HSS)."""
    return write(profile.private_id, [
        ([(p.identity, p.barred, int(p.identity_type)) for p in sp.identities], sp.ifcs)
        for sp in profile.service_profiles])


# A PublicIdentity as `write` takes it: identity, barred, identity type.
IdentityRow = tuple[str, bool, int]


def write(private_id: str,
          service_profiles: Iterable[tuple[Iterable[IdentityRow], Iterable[Ifc]]]) -> bytes:
    """`build` from values already checked (the HSS's stored ones), without the model's
    objects and their checks (parsing every identity's URI again)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<IMSSubscription>']
    _leaf(out, "PrivateID", private_id)
    for identities, ifcs in service_profiles:
        out.append("<ServiceProfile>")
        for identity, barred, kind in identities:
            out.append("<PublicIdentity><BarringIndication>1</BarringIndication><Identity>"
                       if barred else
                       "<PublicIdentity><BarringIndication>0</BarringIndication><Identity>")
            out.append(_escape(identity))
            out.append(f"</Identity><Extension><IdentityType>{int(kind)}"
                       "</IdentityType></Extension></PublicIdentity>")
        for ifc in ifcs:
            _write_ifc(out, ifc)
        out.append("</ServiceProfile>")
    out.append("</IMSSubscription>")
    return "".join(out).encode("utf-8")


def _escape(text: str) -> str:
    # What ElementTree escapes in text (XML 1.0 §2.4); '>' too, as it does.
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _leaf(out: list[str], tag: str, text: str | None) -> None:
    """An element with text only; ``<tag />`` when the text is empty or absent, as
    ElementTree writes it."""
    if text:
        out.append(f"<{tag}>{_escape(text)}</{tag}>")
    else:
        out.append(f"<{tag} />")


def _write_spt(out: list[str], s: Spt) -> None:
    out.append(f"<SPT><ConditionNegated>{_flag(s.negated)}</ConditionNegated>")
    for g in s.groups:
        out.append(f"<Group>{g}</Group>")
    if s.request_uri is not None:
        _leaf(out, "RequestURI", s.request_uri)
    elif s.method is not None:
        _leaf(out, "Method", s.method)
    elif s.header is not None:
        out.append("<SIPHeader>")
        _leaf(out, "Header", s.header)
        if s.header_content is not None:
            _leaf(out, "Content", s.header_content)
        out.append("</SIPHeader>")
    elif s.session_case is not None:
        out.append(f"<SessionCase>{int(s.session_case)}</SessionCase>")
    else:
        out.append("<SessionDescription>")
        _leaf(out, "Line", s.sdp_line)
        if s.sdp_content is not None:
            _leaf(out, "Content", s.sdp_content)
        out.append("</SessionDescription>")
    if s.registration_types:
        out.append("<Extension>")
        for t in s.registration_types:
            out.append(f"<RegistrationType>{int(t)}</RegistrationType>")
        out.append("</Extension>")
    out.append("</SPT>")


def _write_ifc(out: list[str], ifc: Ifc) -> None:
    out.append(f"<InitialFilterCriteria><Priority>{ifc.priority}</Priority>")
    if ifc.spts:
        out.append(f"<TriggerPoint><ConditionTypeCNF>{_flag(ifc.condition_type_cnf)}"
                   "</ConditionTypeCNF>")
        for s in ifc.spts:
            _write_spt(out, s)
        out.append("</TriggerPoint>")
    out.append("<ApplicationServer>")
    _leaf(out, "ServerName", ifc.server_name)
    out.append(f"<DefaultHandling>{int(ifc.default_handling)}</DefaultHandling>")
    if ifc.service_info is not None:
        _leaf(out, "ServiceInfo", ifc.service_info)
    if ifc.include_register_request or ifc.include_register_response:
        out.append("<Extension>")
        for name, tag in _INCLUDE_TAGS:
            if getattr(ifc, name):
                out.append(f"<{tag} />")
        out.append("</Extension>")
    out.append("</ApplicationServer></InitialFilterCriteria>")


def _build_tree(profile: Profile) -> bytes:
    """`build` by ElementTree: the reference it is held to."""
    root = ET.Element("IMSSubscription")  # tIMSSubscription: PrivateID, ServiceProfile+
    _sub(root, "PrivateID", profile.private_id)
    for sp in profile.service_profiles:
        el = _sub(root, "ServiceProfile")  # PublicIdentity+, InitialFilterCriteria*
        for p in sp.identities:
            # tPublicIdentity: BarringIndication?, Identity, Extension{IdentityType}
            pi = _sub(el, "PublicIdentity")
            _sub(pi, "BarringIndication", _flag(p.barred))
            _sub(pi, "Identity", p.identity)
            _sub(_sub(pi, "Extension"), "IdentityType", int(p.identity_type))
        for ifc in sp.ifcs:
            _build_ifc(el, ifc)
    body = ET.tostring(root, encoding="unicode")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode("utf-8")


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    found = _children(el, name)
    return found[0] if found else None


def _value(el: ET.Element, name: str, *, required: bool = False) -> str | None:
    """The text of child *name* as written ("" when empty), None when absent."""
    c = _child(el, name)
    if c is None:
        if required:
            raise UserDataError(f"{_local(el.tag)} without {name}")
        return None
    return c.text or ""


def _token(el: ET.Element, name: str, *, required: bool = False) -> str | None:
    """A collapsed value (xs:anyURI, numbers, booleans): surrounding space dropped."""
    raw = _value(el, name, required=required)
    return raw.strip() if raw is not None else None


def _int(el: ET.Element, name: str, default: int | None = None) -> int:
    raw = _token(el, name, required=default is None)
    if raw is None:
        assert default is not None
        return default
    if not _DIGITS_RE.fullmatch(raw):
        raise UserDataError(f"{name} is not a number: {raw!r}")
    return int(raw)


def _bool(el: ET.Element, name: str, default: bool) -> bool:
    raw = _token(el, name)
    if raw is None:
        return default
    if raw in ("1", "true"):
        return True
    if raw in ("0", "false"):
        return False
    raise UserDataError(f"{name} is not a boolean: {raw!r}")


def _numbers(el: ET.Element, name: str) -> tuple[int, ...]:
    """Every child *name* of *el*, each a number."""
    out = []
    for c in _children(el, name):
        text = (c.text or "").strip()
        if not _DIGITS_RE.fullmatch(text):
            raise UserDataError(f"{name} is not a number: {text!r}")
        out.append(int(text))
    return tuple(out)


def _parse_spt(el: ET.Element) -> Spt:
    common: dict[str, Any] = {"groups": _numbers(el, "Group"),
                              "negated": _bool(el, "ConditionNegated", False)}
    for c in el:
        kind = _local(c.tag)
        if kind == "Method":
            # RegistrationType (the SPT's Extension) narrows Method only: elsewhere moot.
            ext = _child(el, "Extension")
            types = _numbers(ext, "RegistrationType") if ext is not None else ()
            return Spt(method=c.text or "", registration_types=types, **common)
        if kind == "RequestURI":
            return Spt(request_uri=c.text or "", **common)
        if kind == "SessionCase":
            return Spt(session_case=_int(el, "SessionCase"), **common)
        if kind == "SIPHeader":
            return Spt(header=_value(c, "Header", required=True),
                       header_content=_value(c, "Content"), **common)
        if kind == "SessionDescription":
            return Spt(sdp_line=_value(c, "Line", required=True),
                       sdp_content=_value(c, "Content"), **common)
    raise UserDataError("SPT without a condition")


def _includes(app: ET.Element) -> dict[str, bool]:
    """IncludeRegisterRequest / IncludeRegisterResponse: where the schema puts them
    (tApplicationServerExtension) or, as some HSSes write them, straight under
    ApplicationServer. Present means yes (tEmpty)."""
    ext = _child(app, "Extension")
    places = (app,) if ext is None else (app, ext)
    return {name: any(_child(p, tag) is not None for p in places)
            for name, tag in _INCLUDE_TAGS}


def _parse_ifc(el: ET.Element) -> Ifc:
    app = _child(el, "ApplicationServer")
    if app is None:
        raise UserDataError("InitialFilterCriteria without ApplicationServer")
    tp = _child(el, "TriggerPoint")
    cnf, spts = True, tuple[Spt, ...]()
    if tp is not None:
        if _token(tp, "ConditionTypeCNF") is None:
            raise UserDataError("TriggerPoint without ConditionTypeCNF")
        cnf = _bool(tp, "ConditionTypeCNF", True)
        spts = tuple(_parse_spt(s) for s in _children(tp, "SPT"))
        if not spts:
            raise UserDataError("TriggerPoint without SPT")
    return Ifc(
        priority=_int(el, "Priority"),
        server_name=_token(app, "ServerName", required=True) or "",
        default_handling=_int(app, "DefaultHandling", DefaultHandling.SESSION_CONTINUED),
        condition_type_cnf=cnf,
        spts=spts,
        service_info=_value(app, "ServiceInfo"),
        **_includes(app),
    )


def _parse_identity(el: ET.Element) -> PublicIdentity:
    ext = _child(el, "Extension")
    kind = _int(ext, "IdentityType", 0) if ext is not None else 0
    return PublicIdentity(_token(el, "Identity", required=True) or "",
                          _bool(el, "BarringIndication", False), kind)


def parse(data: bytes | str) -> Profile:
    """Parse an IMSSubscription (namespaces ignored, unknown elements skipped); raises
    :class:`UserDataError` for anything that is not a valid one."""
    return _parse(data, _read_encoded)


def _read_tree(text: str) -> Profile:
    """`parse` by the XML parser alone: the reference `_read_encoded` is held to."""
    return _parse(text, None)


def _parse(data: bytes | str, fast: Callable[[str], Profile | None] | None) -> Profile:
    try:
        return xmlsafe.read(data, MAX_USER_DATA, fast, _from_root)
    except xmlsafe.UnsafeXmlError as exc:
        raise UserDataError(f"User-Data refused: {exc}") from None


def _from_root(root: ET.Element) -> Profile:
    if _local(root.tag) != "IMSSubscription":
        raise UserDataError("User-Data is not an IMSSubscription")
    try:
        profiles = tuple(
            ServiceProfile(tuple(_parse_identity(p) for p in _children(sp, "PublicIdentity")),
                           tuple(_parse_ifc(i) for i in _children(sp, "InitialFilterCriteria")))
            for sp in _children(root, "ServiceProfile"))
        return Profile(_token(root, "PrivateID", required=True) or "", profiles)
    except UserDataError:
        raise
    except ValueError as exc:
        raise UserDataError(f"invalid IMSSubscription: {exc}") from None


# -- the form `build` writes, read without an XML parser ---------------------------------
# Every SAA and PPR an S-CSCF reads comes from an HSS, ours writing exactly this form; the
# parser and the tree walk cost several times these patterns. They admit a strict subset of
# well-formed XML: no attributes, no whitespace between elements, no references ('&'), no
# '<' or '>' in text (so no CDATA, comments or "]]>"), no CR or LF (nothing for line-end
# normalisation to change), text only of XML 1.0 §2.2 characters bar the C0 controls other
# than TAB and U+007F..U+009F; fixed elements in the order `build` writes them. Text is
# taken as the parser path takes it (the same values stripped). Anything else (another
# HSS's namespaces, spacing, order or extensions; any value the model refuses) takes the
# parser path, which also words every error.
_C = "[\t -%'-;=?-~\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
_TEXT = f"({_C}+)"
_NUMBER = "([0-9]{1,10})"
_CONTENT = f"(?:<Content>{_TEXT}</Content>|(<Content />))?"  # absent, text or empty
_HEAD_RE = re.compile(r'<\?xml version="1\.0" encoding="UTF-8"\?>\n<IMSSubscription>'
                      f"<PrivateID>{_TEXT}</PrivateID>")
_IDENTITY_RE = re.compile(
    f"<PublicIdentity><BarringIndication>([01])</BarringIndication><Identity>{_TEXT}"
    f"</Identity><Extension><IdentityType>{_NUMBER}</IdentityType></Extension>"
    "</PublicIdentity>")
_IFC_RE = re.compile(f"<InitialFilterCriteria><Priority>{_NUMBER}</Priority>"
                     "(?:<TriggerPoint><ConditionTypeCNF>([01])</ConditionTypeCNF>)?")
_SPT_RE = re.compile(
    "<SPT><ConditionNegated>([01])</ConditionNegated>((?:<Group>[0-9]{1,10}</Group>)+)"
    f"(?:<RequestURI>{_TEXT}</RequestURI>"
    f"|<Method>{_TEXT}</Method>"
    "(?:<Extension>((?:<RegistrationType>[0-9]</RegistrationType>)+)</Extension>)?"
    f"|<SIPHeader><Header>{_TEXT}</Header>{_CONTENT}</SIPHeader>"
    "|<SessionCase>([0-9])</SessionCase>"
    f"|<SessionDescription><Line>{_TEXT}</Line>{_CONTENT}</SessionDescription>)</SPT>")
_AS_RE = re.compile(
    f"<ApplicationServer><ServerName>{_TEXT}</ServerName>"
    f"<DefaultHandling>([01])</DefaultHandling>"
    f"(?:<ServiceInfo>{_TEXT}</ServiceInfo>|(<ServiceInfo />))?"
    "(?:<Extension>(<IncludeRegisterRequest />)?(<IncludeRegisterResponse />)?</Extension>)?"
    "</ApplicationServer></InitialFilterCriteria>")
_DIGIT_RUN_RE = re.compile("[0-9]+")


def _content(text: str | None, empty: str | None) -> str | None:
    return text if text is not None else ("" if empty is not None else None)


def _spt(m: re.Match[str]) -> Spt:
    (negated, groups, request_uri, method, types, header, header_text, header_empty,
     session_case, line, line_text, line_empty) = m.groups()
    common: dict[str, Any] = {
        "groups": tuple(int(g) for g in _DIGIT_RUN_RE.findall(groups)), "negated": negated == "1"}
    if request_uri is not None:
        return Spt(request_uri=request_uri, **common)
    if method is not None:
        return Spt(method=method, registration_types=tuple(
            int(t) for t in _DIGIT_RUN_RE.findall(types or "")), **common)
    if header is not None:
        return Spt(header=header, header_content=_content(header_text, header_empty), **common)
    if session_case is not None:
        return Spt(session_case=int(session_case), **common)
    return Spt(sdp_line=line, sdp_content=_content(line_text, line_empty), **common)


def _read_ifc(text: str, pos: int) -> tuple[Ifc, int] | None:
    """The InitialFilterCriteria at *pos* and where it ends; None when not in our form."""
    head = _IFC_RE.match(text, pos)
    if head is None:
        return None
    pos, cnf, spts = head.end(), head.group(2), list[Spt]()
    if cnf is not None:
        while (m := _SPT_RE.match(text, pos)) is not None:
            spts.append(_spt(m))
            pos = m.end()
        if not spts or not text.startswith("</TriggerPoint>", pos):
            return None
        pos += len("</TriggerPoint>")
    app = _AS_RE.match(text, pos)
    if app is None:
        return None
    server, handling, info, info_empty, request, response = app.groups()
    return Ifc(int(head.group(1)), server.strip(), int(handling), cnf != "0", tuple(spts),
               _content(info, info_empty), request is not None, response is not None), app.end()


def _read_encoded(text: str) -> Profile | None:
    """The subscription, when *text* is in the form `build` writes; None otherwise."""
    head = _HEAD_RE.match(text)
    if head is None:
        return None
    pos, profiles = head.end(), list[ServiceProfile]()
    try:
        while text.startswith("<ServiceProfile>", pos):
            pos += len("<ServiceProfile>")
            identities: list[PublicIdentity] = []
            while (m := _IDENTITY_RE.match(text, pos)) is not None:
                identities.append(PublicIdentity(m.group(2).strip(), m.group(1) == "1",
                                                 int(m.group(3))))
                pos = m.end()
            ifcs: list[Ifc] = []
            while (found := _read_ifc(text, pos)) is not None:
                ifcs.append(found[0])
                pos = found[1]
            if not text.startswith("</ServiceProfile>", pos):
                return None
            pos += len("</ServiceProfile>")
            profiles.append(ServiceProfile(tuple(identities), tuple(ifcs)))
        if text[pos:] != "</IMSSubscription>":
            return None
        return Profile(head.group(1).strip(), tuple(profiles))
    except ValueError:  # a value the model refuses: the parser path words the error
        return None
