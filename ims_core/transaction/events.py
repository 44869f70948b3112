"""What a transaction tells its transaction user (TU); drained with `next_event()`.

Not frozen: one or two are made per message, and a frozen dataclass takes several
times as long to build; nobody edits them."""

from __future__ import annotations

from dataclasses import dataclass

from ims_core.sip import Request, Response


@dataclass(slots=True, init=False)
class ResponseReceived:
    """A client transaction passes a response up: every 1xx, the first non-2xx final
    response, and every 2xx (retransmissions too: the TU forwards them, §16.7, RFC 6026)."""

    response: Response

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass(slots=True)
class AckReceived:
    """An ACK matched an INVITE server transaction in the Accepted state (RFC 6026 §8.5):
    the TU forwards it like any 2xx ACK."""

    request: Request


@dataclass(slots=True)
class TimedOut:
    """Timer B or F (no final response: the proxy answers 408, §16.7 step 10), the
    "cancel" guard (no final response 64*T1 after the TU's CANCEL, §9.1), Timer H
    (no ACK for our final response, §17.2.1) or a non-INVITE server transaction's
    "guard" (the TU gave no final response within 64*T1: it should answer now unless an
    answer is under way; the transaction ends 64*T1 later either way) fired."""

    timer: str


@dataclass(slots=True)
class TransportFailed:
    """The transport reported a failure sending this transaction's message (§17.1.4,
    §17.2.4): a client TU treats it like a 503 (§16.7 step 10 / §8.1.3.1)."""


@dataclass(slots=True)
class TransactionTerminated:
    """The transaction reached Terminated; the TU can release its state."""


Event = ResponseReceived | AckReceived | TimedOut | TransportFailed | TransactionTerminated
