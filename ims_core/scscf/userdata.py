"""User-Data from the SAA: the IMSSubscription document (TS 29.228 Annex B, §6.1.2).

Only the parts the S-CSCF uses are read: every ServiceProfile's PublicIdentity list
(identity, BarringIndication) — together the implicit registration set — and its
InitialFilterCriteria, kept as plain dataclasses for session handling.

Parsing is defensive: documents with a DOCTYPE (and so any entity declaration, internal
or external) are refused before the parser sees them, and the size is capped, so neither
entity expansion nor external fetches can happen with the stdlib parser.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

MAX_USER_DATA = 256 * 1024


class UserDataError(ValueError):
    """User-Data that is not a usable IMSSubscription."""


@dataclass(frozen=True, slots=True)
class Spt:
    """A Service Point Trigger: one condition (kind, value) with its groups."""

    kind: str  # Method, RequestURI, SIPHeader, SessionCase, SessionDescription
    value: str
    groups: tuple[int, ...] = (0,)
    negated: bool = False
    content: str | None = None  # SIPHeader Content / SessionDescription Content


@dataclass(frozen=True, slots=True)
class Ifc:
    """An Initial Filter Criteria (Annex B.2.2): evaluated by priority."""

    priority: int
    server_name: str
    default_handling: int = 0  # 0 SESSION_CONTINUED, 1 SESSION_TERMINATED
    condition_type_cnf: bool = True
    spts: tuple[Spt, ...] = ()
    service_info: str | None = None


@dataclass(frozen=True, slots=True)
class PublicIdentity:
    identity: str
    barred: bool = False


@dataclass(frozen=True, slots=True)
class ServiceProfile:
    identities: tuple[PublicIdentity, ...]
    ifcs: tuple[Ifc, ...] = ()


@dataclass(frozen=True, slots=True)
class Profile:
    """The subscription as the S-CSCF keeps it."""

    private_id: str
    service_profiles: tuple[ServiceProfile, ...]

    @property
    def identities(self) -> tuple[PublicIdentity, ...]:
        return tuple(p for sp in self.service_profiles for p in sp.identities)

    def ifcs_for(self, identity: str) -> tuple[Ifc, ...]:
        """The iFCs of the service profile holding *identity*, by priority."""
        for sp in self.service_profiles:
            if any(p.identity == identity for p in sp.identities):
                return tuple(sorted(sp.ifcs, key=lambda i: i.priority))
        return ()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _text(el: ET.Element, name: str, default: str = "") -> str:
    for c in el:
        if _local(c.tag) == name:
            return (c.text or "").strip()
    return default


def _int(text: str, default: int = 0) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _spt(el: ET.Element) -> Spt:
    groups = tuple(_int((g.text or "").strip()) for g in _children(el, "Group")) or (0,)
    negated = _text(el, "ConditionNegated", "0") in ("1", "true")
    for c in el:
        kind = _local(c.tag)
        if kind in ("Method", "RequestURI", "SessionCase"):
            return Spt(kind, (c.text or "").strip(), groups, negated)
        if kind in ("SIPHeader", "SessionDescription"):
            key = "Header" if kind == "SIPHeader" else "Line"
            content = _text(c, "Content") or None
            return Spt(kind, _text(c, key), groups, negated, content)
    raise UserDataError("SPT without a condition")


def _ifc(el: ET.Element) -> Ifc:
    as_ = _children(el, "ApplicationServer")
    if not as_:
        raise UserDataError("InitialFilterCriteria without ApplicationServer")
    tps = _children(el, "TriggerPoint")
    cnf, spts = True, tuple[Spt, ...]()
    if tps:
        cnf = _text(tps[0], "ConditionTypeCNF", "1") in ("1", "true")
        spts = tuple(_spt(s) for s in _children(tps[0], "SPT"))
    return Ifc(
        priority=_int(_text(el, "Priority", "0")),
        server_name=_text(as_[0], "ServerName"),
        default_handling=_int(_text(as_[0], "DefaultHandling", "0")),
        condition_type_cnf=cnf,
        spts=spts,
        service_info=_text(as_[0], "ServiceInfo") or None,
    )


def parse(data: bytes | str) -> Profile:
    """Parse an IMSSubscription; raises :class:`UserDataError`."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_USER_DATA:
        raise UserDataError("User-Data too large")
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise UserDataError("User-Data with a DOCTYPE or entity declaration")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise UserDataError(f"User-Data is not XML: {exc}") from None
    if _local(root.tag) != "IMSSubscription":
        raise UserDataError("User-Data is not an IMSSubscription")
    profiles = []
    for sp in _children(root, "ServiceProfile"):
        idents = tuple(
            PublicIdentity(_text(p, "Identity"), _text(p, "BarringIndication", "0") == "1")
            for p in _children(sp, "PublicIdentity") if _text(p, "Identity")
        )
        ifcs = tuple(_ifc(i) for i in _children(sp, "InitialFilterCriteria"))
        profiles.append(ServiceProfile(idents, ifcs))
    if not any(sp.identities for sp in profiles):
        raise UserDataError("IMSSubscription without a PublicIdentity")
    return Profile(_text(root, "PrivateID"), tuple(profiles))
