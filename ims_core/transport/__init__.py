"""SIP transport on asyncio (RFC 3261 §18): UDP and TCP on one address and port.

`SipTransport(config, handler)` listens, parses, marks Via `received`/`rport` and hands
each message with its `Source` to `handler`; `send(data, Destination)` writes bytes,
reusing TCP connections. The rules that need no I/O (`Source`, `Destination`, §18
transport selection) live in the sans-I/O `ims_core.sip.addressing`.
"""

from .config import TransportConfig
from .layer import SipTransport
from .tcp import ConnectionTable, TcpConnection

__all__ = [
    "ConnectionTable",
    "SipTransport",
    "TcpConnection",
    "TransportConfig",
]
