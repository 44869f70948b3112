"""name-addr / addr-spec header values (RFC 3261 §20.10, §20.20, §20.39, §25.1).

From, To, Contact, Route, Record-Route, Path (RFC 3327), Service-Route (RFC 3608),
P-Asserted-Identity and friends all share this shape:

    name-addr   = [ display-name ] LAQUOT addr-spec RAQUOT
    addr-spec   = SIP-URI / SIPS-URI / absoluteURI
    display-name = *(token LWS)/ quoted-string
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import SipParseError
from .grammar import LWS, QUOTED_STRING, TOKEN, quote, unquote
from .params import HasParams, Param, format_params, parse_generic_params
from .parsecache import ParseCache
from .uri import SipUri, Uri, uri_view

_DISPLAY_TOKENS_RE = re.compile(rf"{TOKEN}(?:[ \t]+{TOKEN})*")
_QUOTED_HEAD_RE = re.compile(rf"{LWS}({QUOTED_STRING}){LWS}<")
_TOKEN_ONLY_RE = re.compile(TOKEN)
_SPLIT_MARKS = re.compile(r'[",<>\\]')  # what split_values looks at


@dataclass(slots=True, init=False)
class NameAddr(HasParams):
    """One address with header parameters (`tag`, `expires`, `q`, ...).

    `display_name` is the decoded text (None when absent). Serialisation always uses
    the name-addr form with angle brackets, which is valid in every header.
    """

    uri: Uri
    display_name: str | None = None
    params: list[Param] = field(default_factory=list)

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, uri: Uri, display_name: str | None = None,
                 params: list[Param] | None = None) -> None:
        self.uri = uri
        self.display_name = display_name
        self.params = [] if params is None else params

    def __str__(self) -> str:
        if self.display_name is None:
            head = ""
        elif self.display_name and _TOKEN_ONLY_RE.fullmatch(self.display_name):
            head = self.display_name + " "
        else:
            head = quote(self.display_name) + " "
        return f"{head}<{self.uri}>{format_params(self.params)}"

    @property
    def tag(self) -> str | None:
        return self.param("tag")

    @property
    def sip_uri(self) -> SipUri | None:
        """The URI when it is sip:/sips:, else None."""
        return self.uri if isinstance(self.uri, SipUri) else None

    def copy(self) -> NameAddr:
        return NameAddr(self.uri.copy(), self.display_name, list(self.params))


def split_values(value: str) -> list[str]:
    """Split a header value on commas outside quotes and angle brackets (§7.3.1)."""
    if '"' not in value:
        if "," not in value:  # one value, the usual case
            return [value.strip(" \t")]
        if "<" not in value:
            return [v.strip(" \t") for v in value.split(",")]
    out: list[str] = []
    start = 0
    in_quote = in_angle = False
    escaped = -1  # the position a backslash in a quoted string escapes
    # Only these characters change anything: visit them, not every character.
    for m in _SPLIT_MARKS.finditer(value):
        i = m.start()
        if i == escaped:
            continue
        ch = value[i]
        if in_quote:
            if ch == "\\":
                escaped = i + 1
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif ch == "<":
            in_angle = True
        elif ch == ">":
            in_angle = False
        elif ch == "," and not in_angle:
            out.append(value[start:i].strip(" \t"))
            start = i + 1
    if in_quote:
        raise SipParseError("Unterminated quoted string")
    out.append(value[start:].strip(" \t"))
    return out


def parse_name_addr(text: str) -> NameAddr:
    """Parse one `(name-addr / addr-spec) *(SEMI param)` value."""
    return PARSED.get(text).copy()  # a copy: callers may edit what they get


def name_addr_view(text: str) -> NameAddr:
    """`parse_name_addr(text)` as kept, shared: for reading only (e.g. a tag), never to
    edit. Raises SipParseError as parse_name_addr does."""
    return PARSED.get(text)


def _parse_name_addr(text: str) -> NameAddr:
    if text.lstrip(" \t").startswith('"'):
        m = _QUOTED_HEAD_RE.match(text)
        if m is None:
            raise SipParseError("Bad quoted display name")
        display: str | None = unquote(m.group(1))
        return _after_laquot(text, m.end(), display)
    lt = text.find("<")
    semi = text.find(";")
    if lt >= 0 and (semi < 0 or lt < semi):  # a "<" after ";" is inside a parameter
        head = text[:lt].strip(" \t")
        if head and _DISPLAY_TOKENS_RE.fullmatch(head) is None:
            raise SipParseError("Bad display name")
        return _after_laquot(text, lt + 1, head or None)
    # addr-spec form: every ";" starts a header parameter (§20). An addr-spec holding
    # a comma, semicolon or question mark MUST use name-addr (§20.10): RFC 4475 regbadct.
    stripped = text.strip(" \t")
    semi = stripped.find(";")
    uri_text = (stripped if semi < 0 else stripped[:semi]).rstrip(" \t")
    if "?" in uri_text or "," in uri_text:
        raise SipParseError("URI with '?' or ',' must be enclosed in <>")
    # The URI's kept parse: this NameAddr is itself kept, and handed out as copies
    # (which copy the URI) or read-only views.
    uri = uri_view(uri_text)
    params = parse_generic_params(stripped, semi) if semi >= 0 else []
    return NameAddr(uri, None, params)


def _after_laquot(text: str, start: int, display: str | None) -> NameAddr:
    gt = text.find(">", start)
    if gt < 0:
        raise SipParseError("Missing '>' in address")
    uri = uri_view(text[start:gt])  # shared, as in _parse_name_addr
    return NameAddr(uri, display, parse_generic_params(text, gt + 1))


def parse_name_addr_list(value: str) -> list[NameAddr]:
    """Parse a comma-separated list of addresses (Contact, Route, Path, ...)."""
    return [parse_name_addr(v) for v in split_values(value)]


# A node reads the same To, From, Contact, Path and Route values in a request and in its
# responses: each text is parsed once (parsecache).
PARSED: ParseCache[NameAddr] = ParseCache(_parse_name_addr)
