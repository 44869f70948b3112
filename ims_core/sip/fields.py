"""Typed views of the single-purpose headers: Via (§20.42), CSeq (§20.16),
Max-Forwards (§20.22), Content-Length (§20.14), Call-ID (§20.8)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from .errors import SipParseError
from .grammar import CALL_ID_RE, CSEQ_RE, MAX_PORT, TOKEN_CHARS, VIA_HEAD_RE
from .params import HasParams, Param, format_params, parse_generic_params

# §8.1.1.7: branch IDs of RFC 3261 elements start with this magic cookie.
MAGIC_COOKIE = "z9hG4bK"


@dataclass(slots=True, init=False)
class Via(HasParams):
    """One via-parm: `SIP/2.0/UDP host:port;branch=...;received=...;rport`."""

    transport: str
    host: str
    port: int | None = None
    params: list[Param] = field(default_factory=list)
    protocol: str = "SIP/2.0"

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, transport: str, host: str, port: int | None = None,
                 params: list[Param] | None = None, protocol: str = "SIP/2.0") -> None:
        self.transport = transport
        self.host = host
        self.port = port
        self.params = [] if params is None else params
        self.protocol = protocol

    def __str__(self) -> str:
        sent_by = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"{self.protocol}/{self.transport} {sent_by}{format_params(self.params)}"

    @property
    def branch(self) -> str | None:
        return self.param("branch")

    @property
    def received(self) -> str | None:
        return self.param("received")

    @property
    def rport(self) -> int | None:
        """The rport value (RFC 3581); None when absent, empty or not a port (then
        `mark_received` fills in the source port, as for an empty one)."""
        value = self.param("rport")
        if not value or not _digits(value) or int(value) > MAX_PORT:
            return None
        return int(value)

    @property
    def sent_by(self) -> str:
        """`host[:port]` lower-cased, for transaction matching (§17.2.3)."""
        host = self.host.lower()
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def has_magic_cookie(self) -> bool:
        branch = self.branch
        return branch is not None and branch.startswith(MAGIC_COOKIE)

    def copy(self) -> Via:
        return Via(self.transport, self.host, self.port, list(self.params), self.protocol)


# sent-protocol and sent-by of a Via, as text up to the first ";" -> (protocol,
# transport, host, port, where the match ended). A node sees the same few of these (its
# peers', its UEs') over and over while branches are new in every message. Only heads
# that parse are kept; emptied when full.
_ViaHead = tuple[str, str, str, int | None, int]
_VIA_HEADS: dict[str, _ViaHead] = {}
VIA_HEAD_CACHE_SIZE = 1024


def _via_head(head: str) -> _ViaHead:
    """VIA_HEAD_RE on `head` (a Via value up to its first ";", which the expression
    cannot cross, so its match on the whole value is the same), checked."""
    m = VIA_HEAD_RE.match(head)
    if m is None:
        raise SipParseError("Bad Via header")
    name, version, transport, host, port = m.groups()
    if host[0] == "[":
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise SipParseError("Bad IPv6 address in Via") from None
    # Responses go to this port (§18.2.2): one beyond 65535 makes sendto raise, and
    # asyncio then closes the whole UDP transport.
    if port and int(port) > MAX_PORT:
        raise SipParseError("Bad port in Via")
    return f"{name}/{version}", transport, host, int(port) if port else None, m.end()


def parse_via(value: str) -> Via:
    """Parse one via-parm (already split from its neighbours at commas)."""
    semi = value.find(";")
    head = value if semi < 0 else value[:semi]
    parsed = _VIA_HEADS.get(head)
    if parsed is None:
        parsed = _via_head(head)
        if len(head) <= 128:  # the usual head is 30-60 characters
            if len(_VIA_HEADS) >= VIA_HEAD_CACHE_SIZE:
                _VIA_HEADS.clear()
            _VIA_HEADS[head] = parsed
    protocol, transport, host, port, end = parsed
    params = parse_generic_params(value, end)
    for pname, pvalue in params:
        if pvalue is None and pname.lower() in ("branch", "received", "maddr", "ttl"):
            raise SipParseError(f"Via parameter {pname} needs a value")
    return Via(transport, host, port, params, protocol)


@dataclass(frozen=True, slots=True, init=False)
class CSeq:
    """CSeq: sequence number (< 2**31, §8.1.1.5) and method."""

    seq: int
    method: str

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, seq: int, method: str) -> None:
        object.__setattr__(self, "seq", seq)
        object.__setattr__(self, "method", method)

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(value: str) -> CSeq:
    value = value.strip(" \t")
    digits, _, method = value.partition(" ")
    # The usual "1 REGISTER": what CSEQ_RE takes, checked without it.
    if (
        0 < len(digits) <= 10 and digits.isascii() and digits.isdigit() and method
        and TOKEN_CHARS.issuperset(method)
    ):
        number = int(digits)
        if number >= 2**31:
            raise SipParseError("CSeq number too large")
        return CSeq(number, method)
    m = CSEQ_RE.fullmatch(value)
    if m is None:
        raise SipParseError("Bad CSeq header")
    seq = int(m.group(1))
    if seq >= 2**31:
        raise SipParseError("CSeq number too large")
    return CSeq(seq, m.group(2))


def _digits(value: str) -> bool:
    """1*DIGIT, at most 10 of them (ASCII only: str.isdigit alone takes other scripts')."""
    return 0 < len(value) <= 10 and value.isascii() and value.isdigit()


def parse_max_forwards(value: str) -> int:
    """Max-Forwards is 0-255 (§20.22; RFC 4475 scalarlg)."""
    value = value.strip(" \t")
    if not _digits(value) or int(value) > 255:
        raise SipParseError("Bad Max-Forwards header")
    return int(value)


def parse_content_length(value: str) -> int:
    value = value.strip(" \t")
    if not _digits(value):
        raise SipParseError("Bad Content-Length header")
    return int(value)


def parse_call_id(value: str) -> str:
    value = value.strip(" \t")
    if CALL_ID_RE.fullmatch(value) is None:
        raise SipParseError("Bad Call-ID header")
    return value
