"""SIP requests and responses (RFC 3261 §7) with typed views and proxy edits.

Typed views (`top_via()`, `cseq`, `from_addr`, `contacts()`, ...) parse the header
value each time they are called and raise SipParseError(400) on bad syntax; they are
snapshots, so to change a header use the editing methods (which mark just that field
as modified and leave every other field's bytes alone).

`top_via()` is asked for several times per message (transport, transaction keys,
proxy), so its parse is memoised against the identity of the first Via field tuple.
Field tuples are immutable and every edit, by any route, puts a new tuple in the list,
so there is no invalidation step to forget; callers get a copy they may edit freely
(`top_via_view()` hands out the memo itself, to code that only reads it).
The single-valued views (`cseq`, `call_id`, `max_forwards`, `content_length`, the
From/To tags) are memoised the same way, keeping only immutable values.
"""

from __future__ import annotations

from typing import cast

from .address import NameAddr, name_addr_view, parse_name_addr, split_values
from .digest import AuthHeader, parse_auth
from .errors import SipError, SipParseError
from .fields import (
    CSeq,
    Via,
    parse_call_id,
    parse_content_length,
    parse_cseq,
    parse_max_forwards,
    parse_via,
)
from .headers import Field, Headers, canonical_name
from .status import reason_phrase
from .uri import Uri, parse_uri

SIP_VERSION = "SIP/2.0"

# The top Via memo: (first Via field, its parse). The parse is never edited.
_ViaMemo = tuple[Field, Via]
# The other memoised views: view name -> (the field parsed, its value), values being
# immutable: strings, ints, None, a CSeq.
_View = str | int | CSeq | None
_Views = dict[str, tuple[Field, _View]]
_MISSING = object()

# Headers that may appear at most once (§7.3.1 / §20; RFC 4475 multi01, mcl01).
_SINGLE = ("call-id", "cseq", "from", "to", "max-forwards", "content-length")
_ADDRESS_LISTS = ("contact", "route", "record-route", "path", "service-route")
_AUTH = ("authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate")


