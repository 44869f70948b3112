"""Parse one SIP message from bytes (RFC 3261 §7, §18.3), with hard limits.

    generic-message = start-line *message-header CRLF [ message-body ]
    Request-Line    = Method SP Request-URI SP SIP-Version CRLF
    Status-Line     = SIP-Version SP Status-Code SP Reason-Phrase CRLF

Only the start line, the header names, folding and Content-Length are examined here;
everything else waits for a typed view (message.py) or `Message.validate()`. Plain
messages are split in C (_sipfast.c) when it is built, with the same outcome; BACKEND
says whether it is ("c" or "python"; IMS_CORE_PURE_SIP=1 keeps to Python).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import SipParseError
from .grammar import KNOWN_KEYS, SIP_VERSION_RE, TOKEN_RE, header_key
from .headers import Field, Headers
from .message import Request, Response
from .params import BACKEND as BACKEND  # re-exported: "c" or "python"
from .params import sipfast
from .uri import AbsoluteUri, SipUri, parse_uri

if TYPE_CHECKING:
    from ._sipfast import Split


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard limits; exceeding one yields SipParseError(513)."""

    max_message_size: int = 65535
    max_headers: int = 256
    max_line_length: int = 8192


DEFAULT_LIMITS = Limits()
_DIGITS = frozenset("0123456789")
# Methods in use (RFC 3261 and its extensions): tokens, so they need no regex check.
_METHODS = frozenset({
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
    "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
})


def _fold(lines: list[str]) -> tuple[list[str], list[str]]:
    """Join continuation lines (§7.3.1): the unfolded fields and their raw text."""
    unfolded: list[str] = []
    raws: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not raws:
                raise SipParseError("Header block starts with a continuation line")
            raws[-1] += "\r\n" + line
            unfolded[-1] = unfolded[-1].rstrip(" \t") + " " + line.lstrip(" \t")
        else:
            unfolded.append(line)
            raws.append(line)
    return unfolded, raws


# Spelling -> lookup key of the known header names (read-only, built once). Any other
# spelling is validated and computed each time (_other_key).
_KEYS: Mapping[str, str] = KNOWN_KEYS


def _other_key(name: str, line: str, colon: str) -> tuple[str, str]:
    """(key, name without trailing blanks) for a header name not in _KEYS as spelled:
    blanks before the colon, an odd case ("ViA") or a name the parser does not know."""
    if not colon:
        raise SipParseError(
            "Header line without a colon" if line else "Empty line in the header block"
        )
    name = name.rstrip(" \t")
    # ASCII lower-casing maps tokens to tokens and non-tokens to non-tokens, so a
    # known lower-case form needs no further validation
    key = _KEYS.get(name.lower() if name.isascii() else name)
    if key is None:
        if TOKEN_RE.fullmatch(name) is None:
            raise SipParseError("Bad header name")
        key = header_key(name)
    return key, name


# Header line -> its field. Many lines recur verbatim from message to message
# ("Max-Forwards: 70", "Content-Length: 0", a peer's Path, a subscriber's To), and a
# field is an immutable tuple that memos compare by identity only within one message,
# so the same tuple may stand in several messages. Bounded: emptied when full, and only
# short unfolded lines are kept.
_LINE_FIELDS: dict[str, Field] = {}
LINE_CACHE_SIZE = 4096
LINE_CACHE_MAX_LEN = 200


def _parse_fields(lines: list[str], raws: list[str] | None = None) -> list[Field]:
    """The fields of the header lines; `raws`: their raw text when `lines` were unfolded
    (None: each field's raw text is its line)."""
    fields: list[Field] = []
    append = fields.append
    known = _KEYS
    seen = _LINE_FIELDS
    for line in lines:
        if raws is None:
            field = seen.get(line)
            if field is not None:
                append(field)
                continue
        name, colon, value = line.partition(":")
        try:  # indexing the read-only mapping is faster than its get()
            key: str | None = known[name]
        except KeyError:
            key = None
        if key is None or not colon:
            # A continuation line (§7.3.1) starts with a blank, so never has a known name
            # nor a place in the cache: the block is unfolded, and parsed again, only when
            # one is seen. Looked for at the first line that does not parse alone, so the
            # outcome never depends on which lines the cache holds.
            if raws is None and any(x[:1] in (" ", "\t") for x in lines):
                return _parse_fields(*_fold(lines))
            if key is not None:
                raise SipParseError("Header line without a colon")
            key, name = _other_key(name, line, colon)
        if raws is None:
            field = (key, name, value.strip(" \t"), line)
            if len(line) <= LINE_CACHE_MAX_LEN:
                if len(seen) >= LINE_CACHE_SIZE:
                    seen.clear()
                seen[line] = field
            append(field)
        else:
            append((key, name, value.strip(" \t"), raws[len(fields)]))
    return fields


