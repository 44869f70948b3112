"""The SIP grammar as regular expressions (RFC 3261 §25.1, RFC 3966 for tel).

Each expression quotes the ABNF it implements. Where real traffic deviates from the
grammar and being liberal is harmless, the deviation is noted.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from types import MappingProxyType

# alphanum = ALPHA / DIGIT
# token    = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
TOKEN_RE = re.compile(TOKEN)
# The same characters, for `TOKEN_CHARS.issuperset(text)` (with `text` non-empty): a
# check in C without the regex engine, for short texts.
TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")

# quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
# qdtext        = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
# quoted-pair   = "\" (%x00-09 / %x0B-0C / %x0E-7F)
# Unrolled: runs of qdtext between quoted-pairs, so the engine takes one step per run
# rather than one alternation per character (it matches the same strings).
QUOTED_STRING = r'"[^"\\\r\n]*(?:\\[^\r\n][^"\\\r\n]*)*"'
QUOTED_STRING_RE = re.compile(QUOTED_STRING)

# LWS = [*WSP CRLF] 1*WSP ; folding is undone before these are applied, so LWS is WSP.
LWS = r"[ \t]*"

# escaped    = "%" HEXDIG HEXDIG
# unreserved = alphanum / mark ; mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
_ESC = r"%[0-9A-Fa-f]{2}"
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"

# user           = 1*( unreserved / escaped / user-unreserved )
# user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
# Liberal: "#" is accepted in the user part (seen from real UEs dialling "*31#").
USER_RE = re.compile(rf"(?:[{_UNRESERVED}&=+$,;?/#]|{_ESC})+")
# password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
PASSWORD_RE = re.compile(rf"(?:[{_UNRESERVED}&=+$,]|{_ESC})*")

# host         = hostname / IPv4address / IPv6reference
# hostname     = *( domainlabel "." ) toplabel [ "." ]
# IPv6reference = "[" IPv6address "]"
# Liberal: "_" is accepted in host names (common in lab DNS names).
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_\-]*[A-Za-z0-9_])?"
HOSTNAME = rf"{_LABEL}(?:\.{_LABEL})*\.?"
IPV6_REFERENCE = r"\[[0-9A-Fa-f:.]+\]"
HOST = rf"(?:{IPV6_REFERENCE}|{HOSTNAME})"
# hostport = host [ ":" port ] ; port = 1*DIGIT
MAX_PORT = 65535  # what a socket address can hold
HOSTPORT_RE = re.compile(rf"({HOST})(?::([0-9]{{1,5}}))?")

# uri-parameter = transport-param / user-param / ... / other-param
# other-param   = pname [ "=" pvalue ] ; pname = 1*paramchar ; pvalue = 1*paramchar
# paramchar     = param-unreserved / unreserved / escaped
# param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"
PARAMCHARS_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/:&+$]|{_ESC})+")
# header  = hname "=" hvalue ; hname = 1*( hnv-unreserved / unreserved / escaped )
# hvalue  = *( hnv-unreserved / unreserved / escaped )
# hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$"
HNAME_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESC})+")
HVALUE_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESC})*")

# absoluteURI = scheme ":" ( hier-part / opaque-part )
# scheme      = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):")
# The rest of an absolute URI: uric characters (RFC 2396), no spaces, quotes or brackets.
ABSOLUTE_REST_RE = re.compile(r"[A-Za-z0-9\-_.!~*'();/?:@&=+$,%\[\]#]+")

# telephone-subscriber (RFC 3966 §3): global-number / local-number, with visual
# separators "-" "." "(" ")"; params follow ";". Hex digits and "*" "#" are allowed.
TEL_NUMBER_RE = re.compile(r"\+?[0-9A-Fa-f*#\-.()]+")

# generic-param = token [ EQUAL gen-value ] ; gen-value = token / host / quoted-string
# EQUAL = SWS "=" SWS ; SEMI = SWS ";" SWS
# Via received may hold a bare IPv6address (§20.42), hence the first alternative.
_BARE_IPV6 = r"[0-9A-Fa-f]*:[0-9A-Fa-f:.]+"
GENERIC_PARAM_RE = re.compile(
    rf"{LWS};{LWS}({TOKEN})"
    rf"(?:{LWS}={LWS}({_BARE_IPV6}|{TOKEN}|{IPV6_REFERENCE}|{QUOTED_STRING}))?{LWS}"
)

# SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT (case-insensitive, §7.1)
SIP_VERSION_RE = re.compile(r"[Ss][Ii][Pp]/[0-9]+\.[0-9]+")

# Via: sent-protocol LWS sent-by ; sent-protocol = protocol-name SLASH protocol-version
# SLASH transport ; SLASH = SWS "/" SWS ; sent-by = host [ COLON port ]
VIA_HEAD_RE = re.compile(
    rf"{LWS}({TOKEN}){LWS}/{LWS}({TOKEN}){LWS}/{LWS}({TOKEN})[ \t]+({HOST})"
    rf"(?:{LWS}:{LWS}([0-9]{{1,5}}))?"
)

# CSeq = "CSeq" HCOLON 1*DIGIT LWS Method
CSEQ_RE = re.compile(rf"([0-9]{{1,10}})[ \t]+({TOKEN})")
# Max-Forwards = 1*DIGIT ; Content-Length = 1*DIGIT: fields.py checks these with str
# methods (at most 10 digits).

# Call-ID = word [ "@" word ] ; word = 1*(alphanum / "-" / "." / "!" / "%" / "*" /
#   "_" / "+" / "`" / "'" / "~" / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" /
#   "[" / "]" / "?" / "{" / "}" )
_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
CALL_ID_RE = re.compile(rf"{_WORD}(?:@{_WORD})?")

# Compact forms: RFC 3261 §7.3.3 (i m e l c f s k t v), RFC 3265/6665 (o u),
# RFC 3515 (r), RFC 3892 (b), RFC 4028 (x), RFC 4474 (y n), RFC 3841 (a j d).
COMPACT_FORMS: dict[str, str] = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "u": "allow-events",
    "r": "refer-to",
    "b": "referred-by",
    "x": "session-expires",
    "y": "identity",
    "n": "identity-info",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
}


def _compute_key(name: str) -> str:
    key = name.lower()
    return COMPACT_FORMS.get(key, key) if len(key) == 1 else key


# The header names the parser knows, in their usual spelling: RFC 3261 §20, the
# extensions behind the compact forms (COMPACT_FORMS) and those IMS uses (TS 24.229
# §7.2, RFC 3329).
_KNOWN_NAMES = (
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info",
    "Allow", "Allow-Events", "Authentication-Info", "Authorization", "Call-ID",
    "Call-Info", "Contact", "Content-Disposition", "Content-Encoding", "Content-Language",
    "Content-Length", "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires",
    "Feature-Caps", "From", "Identity", "Identity-Info", "In-Reply-To", "Max-Forwards",
    "MIME-Version", "Min-Expires", "Min-SE", "Organization", "P-Access-Network-Info",
    "P-Asserted-Identity", "P-Associated-URI", "P-Called-Party-ID",
    "P-Charging-Function-Addresses", "P-Charging-Vector", "P-Preferred-Identity",
    "P-Preferred-Service", "P-Asserted-Service", "P-Visited-Network-ID", "Path",
    "Priority", "Privacy", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require",
    "RAck", "Reason", "Record-Route", "Refer-To", "Referred-By", "Reject-Contact",
    "Reply-To", "Request-Disposition", "Require", "Retry-After", "Route", "RSeq",
    "Security-Client", "Security-Server", "Security-Verify", "Server", "Service-Route",
    "Session-Expires", "Subject", "Subscription-State", "Supported", "Timestamp", "To",
    "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
)


def _known_keys() -> dict[str, str]:
    keys: dict[str, str] = {}
    for name in (*_KNOWN_NAMES, *COMPACT_FORMS):
        key = _compute_key(name)
        titled = "-".join(part.capitalize() for part in name.split("-"))  # "Call-Id"
        keys.update(dict.fromkeys((name, name.lower(), name.upper(), titled), key))
    return keys


# Spelling -> lookup key for the usual, lower-case, upper-case and title-case spellings
# of every known name (compact forms included): built once and never changed, so that
# looking a header up (several times per message) is one dict hit. Other spellings are
# computed. Shared read-only; header_key uses the dict's own get (a proxy's is slower).
_KNOWN = _known_keys()
KNOWN_KEYS: Mapping[str, str] = MappingProxyType(_KNOWN)
_known_get = _KNOWN.get
# The key of a name in a precomputed spelling, None for any other: callers that name
# headers mostly spell them so, and try this before calling header_key.
known_key = _known_get


def header_key(name: str) -> str:
    """The canonical lookup key of a header name: lower-case long form."""
    key = _known_get(name)
    return key if key is not None else _compute_key(name)


def unquote(value: str) -> str:
    """Remove the quotes and quoted-pair escapes of a quoted-string (§25.1)."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        if "\\" not in inner:
            return inner
        out: list[str] = []
        it = iter(inner)
        for ch in it:
            out.append(next(it, "") if ch == "\\" else ch)
        return "".join(out)
    return value


def quote(value: str) -> str:
    """Make a quoted-string of `value`, escaping `"` and `\\`."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_token(value: str) -> bool:
    return TOKEN_RE.fullmatch(value) is not None
