"""When two SIP or tel URIs name the same thing, and how IMS identities are derived: the
one home of these rules for every node and the HSS. Sans-I/O, pure functions.

Two kinds of comparison:

- **URI equality** (RFC 3261 §19.1.4; RFC 3966 §4 for tel): contacts, Request-URIs,
  bindings. :func:`uri_equal` is the full rule. :func:`uri_key` is a string that is the
  same for URIs that are equal: scheme, user and password (case-sensitive, unreserved
  escapes decoded), host (case-insensitive, IPv6 literals in canonical form), port as
  written (absent is not 5060), the parameters that must match when either URI has them
  (user, ttl, method, maddr, transport) and the headers. Other parameters are left out
  of the key: §19.1.4 compares them only when both URIs carry them, which no key can
  express, so two URIs that differ only there share a key (``uri_equal`` still tells
  them apart).
- **Public identity** (TS 23.003 §13.4; TS 24.229 §5.4.1.2): what an IMPU is, whatever
  parameters, port-less variants or visual separators it is written with.
  :func:`impu_key` keeps scheme, user and host (and an explicit port) of a SIP URI, and
  the number (global, or local with its phone-context) of a tel URI; every other
  parameter and header is dropped. :func:`impu_aliases` adds the tel/SIP forms a global
  number may be stored under (TS 24.229 §5.4.3.3: ``sip:+n@domain;user=phone`` and
  ``tel:+n`` name the same user).

Derivations: the IMPI and temporary IMPU of a subscriber from its IMSI (TS 23.003
§13.3, §13.4B), the home domain name from MCC/MNC (§13.2), and the IMPI a registrar
derives from the IMPU when a REGISTER carries no Authorization (TS 24.229 §5.4.1.2.1).
"""

from __future__ import annotations

import ipaddress
import re

from ims_core.sip import (
    Message,
    NameAddr,
    SipParseError,
    SipUri,
    TelUri,
    Uri,
    parse_name_addr,
    parse_uri,
)

# RFC 3261 §19.1.4: params that must match when either URI has them.
_SIGNIFICANT_PARAMS = ("maddr", "method", "transport", "ttl", "user")
# RFC 2396 §2.2 reserved characters: their escapes are NOT equivalent to the characters.
_RESERVED = frozenset(";/?:@&=+$,")
_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
# Text that is its own impu_key: a lower-case scheme, a user part without escapes or
# parameters, a lower-case host without port; or a global number of digits alone.
_CANONICAL_IMPU_RE = re.compile(
    r"sips?:[A-Za-z0-9\-_.!~*'()&=+$,]+@[a-z0-9](?:[a-z0-9\-.]*[a-z0-9])?|tel:\+[0-9]+")
# RFC 3966 §5.1.1: visual separators carry no meaning.
_VISUAL_SEPARATORS = str.maketrans("", "", "-.()")


def _decode(text: str) -> str:
    """Decode the %HH escapes of unreserved characters (RFC 3261 §19.1.4); escapes of
    reserved characters stay (upper-cased) so they keep differing from the character."""
    if "%" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        char = chr(int(m.group(1), 16))
        return f"%{m.group(1).upper()}" if char in _RESERVED or ord(char) > 127 else char

    return _ESCAPE_RE.sub(one, text)


def _host(host: str) -> str:
    """Hosts compare case-insensitively; an IPv6 reference in its canonical form."""
    host = host.lower()
    if host.startswith("["):
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            return host
    return host


def _digits(number: str) -> str:
    return number.translate(_VISUAL_SEPARATORS).lower()


def _as_uri(uri: Uri | str) -> Uri:
    """A URI object from a URI or its text; name-addr brackets and display names are
    accepted. Raises SipParseError for text that is no URI."""
    if not isinstance(uri, str):
        return uri
    text = uri.strip()
    if "<" in text:
        return parse_name_addr(text).uri
    return parse_uri(text)


# -- what a REGISTER names, as the parse cache keeps it ------------------------------------
# Not copied (every node reads these on every REGISTER and its 2xx): to read, never to edit.


def to_uri(message: Message) -> Uri:
    """The To URI (a REGISTER's public identity, TS 24.229 §5.4.1.2). Raises
    SipParseError as `message.to_addr` does."""
    return message.to_addr_view.uri


def contact_views(message: Message) -> list[NameAddr]:
    """`message.contacts()`: the Contact values, none for ``Contact: *``. Raises
    SipParseError as it does."""
    return message.contact_views()


# -- URI equality (RFC 3261 §19.1.4, RFC 3966 §4) ----------------------------------------


