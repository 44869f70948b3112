"""REGISTER processing that needs no Cx: the Contact/Expires rules of RFC 3261 §10.3,
bindings (RFC 3327 Path), and the 200 OK headers (TS 24.229 §5.4.1.2.2).

Bindings are found by URI equality (§10.3 step 7 compares contacts with the §19.1.4
rules): keyed by :func:`ims_core.identity.uri_key` of the contact, each keeping the
contact as the UE last wrote it, for the 200's Contact and for routing to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ims_core.identity import text_and_key
from ims_core.sip import (
    NameAddr,
    Request,
    Response,
    SipParseError,
    delta_seconds,
)
from ims_core.sip.address import name_addr_view
from ims_core.sip.addressing import Source
from ims_core.userdata import Profile

from .config import RegistrarSettings
from .store import Binding, Registration

# Require option tags a REGISTER may carry here (RFC 3327 path; RFC 3329 sec-agree is
# the P-CSCF's business but harmless to accept).
SUPPORTED_OPTIONS = frozenset({"path", "sec-agree"})


class RegisterError(Exception):
    """A REGISTER we refuse before touching the HSS; ``headers`` go into the response."""

    def __init__(self, status: int, reason: str | None = None,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(f"{status} {reason or ''}".strip())
        self.status = status
        self.reason = reason
        self.headers = headers


def unsupported_options(request: Request) -> list[str]:
    """Require option tags we do not support (RFC 3261 §8.2.2.3 → 420)."""
    tags = [t.strip() for t in request.headers.values("require") if t.strip()]
    return [t for t in tags if t.lower() not in SUPPORTED_OPTIONS]


def _delta(text: str | None) -> int | None:
    """An Expires value or ``expires`` parameter (RFC 3261 §20.19); 400 when malformed."""
    try:
        return delta_seconds(text)
    except SipParseError:
        raise RegisterError(400, "Bad Expires") from None


def implicit_set(impu: str, profile: Profile | None) -> tuple[tuple[str, ...], frozenset[str]]:
    """The implicit registration set of *impu* (TS 23.228 §4.3.3.3; TS 24.229 §5.4.1.2.2):
    *impu* first, then every public identity of the profile, as ``impu_key``s; and the
    barred ones among them."""
    identities, barred = [impu], set()
    if profile is not None:
        for p in profile.identities:
            key = p.key
            if key not in identities:
                identities.append(key)
            if p.barred:
                barred.add(key)
    return tuple(identities), frozenset(barred)


@dataclass(slots=True, init=False)
class ContactUpdate:
    """What a REGISTER asks for (RFC 3261 §10.2): contacts with their requested
    lifetime, ``star`` (remove all), or neither (a query of the current bindings).
    The contacts are the parse cache's own (`name_addr_view`): read them, never edit."""

    star: bool = False
    contacts: list[tuple[NameAddr, int]] = field(default_factory=list)

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, star: bool = False,
                 contacts: list[tuple[NameAddr, int]] | None = None) -> None:
        self.star = star
        self.contacts = [] if contacts is None else contacts

    @property
    def is_query(self) -> bool:
        return not self.star and not self.contacts

    @property
    def removes_all(self) -> bool:
        return self.star or (bool(self.contacts) and all(e == 0 for _, e in self.contacts))


def contact_update(request: Request, settings: RegistrarSettings) -> ContactUpdate:
    """Parse Contact and Expires (§10.2.1-§10.2.2, §10.3 steps 6-7); raises
    RegisterError for a bad Contact:* (400) or a lifetime below the minimum (423)."""
    header_expires = _delta(request.headers.get("expires"))
    values = request.headers.values("contact")
    if "*" in [v.strip() for v in values]:
        if not request.is_contact_star() or header_expires != 0:
            raise RegisterError(400, "Invalid Contact *")
        return ContactUpdate(star=True)
    out = ContactUpdate()
    for value in values:
        contact = name_addr_view(value)
        expires = _delta(contact.param("expires"))
        if expires is None:
            expires = header_expires if header_expires is not None else settings.default_expires
        if 0 < expires < settings.min_expires:
            raise RegisterError(423, "Interval Too Brief",
                                (("Min-Expires", str(settings.min_expires)),))
        out.contacts.append((contact, min(expires, settings.max_expires)))
    return out


def check_order(reg: Registration | None, update: ContactUpdate, request: Request) -> None:
    """§10.3 step 7: a same-Call-ID refresh must have a higher CSeq (else 500)."""
    if reg is None:
        return
    call_id, cseq = request.call_id, request.cseq.seq
    for contact, _ in update.contacts:
        b = reg.bindings.get(text_and_key(contact.uri)[1])
        if b is not None and b.call_id == call_id and cseq <= b.cseq:
            raise RegisterError(500, "Out of order REGISTER")


def apply(reg: Registration, update: ContactUpdate, request: Request, source: Source,
          impi: str, now: float) -> None:
    """Add, refresh or remove bindings (§10.3 step 7); Path is stored per contact."""
    if update.star:
        reg.bindings.clear()
        return
    path = tuple(request.headers.values("path"))
    call_id, cseq = request.call_id, request.cseq.seq
    for contact, expires in update.contacts:
        uri, key = text_and_key(contact.uri)
        if expires == 0:
            reg.bindings.pop(key, None)
            continue
        params = tuple(p for p in contact.params if p[0].lower() not in ("expires", "q"))
        reg.bindings[key] = Binding(
            uri=uri, expires_at=now + expires, impi=impi, call_id=call_id, cseq=cseq,
            q=contact.param("q"), params=params, path=path, received=str(source),
        )


def contact_value(b: Binding, now: float) -> str:
    # The kept parse's URI is only read (str below): no copy of it.
    value = NameAddr(name_addr_view(f"<{b.uri}>").uri, None, list(b.params))
    if b.q is not None:
        value.set_param("q", b.q)
    value.set_param("expires", str(b.remaining(now)))
    return str(value)


def add_ok_headers(response: Response, request: Request, reg: Registration | None,
                   impu: str, service_route: str, now: float) -> None:
    """The 200 OK of a REGISTER: every current Contact with its expires (§10.3 step 8),
    Path echoed with Supported: path (RFC 3327 §5.3), and on a registration
    Service-Route (RFC 3608 §6) and P-Associated-URI (RFC 3455 §4.1, the implicit set
    without barred identities, the registered one first: TS 24.229 §5.4.1.2.2)."""
    if reg is not None:
        for b in sorted(reg.bindings.values(), key=lambda b: b.expires_at):
            response.headers.add("Contact", contact_value(b, now))
    paths = request.headers.values("path")
    if paths:
        response.headers.add("Path", ", ".join(paths))
        response.headers.add("Supported", "path")
    if reg is not None and reg.bindings:
        response.headers.add("Service-Route", service_route)
        order = [impu, *(i for i in reg.identities if i != impu)]
        uris = [f"<{i}>" for i in order if i not in reg.barred]
        if uris:
            response.headers.add("P-Associated-URI", ", ".join(uris))
