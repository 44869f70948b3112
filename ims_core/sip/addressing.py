"""Where a message came from and where one goes: the pure rules of RFC 3261 §18.

Nothing here does I/O, so the sans-I/O proxy core uses these types and rules too:
`Source` (a received message's flow), `Destination` (where to send bytes) and
`destination` (one shared per connectionless peer), `mark_received` (§18.2.1 with
RFC 3581 rport), `reply_destination` (§18.2.2), `choose_transport` (§18.1.1 size rule)
and `uri_destination` (§18.1.1 / RFC 3263 §4 without DNS).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

from .fields import Via
from .uri import SipUri

UDP = "UDP"
TCP = "TCP"
RELIABLE = frozenset({TCP, "TLS", "SCTP", "WS", "WSS"})
DEFAULT_PORT = 5060
# §18.1.1: a request within 200 bytes of a 1500-byte path MTU goes over a congestion-
# controlled transport; 1300 when the MTU is unknown.
UDP_SIZE_LIMIT = 1300


@dataclass(frozen=True, slots=True, init=False)
class Destination:
    """Send to `host:port` over `transport`; `conn`, when set, is the transport's
    connection to prefer (a response goes back over the request's connection, §18.2.2).
    `local_port`: send from this one of our ports (0: the main listener), e.g. a
    protected port of an IPsec security association (TS 33.203 §7.1)."""

    transport: str
    host: str
    port: int
    conn: object | None = None
    local_port: int = 0

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, transport: str, host: str, port: int, conn: object | None = None,
                 local_port: int = 0) -> None:
        object.__setattr__(self, "transport", transport)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "conn", conn)
        object.__setattr__(self, "local_port", local_port)

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE

    @property
    def key(self) -> tuple[str, int]:
        return (self.host, self.port)

    def over(self, transport: str) -> Destination:
        """The same destination over `transport` (dataclasses.replace costs 5x this)."""
        return destination(transport, self.host, self.port, self.conn, self.local_port)

    def __str__(self) -> str:
        return f"{(self.transport or 'any').lower()}:{self.host}:{self.port}"


# One Destination per connectionless peer, shared (it is frozen): a node keeps one in
# every transaction, thousands of them to the same few peers over UDP, and each one
# would be another object for the cyclic collector to scan. Emptied when full: a P-CSCF
# facing many UEs makes new ones then.
_SHARED: dict[tuple[str, str, int, int], Destination] = {}
_SHARED_MAX = 4096


def destination(transport: str, host: str, port: int, conn: object | None = None,
                local_port: int = 0) -> Destination:
    """``Destination(transport, host, port, conn, local_port)``; without a connection,
    the one already made for the same values."""
    if conn is not None:
        return Destination(transport, host, port, conn, local_port)
    key = (transport, host, port, local_port)
    dest = _SHARED.get(key)
    if dest is None:
        if len(_SHARED) >= _SHARED_MAX:
            _SHARED.clear()
        dest = _SHARED[key] = Destination(transport, host, port, None, local_port)
    return dest


@dataclass(frozen=True, slots=True, init=False)
class Source:
    """Where a received message came from: transport, remote address, the connection
    (TCP) and, for a request, where its responses go (`reply_to`, §18.2.2).
    `local_port`: the one of our ports it arrived on when not the main listener."""

    transport: str
    host: str
    port: int
    conn: object | None = None
    reply_to: Destination | None = None
    local_port: int = 0

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, transport: str, host: str, port: int, conn: object | None = None,
                 reply_to: Destination | None = None, local_port: int = 0) -> None:
        object.__setattr__(self, "transport", transport)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "conn", conn)
        object.__setattr__(self, "reply_to", reply_to)
        object.__setattr__(self, "local_port", local_port)

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE

    @property
    def responses_to(self) -> Destination:
        """Where responses to a request from here go: `reply_to` (§18.2.2) or, without
        it, back where it came from."""
        return self.reply_to or destination(self.transport, self.host, self.port, self.conn)

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.host}:{self.port}"


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_RE = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


@lru_cache(maxsize=1024)  # asked for every message sent, of the same few peers
def is_ip(host: str) -> bool:
    """True for an IPv4 address or a bracketed/bare IPv6 address."""
    if _IPV4_RE.fullmatch(host):  # the common case, without building an address object
        return True
    if ":" not in host:
        return False
    try:
        ipaddress.IPv6Address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return False
    return True


def mark_received(via: Via, host: str, port: int) -> bool:
    """§18.2.1 and RFC 3581 §4: add `received` when sent-by differs from the source
    address, fill an empty `rport` (adding `received` then too). True if `via` changed."""
    changed = False
    if via.has_param("rport") and via.rport is None:
        via.set_param("rport", str(port))
        via.set_param("received", host)
        return True
    if via.host.strip("[]") != host.strip("[]"):
        via.set_param("received", host)
        changed = True
    return changed


def reply_destination(via: Via, transport: str, conn: object | None) -> Destination:
    """§18.2.2 (and RFC 3581 §4): where a response to a request with top Via `via`
    (already marked by `mark_received`) goes. On a reliable transport the request's
    connection `conn` is preferred; the address is the fallback if it closes."""
    host = via.received or via.host
    maddr = via.param("maddr")
    if maddr and transport == UDP:
        host = maddr
    rport = via.rport
    port = rport if rport is not None else (via.port or DEFAULT_PORT)
    return destination(transport, host, port, conn)


def via_destination(via: Via) -> Destination:
    """Where a response goes when no connection or transaction remembers (§18.2.2),
    e.g. a 2xx retransmission forwarded statelessly (§16.7)."""
    return reply_destination(via, via.transport.upper(), None)


def choose_transport(transport: str, size: int, *, is_request: bool = True,
                     limit: int = UDP_SIZE_LIMIT) -> str:
    """§18.1.1: a request larger than `limit` bytes that would go over UDP goes over TCP."""
    if transport == UDP and is_request and size > limit:
        return TCP
    return transport


def uri_destination(uri: SipUri, default_transport: str) -> Destination:
    """The next hop named by a SIP URI (RFC 3263 §4.1-4.2 for numeric hosts or without
    SRV): maddr wins over host, the `transport` parameter over `default_transport`,
    port 5060 by default (5061 for sips)."""
    transport = (uri.transport or "").upper() or default_transport
    if uri.secure:
        transport = "TLS"
    host = uri.maddr or uri.host
    port = uri.port or (5061 if uri.secure else DEFAULT_PORT)
    return destination(transport, host, port)
