"""Events the sans-I/O peer (:mod:`.peer`) hands to its adapter. Small dataclasses."""

from __future__ import annotations

from dataclasses import dataclass

from .capabilities import Capabilities
from .message import Message


class Event:
    """Base class of peer events."""

    __slots__ = ()


@dataclass(slots=True)
class ConnectRequested(Event):
    """Initiator: open a transport to the peer now, then call ``connection_made`` or
    ``connection_failed``."""


@dataclass(slots=True)
class CloseRequested(Event):
    """Close the transport once pending output is written (then call ``connection_lost``)."""

    reason: str


@dataclass(slots=True)
class PeerUp(Event):
    """Capabilities exchange succeeded (RFC 6733 §5.3); the peer is Open."""

    capabilities: Capabilities
    applications: frozenset[int]


@dataclass(slots=True)
class PeerDown(Event):
    """The peer left the Open state (DPR, watchdog failure, connection loss)."""

    reason: str


@dataclass(slots=True)
class PeerSuspect(Event):
    """The watchdog went SUSPECT (RFC 3539 §3.4): route new requests elsewhere if possible."""


@dataclass(slots=True)
class PeerRecovered(Event):
    """Traffic arrived while SUSPECT: back to OKAY (RFC 3539 §3.4)."""


@dataclass(slots=True)
class RequestReceived(Event):
    """An application request; answer it with ``peer.send_answer``."""

    message: Message


@dataclass(slots=True)
class AnswerReceived(Event):
    """The answer to the request sent with this Hop-by-Hop identifier."""

    hop_by_hop: int
    message: Message


@dataclass(slots=True)
class RequestFailed(Event):
    """A pending request will get no answer: timed out, undecodable answer or link lost."""

    hop_by_hop: int
    reason: str
    timed_out: bool = False
