"""SIP transport on asyncio (RFC 3261 §18): UDP and TCP on one address and port.

`SipTransport(config, handler)` listens, parses, marks Via `received`/`rport` and hands
each message with its `Source` to `handler`; `send(data, Destination)` writes bytes,
reusing TCP connections. The rules that need no I/O are in `addressing`.
"""

from .addressing import (
    RELIABLE,
    TCP,
    UDP,
    UDP_SIZE_LIMIT,
    Destination,
    Source,
    choose_transport,
    is_ip,
    mark_received,
    reply_destination,
    uri_destination,
    via_destination,
)
from .config import TransportConfig
from .layer import SipTransport
from .tcp import ConnectionTable, TcpConnection

__all__ = [
    "RELIABLE",
    "TCP",
    "UDP",
    "UDP_SIZE_LIMIT",
    "ConnectionTable",
    "Destination",
    "SipTransport",
    "Source",
    "TcpConnection",
    "TransportConfig",
    "choose_transport",
    "is_ip",
    "mark_received",
    "reply_destination",
    "uri_destination",
    "via_destination",
]
