"""SIP transport on asyncio (RFC 3261 §18): UDP and TCP on one address and port.

`SipTransport(config, handler)` listens and hands each message with its `Source` to
`handler`; `send(data, Destination)` writes bytes, reusing TCP connections. What to do
with the bytes that arrive (parse, mark Via `received`/`rport`, answer 400/513, drop
keep-alives) is decided by the sans-I/O `ims_core.sip.inbound`; `Source`, `Destination`
and the §18 transport rules live in the sans-I/O `ims_core.sip.addressing`.
"""

from .config import TransportConfig
from .layer import SipTransport
from .resolver import NameCache
from .tcp import ConnectionTable, TcpConnection

__all__ = [
    "ConnectionTable",
    "NameCache",
    "SipTransport",
    "TcpConnection",
    "TransportConfig",
]
