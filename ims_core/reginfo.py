"""The registration information document of the reg event package (RFC 3680 §5),
``application/reginfo+xml``: one model for the S-CSCF that writes it and the P-CSCF and
UE that read it. Sans-I/O; parsing refuses DTDs (no entity expansion) and large bodies.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class ContactInfo:
    """One ``<contact>``: ``uri`` is the bare contact URI; other Contact parameters such
    as ``+sip.instance`` travel as ``<unknown-param>`` (``params``)."""

    id: str
    state: str
    event: str
    uri: str
    expires: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()

    @property
    def active(self) -> bool:
        return self.state == "active"


@dataclass(frozen=True, slots=True)
class RegistrationInfo:
    """One ``<registration>``: an address-of-record (a public identity) and its contacts."""

    aor: str
    id: str
    state: str
    contacts: tuple[ContactInfo, ...] = ()

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
def encode(info: Reginfo) -> bytes:
    root = ET.Element("reginfo", {"xmlns": NAMESPACE, "version": str(info.version),
                                  "state": info.state})
    for reg in info.registrations:
        r = ET.SubElement(root, "registration", {"aor": reg.aor, "id": reg.id,
                                                 "state": reg.state})
        for c in reg.contacts:
            attrs = {"id": c.id, "state": c.state, "event": c.event}
            if c.expires is not None:
                attrs["expires"] = str(c.expires)
            el = ET.SubElement(r, "contact", attrs)
            ET.SubElement(el, "uri").text = c.uri
            for name, value in c.params:
                p = ET.SubElement(el, "unknown-param", {"name": name})
                if value is not None:
                    p.text = value
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + text


# -- reading ------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


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
    if not text.strip().isdigit():
        raise ReginfoError(f"{what} {text!r} is not a non-negative integer")
    return int(text)


def _contact(el: ET.Element) -> ContactInfo:
    uri = next((c.text for c in el if _local(c.tag) == "uri"), None)
    if not uri or not uri.strip():
        raise ReginfoError("<contact> has no <uri>")
    params = tuple((_attr(p, "name"), p.text) for p in el if _local(p.tag) == "unknown-param")
    return ContactInfo(
        id=_attr(el, "id"), state=_attr(el, "state", CONTACT_STATES),
        event=_attr(el, "event", CONTACT_EVENTS), uri=uri.strip(),
        expires=_count(el.get("expires"), "expires"), params=params,
    )


def _registration(el: ET.Element) -> RegistrationInfo:
    contacts = tuple(_contact(c) for c in el if _local(c.tag) == "contact")
    return RegistrationInfo(aor=_attr(el, "aor"), id=_attr(el, "id"),
                            state=_attr(el, "state", REGISTRATION_STATES), contacts=contacts)


def parse(body: bytes | str) -> Reginfo:
    """The document in *body*; ReginfoError for anything else. Elements of other
    namespaces (extensions such as GRUU, RFC 5628) are ignored, as RFC 3680 §5.4 lets
    a reader do."""
    data = body.encode() if isinstance(body, str) else body
    if len(data) > MAX_BODY:
        raise ReginfoError("reginfo body too large")
    if b"<!" in data:  # DOCTYPE/ENTITY: nothing legitimate needs them; refuse expansion
        raise ReginfoError("DTDs and entities are not accepted")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ReginfoError(f"not well-formed XML: {exc}") from None
    if _local(root.tag) != "reginfo":
        raise ReginfoError(f"root element is <{_local(root.tag)}>, not <reginfo>")
    version = _count(_attr(root, "version"), "version")
    assert version is not None
    return Reginfo(
        version=version, state=_attr(root, "state", frozenset({"full", "partial"})),
        registrations=tuple(_registration(r) for r in root if _local(r.tag) == "registration"),
    )
