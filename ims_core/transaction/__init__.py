"""Sans-I/O SIP transactions (RFC 3261 §17, RFC 6026), driven by `now`.

Create transactions through a `TransactionTable` (or directly), feed them with
`receive(msg, now)` / `send_response(resp, now)` / `transport_error(now)` /
`handle_timer(now)`, then drain `data_to_send()` and `next_event()`; re-arm one timer
at `get_timer()`.
"""

from .base import Action, Input, State, Transaction, TransactionError
from .client import (
    ClientTransaction,
    InviteClientTransaction,
    NonInviteClientTransaction,
    create_client_transaction,
)
from .config import TimerConfig
from .events import (
    AckReceived,
    Event,
    ResponseReceived,
    TimedOut,
    TransactionTerminated,
    TransportFailed,
)
from .server import (
    InviteServerTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    create_server_transaction,
)
from .table import TransactionTable, client_key, server_key

__all__ = [
    "AckReceived",
    "Action",
    "ClientTransaction",
    "Event",
    "Input",
    "InviteClientTransaction",
    "InviteServerTransaction",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "ResponseReceived",
    "ServerTransaction",
    "State",
    "TimedOut",
    "TimerConfig",
    "Transaction",
    "TransactionError",
    "TransactionTable",
    "TransactionTerminated",
    "TransportFailed",
    "client_key",
    "create_client_transaction",
    "create_server_transaction",
    "server_key",
]
