"""The states and inputs of the peer state machine (RFC 6733 §5.6, watchdog RFC 3539
§3.4): what :class:`.peer.Peer` is in and what it reacts to."""

from __future__ import annotations

from enum import Enum, auto

from . import capabilities as caps


class State(Enum):
    CLOSED = auto()
    WAIT_CONN_ACK = auto()
    WAIT_CEA = auto()  # Wait-I-CEA
    WAIT_CER = auto()  # responder: connection accepted, CER not yet received
    OPEN = auto()  # I-Open / R-Open
    CLOSING = auto()

    # Members are singletons compared by identity: hashing by identity is as right, and
    # skips Enum's hash-the-name call on every (state, input) look-up of each message.
    __hash__ = object.__hash__


class Role(Enum):
    INITIATOR = auto()
    RESPONDER = auto()


class Watchdog(Enum):
    """RFC 3539 §3.4 states while Open (REOPEN is folded into the CER/CEA exchange)."""

    OKAY = auto()
    SUSPECT = auto()


class Input(Enum):
    START = auto()
    CONN_ACK = auto()
    CONN_FAILED = auto()
    PEER_DISC = auto()
    TIMEOUT = auto()
    STOP = auto()
    RCV_CER = auto()
    RCV_CEA = auto()
    RCV_DWR = auto()
    RCV_DWA = auto()
    RCV_DPR = auto()
    RCV_DPA = auto()
    RCV_MSG = auto()

    __hash__ = object.__hash__  # as State's


# Disconnect-Cause (RFC 6733 §5.4.3)
REBOOTING = 0
BUSY = 1
DO_NOT_WANT_TO_TALK_TO_YOU = 2

# The base protocol's messages as inputs; anything else is RCV_MSG.
BASE_INPUT = {
    (caps.CER, True): Input.RCV_CER,
    (caps.CER, False): Input.RCV_CEA,
    (caps.DWR, True): Input.RCV_DWR,
    (caps.DWR, False): Input.RCV_DWA,
    (caps.DPR, True): Input.RCV_DPR,
    (caps.DPR, False): Input.RCV_DPA,
}
