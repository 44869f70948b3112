"""REGISTER at the P-CSCF (TS 24.229 §5.2.2), without I/O: checking the request from
the UE and turning the registrar's 200 (OK) into the record the P-CSCF keeps.

The 200 lists every binding of the registered public identity (RFC 3261 §10.3 step 8),
including other UEs'; the ones that belong to *this* UE are the contacts it sent (and
those it registered before on the same flow). Each keeps the expiry the registrar gave
it; a binding missing from the 200, or with expires=0, is gone (de-registration).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from ims_core.identity import contact_views, same_identity, text_and_key, to_uri
from ims_core.sip import Request, Response, SipParseError, SipUri
from ims_core.sip.address import name_addr_view

from .registrations import Binding, FlowKey, Registration

_T = TypeVar("_T")  # what `home_network_of` finds for a domain (its I-CSCFs); memo values


class RegisterRejected(Exception):
    """The REGISTER cannot be served; `status`/`reason` go back to the UE."""

    def __init__(self, status: int, reason: str | None = None) -> None:
        super().__init__(reason or str(status))
        self.status = status
        self.reason = reason


def home_network_of(request: Request, i_cscfs: Mapping[str, _T]) -> _T:
    """Check a REGISTER from a UE (TS 24.229 §5.2.2.1, RFC 3261 §10.2) and return the
    I-CSCF of its home network: the Request-URI names the home domain (a SIP URI without
    user part), To/From are present and parse, Contact is present."""
    uri = request.uri
    if not isinstance(uri, SipUri):
        raise RegisterRejected(416)
    if uri.user is not None:
        raise RegisterRejected(400, "Bad Request-URI")
    dest = i_cscfs.get(uri.host.lower())
    if dest is None:
        raise RegisterRejected(403, "Home Network Not Served")
    headers = request.headers
    to, from_ = headers.get("to"), headers.get("from")
    for name, value in (("to", to), ("from", from_), ("contact", headers.get("contact"))):
        if value is None:
            raise RegisterRejected(400, f"Missing {name.title()} Header")
    try:  # parsed here, kept for later reads (views: nothing is copied only to check it)
        name_addr_view(to or "")
        name_addr_view(from_ or "")
        contact_views(request)
    except SipParseError as exc:
        raise RegisterRejected(400, exc.reason) from None
    return dest


# What the Contact fields of a REGISTER and its 2xx, and the 2xx's P-Associated-URI, say,
# by the fields' text: every refresh of a user brings the same ones back (RFC 3261 §10.3
# step 8; TS 24.229 §5.4.1.2.2), read here without parsing them again. Bounded, emptied
# when full; fields that do not parse raise each time and are never kept.
_READ_MAX = 16384
_Listed = tuple[tuple[str, str, str | None], ...]  # (contact text, uri_key, expires param)
_LISTED: dict[tuple[str, ...], _Listed] = {}
_ASSOCIATED: dict[tuple[str, ...], tuple[str, ...]] = {}


def _kept(memo: dict[tuple[str, ...], _T], fields: tuple[str, ...], value: _T) -> _T:
    if len(memo) >= _READ_MAX:
        memo.clear()
    memo[fields] = value
    return value


def listed_contacts(message: Request | Response) -> _Listed:
    """Each Contact of `message` (none for ``Contact: *``): its URI as text, the URI's
    `uri_key` and its expires parameter. Raises SipParseError for a malformed one."""
    fields = tuple(message.headers.get_all("contact"))
    hit = _LISTED.get(fields)
    if hit is None:
        hit = _kept(_LISTED, fields, tuple((*text_and_key(c.uri), c.param("expires"))
                                           for c in contact_views(message)))
    return hit


def associated_uris(response: Response) -> tuple[str, ...]:
    """The P-Associated-URI values of `response`, as URI texts in order. Raises
    SipParseError for a malformed one."""
    fields = tuple(response.headers.get_all("p-associated-uri"))
    hit = _ASSOCIATED.get(fields)
    if hit is None:
        hit = _kept(_ASSOCIATED, fields, tuple(
            str(name_addr_view(v).uri) for v in response.headers.values("p-associated-uri")))
    return hit


def _expires_of(param: str | None, response: Response, default: int) -> int:
    value = param if param is not None else response.headers.get("expires")
    try:
        return max(0, int(value.strip())) if value is not None else default
    except ValueError:
        return default


def registered_bindings(
    register: Request, response: Response, previous: Iterable[Binding], now: float,
    default_expires: int,
) -> tuple[Binding, ...]:
    """The UE's bindings after this 200: its own contacts (and earlier ones on the flow)
    that the 200 still lists with a non-zero expiry. Contacts compare as URIs (RFC 3261
    §10.3 step 7 / §19.1.4)."""
    listed: dict[str, tuple[str, int]] = {}
    for text, key, expires in listed_contacts(response):
        listed[key] = (text, _expires_of(expires, response, default_expires))
    mine: dict[str, str] = {}
    for b in previous:
        mine[b.key] = b.uri
    for text, key, _ in listed_contacts(register):
        mine[key] = text
    out: list[Binding] = []
    for key, uri in mine.items():
        hit = listed.get(key)
        if hit is not None and hit[1] > 0:
            out.append(Binding(uri, now + hit[1], key))
    return tuple(out)


def build_registration(
    register: Request, response: Response, flow: FlowKey, conn: object | None, path: str,
    previous: Registration | None, now: float, default_expires: int, protected: bool = False,
) -> Registration | None:
    """The UE's record after a 2xx to its REGISTER, or None when it holds no binding
    any more (TS 24.229 §5.2.2.1 for the stored data, §5.2.2.5 P-Associated-URI).
    `protected`: the REGISTER came over IPsec SAs."""
    if register.is_contact_star():
        return None
    bindings = registered_bindings(
        register, response, previous.bindings if previous else (), now, default_expires)
    if not bindings:
        return None
    registered = str(to_uri(register))
    impus = list(associated_uris(response))
    if not any(same_identity(registered, i) for i in impus):
        impus.append(registered)
    return Registration(
        flow=flow,
        bindings=bindings,
        impus=tuple(impus),
        service_route=tuple(response.headers.values("service-route")),
        path=path,
        registered_impu=registered,
        conn=conn,
        protected=protected,
    )
