"""Requests a proxy core sends on its own behalf, as a UAC (RFC 3261 §8.1): the NOTIFYs
of a notifier, a P-CSCF's SUBSCRIBE, a third-party REGISTER. Each gets a client
transaction of its own; the sender learns its final response once through a callback,
a timeout reading as 408 and a transport failure as 503 (§8.1.3.1, §8.1.3.2)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ims_core import log
from ims_core.sip import Request, Response, make_response
from ims_core.transaction import (
    ResponseReceived,
    TimedOut,
    TransactionTerminated,
    TransportFailed,
)

_log = log.get("proxy")

# on_response(response, now): the final response, or a generated 408/503 (generated=True).
OnResponse = Callable[[Response, float], None]


class Originate(Protocol):
    """`ProxyCore.originate`, as the sans-I/O parts of a node that send requests of their
    own (a notifier, a subscriber) are handed it: False when it has nowhere to go."""

    def __call__(self, request: Request, on_response: OnResponse, now: float, *,
                 transport: str = "UDP", strict: bool = False) -> bool: ...


@dataclass(slots=True, eq=False)
class Outgoing:
    """One request of ours in flight."""

    request: Request
    on_response: OnResponse
    answered: bool = False

    def event(self, event: object, now: float) -> bool:
        """Turn a transaction event into at most one call of ``on_response``; True
        once answered or ended: forget it (the transaction absorbs what follows)."""
        if isinstance(event, TransactionTerminated):
            return True
        if self.answered:
            return False
        if isinstance(event, ResponseReceived):
            if event.response.status < 200:
                return False
            response = event.response
        elif isinstance(event, TimedOut | TransportFailed):
            status = 408 if isinstance(event, TimedOut) else 503
            response = make_response(self.request, status)
            response.generated = True
        else:
            return False
        self.answered = True
        try:
            self.on_response(response, now)
        except Exception:  # one sender's mistake must not take the node down
            _log.exception("proxy.uac_callback_failed", method=self.request.method,
                           call_id=self.request.headers.get("call-id"))
        return True
