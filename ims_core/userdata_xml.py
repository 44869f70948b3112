"""The IMSSubscription XML document (TS 29.228 Annex B) for :mod:`ims_core.userdata`'s
model: :func:`build` writes the elements in the order of the Annex B schema sequences;
:func:`parse` refuses documents with a DOCTYPE (and so any entity declaration, internal
or external) before the XML parser sees them, and caps the size, so neither entity
expansion nor an external fetch can happen. Use them as ``userdata.build`` /
``userdata.parse``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
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
    """The IMSSubscription document for *profile* (UTF-8, with an XML declaration)."""
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
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    try:
        root = xmlsafe.parse(raw, MAX_USER_DATA)
    except xmlsafe.UnsafeXmlError as exc:
        raise UserDataError(f"User-Data refused: {exc}") from None
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