class Message:
    """Common part of Request and Response: headers, body, typed views, edits."""

    __slots__ = ("_via_memo", "_views", "body", "headers", "version")

    def __init__(self, headers: Headers | None, body: bytes, version: str) -> None:
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.version = version
        self._via_memo: _ViaMemo | None = None
        self._views: _Views | None = None

    # -- serialisation -----------------------------------------------------------------
    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """Wire form. Content-Length is whatever the headers say: use `set_body` (or
        `make_response`) so that it matches the body."""
        lines = self.headers.lines()
        lines.insert(0, self.start_line())
        lines.append("\r\n")  # the empty line after the header block
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def _copy_memos(self, src: Message) -> None:
        """A copy shares the field tuples, so the parses of `src` hold for it too."""
        self._via_memo = src._via_memo
        self._views = None if src._views is None else dict(src._views)

    # -- typed views -----------------------------------------------------------------
    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"Missing {canonical_name(name)} header")
        return value

    def vias(self) -> list[Via]:
        """Every Via value, top first."""
        return [parse_via(v) for v in self.headers.values("via")]

    def top_via(self) -> Via:
        """The topmost Via value (a fresh copy; see the module docstring)."""
        return self.top_via_view().copy()

    def top_via_view(self) -> Via:
        """The topmost Via value as memoised: read it, never edit it (`top_via` gives a
        copy to edit). Raises SipParseError when it is missing or malformed."""
        field = self.headers.first_field("via")
        if field is None:
            raise SipParseError("Missing Via header")
        memo = self._via_memo
        if memo is not None and memo[0] is field:
            return memo[1]
        value = field[2]
        via = parse_via(split_values(value)[0] if "," in value else value)
        self._via_memo = (field, via)
        return via

    def _memo(self, view: str, key: str) -> tuple[Field | None, object]:
        """The first `key` field and the memoised value of `view` for it (_MISSING:
        none kept for the field there now)."""
        field = self.headers.first_field(key)
        views = self._views
        if views is not None:
            hit = views.get(view)
            if hit is not None and hit[0] is field:
                return field, hit[1]
        return field, _MISSING

    def _keep(self, view: str, field: Field | None, value: _View) -> None:
        if field is not None:
            if self._views is None:
                self._views = {}
            self._views[view] = (field, value)

    def _required_field(self, field: Field | None, key: str) -> Field:
        if field is None:
            raise SipParseError(f"Missing {canonical_name(key)} header")
        return field

    @property
    def call_id(self) -> str:
        field, value = self._memo("call-id", "call-id")
        if value is _MISSING:
            value = parse_call_id(self._required_field(field, "call-id")[2])
            self._keep("call-id", field, value)
        return cast(str, value)

    @property
    def cseq(self) -> CSeq:
        field, value = self._memo("cseq", "cseq")
        if value is _MISSING:
            value = parse_cseq(self._required_field(field, "cseq")[2])
            self._keep("cseq", field, value)
        return cast(CSeq, value)

    @property
    def from_addr(self) -> NameAddr:
        return parse_name_addr(self._required("from"))

    @property
    def to_addr(self) -> NameAddr:
        return parse_name_addr(self._required("to"))

    @property
    def from_addr_view(self) -> NameAddr:
        """`from_addr` as kept, shared (name_addr_view): to read, never to edit."""
        return name_addr_view(self._required("from"))

    @property
    def to_addr_view(self) -> NameAddr:
        """`to_addr` as kept, shared (name_addr_view): to read, never to edit."""
        return name_addr_view(self._required("to"))

    @property
    def from_tag(self) -> str | None:
        field, tag = self._memo("from-tag", "from")
        if tag is _MISSING:
            tag = name_addr_view(self._required_field(field, "from")[2]).tag
            self._keep("from-tag", field, tag)
        return cast(str | None, tag)

    @property
    def to_tag(self) -> str | None:
        field, tag = self._memo("to-tag", "to")
        if tag is _MISSING:
            tag = name_addr_view(self._required_field(field, "to")[2]).tag
            self._keep("to-tag", field, tag)
        return cast(str | None, tag)

    @property
    def max_forwards(self) -> int | None:
        field, value = self._memo("max-forwards", "max-forwards")
        if value is _MISSING:
            value = None if field is None else parse_max_forwards(field[2])
            self._keep("max-forwards", field, value)
        return cast(int | None, value)

    @property
    def content_length(self) -> int | None:
        field, value = self._memo("content-length", "content-length")
        if value is _MISSING:
            value = None if field is None else parse_content_length(field[2])
            self._keep("content-length", field, value)
        return cast(int | None, value)

    def addresses(self, name: str) -> list[NameAddr]:
        """All name-addr values of a list header (Route, Path, P-Associated-URI, ...)."""
        return [parse_name_addr(v) for v in self.headers.values(name)]

    def address_views(self, name: str) -> list[NameAddr]:
        """`addresses(name)` as kept, shared (name_addr_view): to read, never to edit."""
        return [name_addr_view(v) for v in self.headers.values(name)]

    def contact_views(self) -> list[NameAddr]:
        """`contacts()` as kept, shared: to read, never to edit."""
        if self.is_contact_star():
            return []
        return self.address_views("contact")

    def contacts(self) -> list[NameAddr]:
        """Contact values; empty for `Contact: *` (see `is_contact_star`)."""
        if self.is_contact_star():
            return []
        return self.addresses("contact")

    def is_contact_star(self) -> bool:
        first = self.headers.first_field("contact")
        if first is None or first[2] != "*":  # the usual answer, from one scan
            return False
        return self.headers.count("contact") == 1

    def routes(self) -> list[NameAddr]:
        return self.addresses("route")

    def record_routes(self) -> list[NameAddr]:
        return self.addresses("record-route")

    def paths(self) -> list[NameAddr]:
        return self.addresses("path")

    def service_routes(self) -> list[NameAddr]:
        return self.addresses("service-route")

    def auth_headers(self, name: str) -> list[AuthHeader]:
        """Authorization / WWW-Authenticate / Proxy-* values, one per field."""
        return [parse_auth(v) for v in self.headers.get_all(name)]

    # -- proxy edits -----------------------------------------------------------------
    def push_via(self, via: Via | str) -> None:
        """Add a Via on top (§16.6 step 8)."""
        self.headers.prepend("Via", str(via))

    def pop_via(self) -> Via | None:
        """Remove the top Via value and return it (§16.7 step 3)."""
        memo = self._via_memo
        field = self.headers.first_field("via")
        if memo is not None and memo[0] is field and "," not in memo[0][2]:
            self.headers.pop_first_value("via")  # the whole field: its parse is the memo
            return memo[1].copy()
        value = self.headers.pop_first_value("via")
        return None if value is None else parse_via(value)

    def set_top_via(self, via: Via) -> None:
        """Rewrite the top Via value (e.g. to add received/rport, §18.2.1)."""
        self.hand_over_top_via(via.copy())

    def hand_over_top_via(self, via: Via) -> None:
        """`set_top_via` for a Via its caller never edits again (it becomes the memo)."""
        if not self.headers.replace_first_value("via", str(via)):
            raise SipError("no Via header to replace")
        # What was written is what a parse of the new field gives: keep it as the memo.
        field = self.headers.first_field("via")
        if field is not None:
            self._via_memo = (field, via)

    def push_address(self, name: str, value: NameAddr | str) -> None:
        """Insert on top of Record-Route / Route / Path / Service-Route (§16.6 step 4)."""
        self.headers.prepend(canonical_name(name), str(value))

    def pop_address(self, name: str) -> NameAddr | None:
        """Remove and return the top value of an address list (e.g. own Route)."""
        value = self.headers.pop_first_value(name)
        return None if value is None else parse_name_addr(value)

    def set_body(self, body: bytes, content_type: str | None = None) -> None:
        self.body = body
        self.headers.set("Content-Length", str(len(body)))
        if content_type is not None:
            self.headers.set("Content-Type", content_type)

    def validate(self, *, full: bool = False) -> None:
        """Check the headers every element needs (§8.1.1, §8.2.2-§8.2.3) parse:
        Via, From, To, Call-ID, CSeq present, single-valued where required, and the
        CSeq method matching the request method. `full` also parses every Contact,
        Route, Record-Route, Path, Service-Route and authentication header."""
        try:
            self._validate(full)
        except SipParseError as exc:
            exc.can_respond = isinstance(self, Request)
            exc.request = self if isinstance(self, Request) else None
            raise

    def _validate(self, full: bool) -> None:
        hdrs = self.headers
        for key in _SINGLE:
            if hdrs.count(key) > 1:
                raise SipParseError(f"Multiple {canonical_name(key)} headers")
        if full:
            self.vias()
        else:
            self.top_via_view()
        # Each property parses its header and raises on bad syntax or absence.
        _ = self.from_addr, self.to_addr, self.call_id, self.max_forwards, self.content_length
        cseq = self.cseq
        if isinstance(self, Request) and cseq.method != self.method:
            raise SipParseError("CSeq method does not match request method")
        if full:
            for key in _ADDRESS_LISTS:
                if key != "contact" or not self.is_contact_star():
                    self.addresses(key)
            for key in _AUTH:
                self.auth_headers(key)


