"""The header edits a P-CSCF makes, as small functions on a message.

- Path (RFC 3327 §5.1) with `Require: path` and `Supported: path`;
- P-Visited-Network-ID (RFC 3455 §4.3) and P-Charging-Vector (RFC 3455 §4.6);
- ck/ik removed from a 401's WWW-Authenticate (TS 24.229 §5.2.2.1, TS 33.203 §7.1).

Existing fields are left byte for byte: option tags are added as a field of their own
and auth parameters are cut out of the header text rather than re-serialised.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ims_core.sip import Message, Request, SipParseError, check_auth, parse_auth
from ims_core.sip.grammar import LWS, QUOTED_STRING, TOKEN

# RFC 2617 §1.2 auth-param, as it appears in a challenge after the scheme.
_AUTH_HEAD_RE = re.compile(rf"{LWS}{TOKEN}[ \t]+")
_AUTH_PARAM_RE = re.compile(rf"({TOKEN}){LWS}={LWS}(?:{QUOTED_STRING}|{TOKEN})?")
_AUTH_SEP_RE = re.compile(rf"{LWS},{LWS}")
_TOKEN_RE = re.compile(TOKEN)

# TS 33.203 §7.1: the P-CSCF takes the keys for its security associations and must not
# pass them on to the UE.
AKA_KEY_PARAMS = frozenset({"ck", "ik"})


def path_value(user: str, host: str, port: int) -> str:
    """Our Path entry (RFC 3327 §5.1): loose-routing, naming the terminating side."""
    return f"<sip:{user}@{host}:{port};lr>"


def has_option_tag(message: Message, header: str, tag: str) -> bool:
    return tag in [v.lower() for v in message.headers.values(header)]  # no generator


def add_option_tag(message: Message, header: str, tag: str) -> None:
    """Add option tag `tag` to Require/Supported unless already listed; existing fields
    are untouched (a list header may be split over several fields, RFC 3261 §7.3.1)."""
    if not has_option_tag(message, header, tag):
        message.headers.add(header, tag)


def add_path(request: Request, value: str) -> None:
    """RFC 3327 §5.1: insert Path on top and require the registrar to support it."""
    request.push_address("Path", value)
    add_option_tag(request, "Require", "path")
    add_option_tag(request, "Supported", "path")


def set_visited_network_id(request: Request, network_id: str) -> None:
    """RFC 3455 §4.3 / TS 24.229 §5.2.2.1: a UE has no business sending this header, so
    whatever it sent is replaced by our pre-provisioned value (a quoted-string)."""
    request.headers.remove("p-visited-network-id")
    request.headers.add("P-Visited-Network-ID", f'"{network_id}"')


def new_icid(rng: Callable[[int], bytes]) -> str:
    """A globally unique IMS Charging Identifier (RFC 3455 §4.6: icid-value): 128 bits
    from the core's `rng`."""
    return rng(16).hex()


def charging_vector(icid: str, generated_at: str, orig_ioi: str | None = None) -> str:
    value = f"icid-value={icid};icid-generated-at={generated_at}"
    if orig_ioi and _TOKEN_RE.fullmatch(orig_ioi):
        value += f";orig-ioi={orig_ioi}"
    return value


def icid_of(request: Request) -> str | None:
    """The icid-value of the request's P-Charging-Vector, if any."""
    pcv = request.headers.get("p-charging-vector")
    if pcv is None:
        return None
    for part in pcv.split(";"):
        name, _, value = part.partition("=")
        if name.strip(" \t").lower() == "icid-value" and value.strip(" \t"):
            return value.strip(" \t").strip('"')
    return None


def ensure_charging_vector(request: Request, generated_at: str, orig_ioi: str | None,
                           rng: Callable[[int], bytes]) -> str:
    """RFC 3455 §4.6: keep a P-Charging-Vector that already has an icid-value, else add
    one with a fresh icid drawn from `rng`. Returns the icid."""
    icid = icid_of(request)
    if icid is not None:
        return icid
    icid = new_icid(rng)
    request.headers.set("P-Charging-Vector", charging_vector(icid, generated_at, orig_ioi))
    return icid


def strip_auth_params(value: str, names: frozenset[str] = AKA_KEY_PARAMS) -> str:
    """`value` (a challenge) without the auth-params called `names`; every other
    character stays as received. Raises SipParseError for a malformed challenge."""
    check_auth(value)  # the 400 parse_auth would give
    head = _AUTH_HEAD_RE.match(value)
    if head is None:
        return value  # a bare scheme: nothing to strip
    pos = head.end()
    kept: list[tuple[str, str]] = []  # (separator before, param text)
    sep = ""
    end = len(value)
    while pos < end:
        m = _AUTH_PARAM_RE.match(value, pos)
        if m is None:
            break
        if m.group(1).lower() not in names:
            kept.append((sep, m.group(0)))
        pos = m.end()
        s = _AUTH_SEP_RE.match(value, pos)
        if s is None:
            break
        sep = s.group(0)
        pos = s.end()
    if len(kept) == 0:
        return value[: head.end()].rstrip(" \t")
    out = [value[: head.end()], kept[0][1]]
    out.extend(s + p for s, p in kept[1:])
    out.append(value[pos:])
    return "".join(out)


def strip_aka_keys(message: Message) -> bool:
    """Remove ck/ik from every WWW-Authenticate field; True if something changed."""
    values = message.headers.get_all("www-authenticate")
    stripped = [strip_auth_params(v) for v in values]
    if stripped == values:
        return False
    # Headers has no per-field replace: the first field is rewritten in place (`set`)
    # and any further ones follow it at the end, in their order.
    message.headers.set("WWW-Authenticate", stripped[0])
    for v in stripped[1:]:
        message.headers.add("WWW-Authenticate", v)
    return True


def aka_keys(message: Message) -> tuple[bytes, bytes] | None:
    """CK and IK of the first challenge that carries both (TS 33.203 §6.1: the S-CSCF
    hands them to the P-CSCF in the 401), or None. Raises SipParseError when they are
    not hexadecimal of 16 bytes each."""
    for challenge in message.auth_headers("www-authenticate"):
        ck, ik = challenge.ck, challenge.ik
        if ck is None or ik is None:
            continue
        try:
            keys = bytes.fromhex(ck.strip('"')), bytes.fromhex(ik.strip('"'))
        except ValueError:
            raise SipParseError("Bad ck/ik") from None
        if len(keys[0]) != 16 or len(keys[1]) != 16:
            raise SipParseError("Bad ck/ik")
        return keys
    return None


def mark_integrity(request: Request, value: str) -> None:
    """TS 24.229 §5.2.2.1: set `integrity-protected` in the REGISTER's Authorization
    (none: nothing to mark, e.g. a softphone's first REGISTER)."""
    values = request.headers.get_all("authorization")
    if not values:
        return
    auth = parse_auth(values[0])
    auth.set("integrity-protected", value)
    request.headers.set("Authorization", str(auth))
    for other in values[1:]:
        request.headers.add("Authorization", other)
