"""SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966).

Components are kept as written (escapes included) so that `str(parse_uri(s)) == s`
for every valid `s`. When two URIs are equal (§19.1.4) is `ims_core.identity`'s rule.

A node parses the same few URIs over and over (its own, its peers', a subscriber's in
every message of a registration), so `parse_uri` keeps the last few thousand parses and
hands out copies of them: the same answer for a fraction of the work.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import unquote as _pct_unquote

from .errors import SipParseError
from .grammar import (
    ABSOLUTE_REST_RE,
    HNAME_RE,
    HOSTPORT_RE,
    HVALUE_RE,
    MAX_PORT,
    PARAMCHARS_RE,
    PASSWORD_RE,
    SCHEME_RE,
    TEL_NUMBER_RE,
    USER_RE,
)
from .params import HasParams, Param, format_params
from .parsecache import ParseCache


def unescape(text: str) -> str:
    """Decode %HH escapes (UTF-8); used for comparisons, never for the wire."""
    return _pct_unquote(text, errors="surrogateescape") if "%" in text else text


@dataclass(slots=True, init=False)
class SipUri(HasParams):
    """sip: / sips: URI. `host` keeps IPv6 brackets; `params` and `headers` keep order."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: list[Param] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    scheme: str = "sip"

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, host: str, user: str | None = None, password: str | None = None,
                 port: int | None = None, params: list[Param] | None = None,
                 headers: list[tuple[str, str]] | None = None, scheme: str = "sip") -> None:
        self.host = host
        self.user = user
        self.password = password
        self.port = port
        self.params = [] if params is None else params
        self.headers = [] if headers is None else headers
        self.scheme = scheme

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts += (":", self.password)
            parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts += (":", str(self.port))
        if self.params:
            parts.append(format_params(self.params))
        if self.headers:
            parts += ("?", "&".join(f"{n}={v}" for n, v in self.headers))
        return "".join(parts)

    @property
    def secure(self) -> bool:
        return self.scheme.lower() == "sips"

    @property
    def transport(self) -> str | None:
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        return self.has_param("lr")

    @property
    def maddr(self) -> str | None:
        return self.param("maddr")

    @property
    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def copy(self) -> SipUri:
        return SipUri(
            self.host, self.user, self.password, self.port,
            list(self.params), list(self.headers), self.scheme,
        )


@dataclass(slots=True)
class TelUri(HasParams):
    """tel: URI (RFC 3966): the number as written and its parameters."""

    number: str
    params: list[Param] = field(default_factory=list)
    scheme: str = "tel"

    def __str__(self) -> str:
        return f"{self.scheme}:{self.number}{format_params(self.params)}"

    @property
    def is_global(self) -> bool:
        return self.number.startswith("+")

    def copy(self) -> TelUri:
        return TelUri(self.number, list(self.params), self.scheme)


@dataclass(slots=True)
class AbsoluteUri:
    """Any other absoluteURI (§25.1), kept opaque (e.g. urn:, http:, unknown schemes)."""

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"

    def copy(self) -> AbsoluteUri:
        return AbsoluteUri(self.scheme, self.rest)


Uri = SipUri | TelUri | AbsoluteUri


def _parse_uri_params(text: str) -> list[Param]:
    params: list[Param] = []
    for item in text.split(";"):
        name, eq, value = item.partition("=")
        if PARAMCHARS_RE.fullmatch(name) is None or (
            eq and PARAMCHARS_RE.fullmatch(value) is None
        ):
            raise SipParseError(f"Bad URI parameter {item!r}")
        params.append((name, value if eq else None))
    return params


def _parse_sip(scheme: str, rest: str) -> SipUri:
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, pw = userinfo.partition(":")
        if USER_RE.fullmatch(user) is None:
            raise SipParseError("Bad user part in URI")
        if colon:
            if PASSWORD_RE.fullmatch(pw) is None:
                raise SipParseError("Bad password in URI")
            password = pw
    m = HOSTPORT_RE.match(rest)
    if m is None:
        raise SipParseError("Bad host in URI")
    host = m.group(1)
    if host[0] == "[":
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise SipParseError("Bad IPv6 reference in URI") from None
    port = int(m.group(2)) if m.group(2) else None
    if port is not None and port > MAX_PORT:
        raise SipParseError("Bad port in URI")
    tail = rest[m.end() :]
    params: list[Param] = []
    headers: list[tuple[str, str]] = []
    if tail:
        ptext, q, htext = tail.partition("?")
        if ptext:
            if ptext[0] != ";":
                raise SipParseError("Bad characters after host in URI")
            params = _parse_uri_params(ptext[1:])
        if q:
            for item in htext.split("&"):
                hname, eq, hvalue = item.partition("=")
                if not eq or HNAME_RE.fullmatch(hname) is None or (
                    HVALUE_RE.fullmatch(hvalue) is None
                ):
                    raise SipParseError(f"Bad URI header {item!r}")
                headers.append((hname, hvalue))
    return SipUri(host, user, password, port, params, headers, scheme)


def parse_uri(text: str) -> Uri:
    """Parse a Request-URI or the URI of a name-addr; raises SipParseError(400)."""
    return PARSED.get(text).copy()  # a copy: callers may edit what they get


def uri_view(text: str) -> Uri:
    """`parse_uri(text)` as kept, shared: for reading only, never to edit (e.g. inside a
    parse that is itself kept and only handed out as copies or views)."""
    return PARSED.get(text)


def _parse_uri(text: str) -> Uri:
    m = SCHEME_RE.match(text)
    if m is None:
        raise SipParseError(f"Bad URI {text[:40]!r}")
    scheme = m.group(1)
    rest = text[m.end() :]
    lscheme = scheme.lower()
    if lscheme in ("sip", "sips"):
        return _parse_sip(scheme, rest)
    if lscheme == "tel":
        number, _, ptext = rest.partition(";")
        if TEL_NUMBER_RE.fullmatch(number) is None:
            raise SipParseError("Bad tel URI number")
        return TelUri(number, _parse_uri_params(ptext) if ptext else [], scheme)
    if ABSOLUTE_REST_RE.fullmatch(rest) is None:
        raise SipParseError(f"Bad URI {text[:40]!r}")
    return AbsoluteUri(scheme, rest)


PARSED: ParseCache[Uri] = ParseCache(_parse_uri)