class Request(Message):
    """A SIP request. `uri` is parsed; assign a new one to replace the Request-URI."""

    __slots__ = ("_uri", "_uri_text", "method")

    def __init__(
        self,
        method: str,
        uri: Uri | str,
        headers: Headers | None = None,
        body: bytes = b"",
        version: str = SIP_VERSION,
        uri_text: str | None = None,
    ) -> None:
        super().__init__(headers, body, version)
        self.method = method
        if uri_text is not None and not isinstance(uri, str):
            self._uri, self._uri_text = uri, uri_text
        elif isinstance(uri, str):
            self._uri_text = uri
            self._uri = parse_uri(uri)
        else:
            self._uri = uri
            self._uri_text = str(uri)

    @classmethod
    def _from_wire(
        cls, method: str, uri: Uri, uri_text: str, headers: Headers, body: bytes, version: str
    ) -> Request:
        self = cls(method, uri, headers, body, version, uri_text)
        return self

    @property
    def uri(self) -> Uri:
        return self._uri

    @uri.setter
    def uri(self, value: Uri) -> None:
        self._uri = value
        self._uri_text = str(value)

    @property
    def uri_text(self) -> str:
        return self._uri_text

    def start_line(self) -> str:
        return f"{self.method} {self._uri_text} {self.version}"

    def copy(self) -> Request:
        """A copy whose headers can be edited independently (§16.6 step 1)."""
        out = Request._from_wire(
            self.method, self._uri.copy(), self._uri_text, self.headers.copy(), self.body,
            self.version,
        )
        out._copy_memos(self)
        return out

    def decrement_max_forwards(self) -> int:
        """§16.6 step 3: decrement Max-Forwards (add 70 if absent); returns the new value.
        Raises SipError at 0: the caller must answer 483 first (§16.3 step 3)."""
        current = self.max_forwards
        if current is None:
            self.headers.add("Max-Forwards", "70")
            return 70
        if current == 0:
            raise SipError("Max-Forwards is 0")
        self.headers.set("Max-Forwards", str(current - 1))
        return current - 1

    def __repr__(self) -> str:
        return f"<Request {self.method} {self._uri_text}>"


