"""Authorization, WWW-Authenticate, Proxy-Authorization, Proxy-Authenticate
(RFC 3261 §20.7, §20.27, §20.28, §20.44; RFC 2617; AKA: RFC 3310, TS 24.229 §7.2A.1).

    challenge   = ("Digest" LWS digest-cln *(COMMA digest-cln)) / other-challenge
    credentials = ("Digest" LWS dig-resp *(COMMA dig-resp)) / other-response
    auth-param  = auth-param-name EQUAL ( token / quoted-string )

One class serves both directions: a scheme and ordered params that remember whether
each value was quoted, so an edited header (e.g. ck/ik stripped by the P-CSCF)
re-serialises with the original quoting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import starmap

from .errors import SipParseError
from .grammar import LWS, QUOTED_STRING, TOKEN, TOKEN_CHARS, quote, unquote

_SCHEME_RE = re.compile(rf"{LWS}({TOKEN})")
# One auth-param and the comma that may follow it (the next one needs it).
_PARAM_RE = re.compile(rf"{LWS}({TOKEN}){LWS}={LWS}({QUOTED_STRING}|{TOKEN})?{LWS}(,{LWS})?")
# The shape every UE and CSCF sends: "scheme SP", then params joined by "," or ", ", each
# with a token or an escape-free quoted-string value. One split (in C) cuts such a value
# into its params; anything else (other spacing, escapes, empty values, errors) goes
# through the param-by-param scan above, which gives the same answer for this shape.
_FAST_VALUE = rf'"[^"\\\r\n]*"|{TOKEN}'
_FAST_PARAM = rf"{TOKEN}[ \t]*=[ \t]*(?:{_FAST_VALUE})"
_FAST_RE = re.compile(rf"[ \t]*{TOKEN}[ \t]+{_FAST_PARAM}(?:[ \t]*,[ \t]*{_FAST_PARAM})*[ \t]*")
_FAST_SPLIT_RE = re.compile(rf'({TOKEN})[ \t]*=[ \t]*(?:"([^"\\\r\n]*)"|({TOKEN}))')
_FAST_SEPS = frozenset({",", ", "})

# Parameters sent unquoted by convention (RFC 2617 §3.2.1-2; RFC 3310; TS 24.229).
_UNQUOTED = frozenset({"algorithm", "stale", "nc", "qop"})


@dataclass(slots=True, init=False)
class AuthParam:
    name: str
    value: str  # unquoted text
    quoted: bool

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, name: str, value: str, quoted: bool) -> None:
        self.name = name
        self.value = value
        self.quoted = quoted


class AuthHeader:
    """A challenge or credentials: `scheme` plus ordered auth-params.

    Names are case-insensitive. AKA parameters (`auts`, `ck`, `ik`,
    `integrity-protected`) are ordinary params with accessors below.
    """

    # A parsed header keeps its params as plain tuples (`_items`) until `params` is
    # asked for: readers (the S-CSCF reads a dozen per Authorization) go through get(),
    # whose lower-case name -> value index (`_index`) is dropped whenever `params` is
    # handed out, as the caller may edit it.
    __slots__ = ("_index", "_items", "_params", "scheme")

    def __init__(self, scheme: str, params: list[AuthParam] | None = None) -> None:
        self.scheme = scheme
        self._params: list[AuthParam] | None = [] if params is None else params
        self._items: list[tuple[str, str, bool]] = []
        self._index: dict[str, str] | None = None

    @classmethod
    def _parsed(cls, scheme: str, items: list[tuple[str, str, bool]]) -> AuthHeader:
        header = cls(scheme)
        header._params, header._items = None, items
        return header

    @property
    def params(self) -> list[AuthParam]:
        self._index = None
        params = self._params
        if params is None:
            params = self._params = list(starmap(AuthParam, self._items))
        return params

    @params.setter
    def params(self, params: list[AuthParam]) -> None:
        self._params, self._index = params, None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AuthHeader):
            return NotImplemented
        return self.scheme == other.scheme and self.params == other.params

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it was

    def __repr__(self) -> str:
        return f"AuthHeader(scheme={self.scheme!r}, params={self.params!r})"

    def get(self, name: str) -> str | None:
        index = self._index
        if index is None:
            index = {}
            params = self._params
            items = self._items if params is None else [(p.name, p.value, p.quoted)
                                                         for p in params]
            for n, v, _ in reversed(items):  # the first of a name wins
                index[n.lower()] = v
            self._index = index
        return index.get(name.lower())

    def set(self, name: str, value: str, *, quoted: bool | None = None) -> None:
        """Set a param; quoting defaults to the RFC 2617 convention for the name."""
        lname = name.lower()
        if quoted is None:
            quoted = lname not in _UNQUOTED
        for p in self.params:
            if p.name.lower() == lname:
                p.value, p.quoted = value, quoted
                return
        self.params.append(AuthParam(name, value, quoted))

    def remove(self, name: str) -> None:
        lname = name.lower()
        self.params[:] = [p for p in self.params if p.name.lower() != lname]

    def __str__(self) -> str:
        items = (f"{p.name}={quote(p.value) if p.quoted else p.value}" for p in self.params)
        body = ",".join(items)
        return f"{self.scheme} {body}" if body else self.scheme

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    # RFC 2617 / RFC 3261 §22.4 parameters.
    @property
    def username(self) -> str | None:
        return self.get("username")

    @property
    def realm(self) -> str | None:
        return self.get("realm")

    @property
    def nonce(self) -> str | None:
        return self.get("nonce")

    @property
    def uri(self) -> str | None:
        return self.get("uri")

    @property
    def response(self) -> str | None:
        return self.get("response")

    @property
    def algorithm(self) -> str | None:
        return self.get("algorithm")

    @property
    def cnonce(self) -> str | None:
        return self.get("cnonce")

    @property
    def opaque(self) -> str | None:
        return self.get("opaque")

    @property
    def qop(self) -> str | None:
        return self.get("qop")

    @property
    def nc(self) -> str | None:
        return self.get("nc")

    @property
    def stale(self) -> str | None:
        return self.get("stale")

    # IMS-AKA (RFC 3310 §3.4, TS 33.203, TS 24.229 §7.2A.1).
    @property
    def auts(self) -> str | None:
        return self.get("auts")

    @property
    def ck(self) -> str | None:
        return self.get("ck")

    @property
    def ik(self) -> str | None:
        return self.get("ik")

    @property
    def integrity_protected(self) -> str | None:
        return self.get("integrity-protected")


_Scan = tuple[str, list[tuple[str, str, bool]]]


def _scan(value: str) -> _Scan:
    """The scheme and each param's (name, unquoted value, quoted); raises
    SipParseError(400)."""
    # [head, name1, quoted1, token1, sep1, ..., tail] (the value not taken is None): the
    # value is of the fast shape when head is "scheme SP", each sep "," or ", " and the
    # tail empty.
    parts = _FAST_SPLIT_RE.split(value)
    scheme, _, rest = parts[0].partition(" ")
    if (rest or parts[-1] or len(parts) == 1 or not TOKEN_CHARS.issuperset(scheme)
            or not scheme or not _FAST_SEPS.issuperset(parts[4:-1:4])):
        return _scan_grammar(value)
    return scheme, [(n, t, False) if q is None else (n, q, True)
                    for n, q, t in zip(parts[1::4], parts[2::4], parts[3::4], strict=True)]


def _scan_grammar(value: str) -> _Scan:
    m = _SCHEME_RE.match(value)
    if m is None:
        raise SipParseError("Bad authentication header")
    pos = m.end()
    end = len(value)
    if pos < end and value[pos] not in " \t":
        raise SipParseError("Bad authentication scheme")
    params: list[tuple[str, str, bool]] = []
    match = _PARAM_RE.match
    while pos < end:
        p = match(value, pos)
        if p is None:
            break
        name, raw, comma = p.groups()
        if raw is None:
            params.append((name, "", False))
        elif raw[0] == '"':  # unquote() without the call when nothing is escaped
            params.append((name, raw[1:-1] if "\\" not in raw else unquote(raw), True))
        else:
            params.append((name, raw, False))
        pos = p.end()
        if comma is None:
            break  # another param would need a comma first
    if value[pos:].strip(" \t"):
        raise SipParseError("Bad authentication parameters")
    return m.group(1), params


def parse_auth(value: str) -> AuthHeader:
    """Parse a challenge or credentials header value; raises SipParseError(400)."""
    return AuthHeader._parsed(*_scan(value))


def check_auth(value: str) -> None:
    """Raise SipParseError(400) exactly when parse_auth(value) would; builds nothing."""
    if _FAST_RE.fullmatch(value) is None:  # the shape of _scan's split, and more spacing
        _scan_grammar(value)
