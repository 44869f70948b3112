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
from dataclasses import dataclass, field

from .errors import SipParseError
from .grammar import LWS, QUOTED_STRING, TOKEN, quote, unquote

_SCHEME_RE = re.compile(rf"{LWS}({TOKEN})")
# One auth-param and the comma that may follow it (the next one needs it).
_PARAM_RE = re.compile(rf"{LWS}({TOKEN}){LWS}={LWS}({QUOTED_STRING}|{TOKEN})?{LWS}(,{LWS})?")

# Parameters sent unquoted by convention (RFC 2617 §3.2.1-2; RFC 3310; TS 24.229).
_UNQUOTED = frozenset({"algorithm", "stale", "nc", "qop"})


@dataclass(slots=True)
class AuthParam:
    name: str
    value: str  # unquoted text
    quoted: bool


@dataclass(slots=True)
class AuthHeader:
    """A challenge or credentials: `scheme` plus ordered auth-params.

    Names are case-insensitive. AKA parameters (`auts`, `ck`, `ik`,
    `integrity-protected`) are ordinary params with accessors below.
    """

    scheme: str
    params: list[AuthParam] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        lname = name.lower()
        for p in self.params:
            if p.name.lower() == lname:
                return p.value
        return None

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


def parse_auth(value: str) -> AuthHeader:
    """Parse a challenge or credentials header value; raises SipParseError(400)."""
    m = _SCHEME_RE.match(value)
    if m is None:
        raise SipParseError("Bad authentication header")
    header = AuthHeader(m.group(1))
    pos = m.end()
    end = len(value)
    if pos < end and value[pos] not in " \t":
        raise SipParseError("Bad authentication scheme")
    params = header.params
    match = _PARAM_RE.match
    while pos < end:
        p = match(value, pos)
        if p is None:
            break
        name, raw, comma = p.groups()
        if raw is None:
            params.append(AuthParam(name, "", False))
        elif raw[0] == '"':  # unquote() without the call when nothing is escaped
            params.append(AuthParam(name, raw[1:-1] if "\\" not in raw else unquote(raw), True))
        else:
            params.append(AuthParam(name, raw, False))
        pos = p.end()
        if comma is None:
            break  # another param would need a comma first
    if value[pos:].strip(" \t"):
        raise SipParseError("Bad authentication parameters")
    return header