class Response(Message):
    """A SIP response. ``generated`` is True for a response this element made itself
    rather than received (a proxy treats those apart, RFC 3261 §16.7 step 6, §16.9)."""

    __slots__ = ("generated", "reason", "status")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | None = None,
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        super().__init__(headers, body, version)
        self.status = status
        self.reason = reason_phrase(status) if reason is None else reason
        self.generated = False

    @classmethod
    def _from_wire(cls, status: int, reason: str, headers: Headers, version: str) -> Response:
        """A received response (the parser's constructor: nothing to compute)."""
        return cls(status, reason, headers, b"", version)

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def copy(self) -> Response:
        out = Response(self.status, self.reason, self.headers.copy(), self.body, self.version)
        out.generated = self.generated
        out._copy_memos(self)
        return out

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
) -> Response:
    """Build a response per §8.2.6.2: Via (all, in order), From, Call-ID and CSeq copied
    byte for byte; To copied, with `to_tag` added if it has no tag (not for 100,
    §8.2.6.1); Content-Length: 0. Add further headers and a body afterwards."""
    fields = []
    for f in request.headers.fields:
        key = f[0]
        if key in ("via", "from", "call-id", "cseq"):
            fields.append(f)
        elif key == "to":
            if to_tag is not None and status != 100 and request.to_tag is None:
                fields.append((key, f[1], f"{f[2]};tag={to_tag}", None))
            else:
                fields.append(f)
    headers = Headers(fields)
    headers.add("Content-Length", "0")
    return Response(status, reason, headers)


def _copy_fields(src: Request, keys: tuple[str, ...]) -> Headers:
    return Headers([f for f in src.headers.fields if f[0] in keys])


def make_cancel(request: Request) -> Request:
    """CANCEL for `request` (§9.1): same Request-URI, Call-ID, From, To, CSeq number
    and Route set, the request's top Via only, Max-Forwards 70."""
    cseq = request.cseq
    headers = Headers()
    headers.add("Via", request.headers.values("via")[0])
    for f in _copy_fields(request, ("from", "to", "call-id", "route")).fields:
        headers.fields.append(f)
    headers.add("CSeq", f"{cseq.seq} CANCEL")
    headers.add("Max-Forwards", "70")
    headers.add("Content-Length", "0")
    return Request("CANCEL", request.uri.copy(), headers)


def make_ack(request: Request, response: Response) -> Request:
    """ACK for a non-2xx final response (§17.1.1.3): the INVITE's Request-URI, top Via,
    From, Call-ID, Route set and CSeq number; To from the response (with its tag)."""
    cseq = request.cseq
    headers = Headers()
    headers.add("Via", request.headers.values("via")[0])
    for f in _copy_fields(request, ("from", "call-id")).fields:
        headers.fields.append(f)
    to = response.headers.get("to")
    headers.add("To", to if to is not None else request._required("to"))
    for f in _copy_fields(request, ("route",)).fields:
        headers.fields.append(f)
    headers.add("CSeq", f"{cseq.seq} ACK")
    headers.add("Max-Forwards", "70")
    headers.add("Content-Length", "0")
    return Request("ACK", request.uri.copy(), headers)