def _param_map(uri: SipUri | TelUri) -> dict[str, str]:
    return {n.lower(): _decode(v or "").lower() for n, v in uri.params}


def _tel_params(uri: TelUri) -> dict[str, str]:
    params = _param_map(uri)
    ctx = params.get("phone-context")
    if ctx is not None and ctx.startswith("+"):
        params["phone-context"] = _digits(ctx)
    return params


# Keys of identity and contact texts a node meets again and again (every request of a
# registered UE, every NOTIFY): str -> str, bounded, emptied when full (a miss only costs
# the parse). Text that is no URI raises each time and is never kept.
_KEYS_MAX = 32768  # a few MB at most; some 5000 registered UEs fit (~6 texts each)
_URI_KEYS: dict[str, str] = {}
_IMPU_KEYS: dict[str, str] = {}


def _remember(keys: dict[str, str], text: str, key: str) -> str:
    if len(keys) >= _KEYS_MAX:
        keys.clear()
    keys[text] = key
    return key


def uri_key(uri: Uri | str) -> str:
    """A key equal for URIs that :func:`uri_equal` calls equal (see the module
    docstring for what it leaves out). Raises SipParseError for text that is no URI."""
    if isinstance(uri, str):
        hit = _URI_KEYS.get(uri)
        return hit if hit is not None else _remember(_URI_KEYS, uri, _uri_key(_as_uri(uri)))
    return _uri_key(uri)


def text_and_key(uri: Uri) -> tuple[str, str]:
    """`str(uri)` and its `uri_key`, kept under the text (what bindings are stored by):
    a contact seen again costs a look-up, a new one no second parse."""
    text = str(uri)
    hit = _URI_KEYS.get(text)
    return text, hit if hit is not None else _remember(_URI_KEYS, text, _uri_key(uri))


def _uri_key(uri: Uri) -> str:
    if isinstance(uri, SipUri):
        parts = [uri.scheme.lower(), ":"]
        if uri.user is not None:
            parts.append(_decode(uri.user))
            if uri.password is not None:
                parts += (":", _decode(uri.password))
            parts.append("@")
        parts.append(_host(uri.host))
        if uri.port is not None:
            parts.append(f":{uri.port}")
        params = _param_map(uri)
        for name in _SIGNIFICANT_PARAMS:
            if name in params:
                parts.append(f";{name}={params[name]}")
        if uri.headers:
            headers = sorted(f"{n.lower()}={_decode(v)}" for n, v in uri.headers)
            parts.append("?" + "&".join(headers))
        return "".join(parts)
    if isinstance(uri, TelUri):
        params = _tel_params(uri)
        tail = "".join(f";{n}={v}" for n, v in sorted(params.items()))
        return f"tel:{_digits(uri.number)}{tail}"
    return f"{uri.scheme.lower()}:{uri.rest}"


def uri_equal(a: Uri | str, b: Uri | str) -> bool:
    """RFC 3261 §19.1.4 (SIP, SIPS) and RFC 3966 §4 (tel) equality; other schemes
    compare as text with the scheme case-insensitive. Unparseable text equals nothing."""
    try:
        ua, ub = _as_uri(a), _as_uri(b)
    except SipParseError:
        return False
    if isinstance(ua, SipUri) and isinstance(ub, SipUri):
        if _uri_key(ua) != _uri_key(ub):
            return False
        pa, pb = _param_map(ua), _param_map(ub)
        return all(pa[n] == pb[n] for n in pa.keys() & pb.keys())
    if isinstance(ua, TelUri) and isinstance(ub, TelUri):
        return _uri_key(ua) == _uri_key(ub)
    if isinstance(ua, SipUri | TelUri) or isinstance(ub, SipUri | TelUri):
        return False
    return _uri_key(ua) == _uri_key(ub)


# -- public identities (TS 23.003 §13.4, TS 24.229 §5.4.1.2) ---------------------------------


def impu_key(uri: Uri | str) -> str:
    """The key of a public user identity: ``sip:user@host[:port]`` (scheme and host
    lower-cased, unreserved escapes decoded, parameters and headers dropped), a global
    ``tel:+digits`` or a local ``tel:digits;phone-context=…`` without visual separators.
    Raises SipParseError for text that is no URI."""
    if not isinstance(uri, str):
        return _impu_key(uri)
    hit = _IMPU_KEYS.get(uri)
    if hit is not None:
        return hit
    # Canonical text is already a key (how the HSS and the registrar store identities).
    key = uri if _CANONICAL_IMPU_RE.fullmatch(uri) else _impu_key(_as_uri(uri))
    return _remember(_IMPU_KEYS, uri, key)