def _start_line(line: str) -> Request | Response:
    parts = line.split(" ", 2)
    if len(parts) == 3 and parts[0][:4].upper() == "SIP/" and parts[0][4:5].isdigit():
        version, code, reason = parts
        if len(code) != 3 or not _DIGITS.issuperset(code) or code[0] == "0":
            raise SipParseError("Bad status code", can_respond=False)
        if version != "SIP/2.0" and SIP_VERSION_RE.fullmatch(version) is None:
            raise SipParseError("Bad SIP version", can_respond=False)
        return Response._from_wire(int(code), reason, Headers(), version)
    if line[:4].upper() == "SIP/":
        # Status-Line with no SP before an empty reason phrase: tolerated (noreason).
        if len(parts) == 2 and len(parts[1]) == 3 and _DIGITS.issuperset(parts[1]):
            return Response._from_wire(int(parts[1]), "", Headers(), parts[0])
        raise SipParseError("Bad status line", can_respond=False)
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        # RFC 4475 lwsruri, lwsstart, trws: exactly one SP between the elements.
        looks_like_request = len(parts) >= 3 and TOKEN_RE.fullmatch(parts[0]) is not None
        raise SipParseError("Bad request line", can_respond=looks_like_request)
    method, uri_text, version = parts
    if method not in _METHODS and TOKEN_RE.fullmatch(method) is None:
        raise SipParseError("Bad method", can_respond=False)
    if version != "SIP/2.0" and SIP_VERSION_RE.fullmatch(version) is None:
        raise SipParseError("Bad SIP version")
    if version.upper() != "SIP/2.0":
        raise SipParseError("Version Not Supported", 505)
    return _request(method, uri_text, version, Headers())


def _request(method: str, uri_text: str, version: str, headers: Headers) -> Request:
    """The request of a readable Request-Line: its URI parsed (and checked) here."""
    uri = parse_uri(uri_text)  # RFC 4475 ltgtruri: <> are not allowed here
    if isinstance(uri, SipUri) and uri.headers:
        # §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 escruri).
        raise SipParseError("Headers in Request-URI")
    return Request._from_wire(method, uri, uri_text, headers, b"", version)


def parse_message(
    data: bytes, limits: Limits = DEFAULT_LIMITS, *, stream: bool = False
) -> Request | Response:
    """Parse one message. Datagram rules (§18.3) unless `stream`: the body is what
    Content-Length says (extra octets are dropped: RFC 4475 dblreq) or, when it is
    absent, the rest of the datagram; a Content-Length beyond the data is a 400 (clerr).
    On a stream, an absent Content-Length means no body.

    A SipParseError for a request carries, when the header lines allow it, a partial
    `request` so that `error_response()` can answer it."""
    try:
        return _parse(data, limits, stream)
    except SipParseError as exc:
        if exc.can_respond and exc.request is None:
            exc.request = _salvage(data)
        raise


def _salvage(data: bytes) -> Request | None:
    """Best effort: the readable header lines of a rejected request (bad lines skipped)."""
    head = data[:16384].decode("utf-8", "surrogateescape").replace("\r\n", "\n")
    head = head.lstrip("\n").split("\n\n", 1)[0]
    lines = head.split("\n")
    method = lines[0].split(" ", 1)[0]
    if TOKEN_RE.fullmatch(method) is None:
        return None
    fields: list[Field] = []
    for line in lines[1:]:
        try:
            fields += _parse_fields([line])
        except SipParseError:
            continue
    uri = AbsoluteUri("invalid", "request-uri")
    return Request._from_wire(method, uri, str(uri), Headers(fields), b"", "SIP/2.0")


