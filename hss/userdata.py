"""User-Data for SAA: the IMSSubscription document (TS 29.228 Annex B, CxDataType.xsd).

Element order follows the schema's sequences; ``hss/CxDataType.xsd`` is a reduced copy of
the schema written from Annex B, used by the tests to validate what we emit.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from hss.model import Ifc, PublicIdentity, Spt, Subscriber


def _sub(parent: ET.Element, tag: str, text: object | None = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def _bool(v: bool) -> str:
    return "1" if v else "0"


def _public_identity(parent: ET.Element, p: PublicIdentity) -> None:
    # tPublicIdentity: BarringIndication?, Identity, Extension{IdentityType} (B.2.1)
    el = _sub(parent, "PublicIdentity")
    _sub(el, "BarringIndication", _bool(p.barred))
    _sub(el, "Identity", p.impu)
    ext = _sub(el, "Extension")
    _sub(ext, "IdentityType", int(p.identity_type))


def _spt(parent: ET.Element, s: Spt) -> None:
    # tSePoTri: ConditionNegated?, Group+, (RequestURI | Method | SIPHeader | SessionCase)
    el = _sub(parent, "SPT")
    _sub(el, "ConditionNegated", _bool(s.negated))
    _sub(el, "Group", s.group)
    if s.method is not None:
        _sub(el, "Method", s.method)
    elif s.request_uri is not None:
        _sub(el, "RequestURI", s.request_uri)
    elif s.header is not None:
        hdr = _sub(el, "SIPHeader")
        _sub(hdr, "Header", s.header)
        if s.header_content is not None:
            _sub(hdr, "Content", s.header_content)
    else:
        _sub(el, "SessionCase", s.session_case)


def _ifc(parent: ET.Element, ifc: Ifc) -> None:
    # tInitialFilterCriteria: Priority, TriggerPoint?, ApplicationServer (B.2.2)
    el = _sub(parent, "InitialFilterCriteria")
    _sub(el, "Priority", ifc.priority)
    if ifc.spts:
        tp = _sub(el, "TriggerPoint")
        _sub(tp, "ConditionTypeCNF", _bool(ifc.condition_type_cnf))
        for s in ifc.spts:
            _spt(tp, s)
    a = _sub(el, "ApplicationServer")
    _sub(a, "ServerName", ifc.server_name)
    _sub(a, "DefaultHandling", ifc.default_handling)


def build(sub: Subscriber, impus: Iterable[PublicIdentity] | None = None) -> bytes:
    """IMSSubscription for *sub*: one ServiceProfile with the implicit set and its iFCs."""
    root = ET.Element("IMSSubscription")
    _sub(root, "PrivateID", sub.impi)
    sp = _sub(root, "ServiceProfile")
    for p in impus if impus is not None else sub.impus:
        _public_identity(sp, p)
    for ifc in sorted(sub.ifcs, key=lambda i: i.priority):
        _ifc(sp, ifc)
    body = ET.tostring(root, encoding="unicode")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode("utf-8")