def _impu_key(uri: Uri) -> str:
    if isinstance(uri, SipUri):
        user = f"{_decode(uri.user)}@" if uri.user is not None else ""
        port = f":{uri.port}" if uri.port is not None else ""
        return f"{uri.scheme.lower()}:{user}{_host(uri.host)}{port}"
    if isinstance(uri, TelUri):
        number = _digits(uri.number)
        if number.startswith("+"):
            return f"tel:{number}"
        ctx = _tel_params(uri).get("phone-context")
        return f"tel:{number};phone-context={ctx}" if ctx else f"tel:{number}"
    return f"{uri.scheme.lower()}:{uri.rest}"


def same_identity(a: Uri | str, b: Uri | str) -> bool:
    """True when *a* and *b* name the same public identity (:func:`impu_key`)."""
    try:
        return impu_key(a) == impu_key(b)
    except SipParseError:
        return False


def global_number(uri: Uri) -> str | None:
    """The E.164 number (``+digits``) a URI stands for: a global tel URI, or a SIP URI
    ``sip:+digits@host;user=phone`` (RFC 3261 §19.1.6); None otherwise."""
    if isinstance(uri, TelUri):
        number = _digits(uri.number)
        return number if number.startswith("+") else None
    if isinstance(uri, SipUri) and uri.user and (uri.param("user") or "").lower() == "phone":
        number = _digits(_decode(uri.user).split(";", 1)[0])
        return number if number.startswith("+") else None
    return None


def impu_aliases(uri: Uri, domain: str) -> list[str]:
    """The keys an IMPU may be stored under for *uri*: its own key, and for a global
    number its ``tel:`` and ``sip:+n@domain`` forms (TS 24.229 §5.4.3.3, TS 23.003
    §13.4)."""
    keys = [impu_key(uri)]
    number = global_number(uri)
    if number is not None:
        for key in (f"tel:{number}", f"sip:{number}@{domain.lower()}"):
            if key not in keys:
                keys.append(key)
    return keys


def plain_identity(uri: Uri) -> str:
    """An identity as Cx carries it (TS 29.229 §6.3.2 Public-Identity): the URI without
    password, parameters and headers, escapes kept as written; a tel URI without
    parameters (its phone-context stays: a local number means nothing without it)."""
    if isinstance(uri, SipUri):
        return str(SipUri(uri.host, uri.user, None, uri.port, scheme=uri.scheme))
    if isinstance(uri, TelUri):
        ctx = uri.param("phone-context")
        return f"tel:{uri.number}" + (f";phone-context={ctx}" if ctx and not uri.is_global
                                      else "")
    return str(uri)


def impi_from_impu(uri: Uri) -> str | None:
    """TS 24.229 §5.4.1.2.1: without an Authorization header the private identity is
    the public one without scheme, port, parameters and headers: ``user@host`` (host
    lower-cased). None for a URI with no user part or not a SIP URI."""
    if isinstance(uri, SipUri) and uri.user:
        return f"{_decode(uri.user)}@{uri.host.lower()}"
    return None


# -- subscriber identities from the IMSI (TS 23.003 §13) -----------------------------------


def home_domain(mcc: str, mnc: str) -> str:
    """TS 23.003 §13.2: ``ims.mnc<MNC>.mcc<MCC>.3gppnetwork.org``, a 2-digit MNC padded
    with a leading zero."""
    if not (mcc.isdigit() and len(mcc) == 3 and mnc.isdigit() and len(mnc) in (2, 3)):
        raise ValueError(f"MCC must be 3 digits and MNC 2 or 3, not {mcc!r}/{mnc!r}")
    return f"ims.mnc{mnc.zfill(3)}.mcc{mcc}.3gppnetwork.org"


def default_impi(imsi: str, domain: str) -> str:
    """TS 23.003 §13.3: the IMPI derived from the IMSI, ``<IMSI>@<domain>``."""
    return f"{imsi}@{domain.lower()}"


def default_impus(imsi: str, domain: str, msisdn: str | None = None) -> tuple[str, ...]:
    """TS 23.003 §13.4B: the temporary IMPU ``sip:<IMSI>@<domain>``; with an MSISDN
    also ``sip:+<MSISDN>@<domain>`` and ``tel:+<MSISDN>`` (one implicit set)."""
    domain = domain.lower()
    out = [f"sip:{imsi}@{domain}"]
    if msisdn:
        out += [f"sip:+{msisdn}@{domain}", f"tel:+{msisdn}"]
    return tuple(out)