# The C split of a plain message (_sipfast.c), None without it. It hands back what the
# code below builds, or None for anything else (folding, bare LF, non-ASCII, an odd
# start line, a limit reached, a bad Content-Length, ...): that code then answers.
_split_message: Callable[..., Split | None] | None = (
    None if sipfast is None else sipfast.split_message)
_KNOWN_DICT: dict[str, str] = dict(KNOWN_KEYS)  # what C can look up (not a mappingproxy)


def _parse(data: bytes, limits: Limits, stream: bool) -> Request | Response:
    if _split_message is not None:
        split = _split_message(
            data, limits.max_message_size, limits.max_headers, limits.max_line_length,
            stream, _KNOWN_DICT, _LINE_FIELDS, LINE_CACHE_SIZE, LINE_CACHE_MAX_LEN,
        )
        if split is not None:
            status, text, uri_text, version, fields, body = split
            msg: Request | Response = (
                Response._from_wire(status, text, Headers(fields), version) if status
                else _request(text, uri_text, version, Headers(fields))
            )
            msg.body = body
            return msg
    size = len(data)
    start = 0
    while data.startswith(b"\r\n", start):  # §7.5: ignore CRLFs before the start line
        start += 2
    if size - start > limits.max_message_size:
        raise SipParseError("Message Too Large", 513, can_respond=not data.startswith(b"SIP/"))
    end = data.find(b"\r\n\r\n", start)
    if end >= 0:
        head = data[start:end].decode("utf-8", "surrogateescape")
        body_start = end + 4
        lines = head.split("\r\n")
    else:
        end = data.find(b"\n\n", start)
        if end < 0:
            if data.find(b"\r\n", start) < 0 and data.find(b"\n", start) < 0:
                head = data[start:].decode("utf-8", "surrogateescape")
                _start_line(head)  # classify the error (request vs response)
            raise SipParseError("Missing empty line after the header block")
        # Liberal: bare-LF line ends. Re-serialisation then uses CRLF.
        head = data[start:end].decode("utf-8", "surrogateescape").replace("\r\n", "\n")
        body_start = end + 2
        lines = head.split("\n")
    if len(lines) - 1 > limits.max_headers:
        raise SipParseError("Too many header fields", 513, can_respond=not head.startswith("SIP/"))
    # No line is longer than the whole block: most blocks need no per-line check.
    if len(head) > limits.max_line_length and max(map(len, lines)) > limits.max_line_length:
        raise SipParseError("Header line too long", 513, can_respond=not head.startswith("SIP/"))
    msg = _start_line(lines[0])
    is_request = isinstance(msg, Request)
    try:
        fields = _parse_fields(lines[1:])
    except SipParseError as exc:
        exc.can_respond = False if not is_request else exc.can_respond
        raise
    msg.headers = Headers(fields)
    # Content-Length framing (§18.3, §20.14).
    lengths = [f[2] for f in fields if f[0] == "content-length"]
    available = size - body_start
    partial = msg if isinstance(msg, Request) else None
    if not lengths:
        length = 0 if stream else available
    elif len(lengths) > 1:
        raise SipParseError("Multiple Content-Length headers", can_respond=is_request,
                            request=partial)
    else:
        value = lengths[0]
        if not value or not _DIGITS.issuperset(value) or len(value) > 10:
            raise SipParseError("Bad Content-Length", can_respond=is_request, request=partial)
        length = int(value)
        if length > available:
            raise SipParseError("Content-Length larger than message", can_respond=is_request,
                                request=partial)
    msg.body = data[body_start : body_start + length]
    return msg


def is_keepalive(data: bytes) -> bool:
    """True for a datagram holding only CR/LF (RFC 5626 §4.4.1 CRLF keep-alive) or
    nothing: not a message, so neither parse nor answer it with a 400."""
    # Whatever starts with another octet is not one: deciding on the first octet
    # spares a copy of every datagram.
    if data[:1] not in (b"\r", b"\n", b""):
        return False
    return not data.strip(b"\r\n")


def error_response(error: SipParseError) -> Response | None:
    """A response to the request that failed to parse, when one can be built (the
    request line and Via/From/To/Call-ID/CSeq were readable), else None."""
    from .message import make_response

    request = error.request
    if request is None or not error.can_respond:
        return None
    try:
        request.top_via_view()
        _ = request.cseq, request.call_id, request.from_addr, request.to_addr
    except SipParseError:
        return None
    return make_response(request, error.status, error.reason)
