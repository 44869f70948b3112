"""Server transactions: INVITE (RFC 3261 §17.2.1, Figure 7, with the Accepted state of
RFC 6026 §7.1) and non-INVITE (§17.2.2, Figure 8).

The request that created the transaction is handled by the TU; what reaches
`receive()` afterwards is a retransmission or (INVITE only) the ACK.
"""

from __future__ import annotations

from typing import ClassVar

from ims_core.metrics import method_label, status_class
from ims_core.sip import Message, Request, Response, make_response

from .base import ACCEPTED, CONFIRMED, Action, Input, Keeps, State, Table, Transaction
from .config import TimerConfig
from .events import AckReceived

A = Action
S = State
I = Input  # noqa: E741

_ERROR = ((A.REPORT_TRANSPORT_ERROR,), S.TERMINATED)
# Inputs read per message, as module names (see base: an Enum member costs more).
_ACK, _REQUEST = I.ACK, I.REQUEST
_TU_1XX, _TU_2XX, _TU_3XX_6XX = I.TU_1XX, I.TU_2XX, I.TU_3XX_6XX


class ServerTransaction(Transaction):
    """Feed retransmissions/ACK with `receive()`; answer with `send_response()`. Once
    its final response is sent it keeps only that response's bytes (and `flow`, where
    they go): not the request (§17.2.1, §17.2.2 resend the response, nothing else).

    Counted in the owner's metrics: each response of the TU in ``responses_sent``
    (method, class), except a 2xx identical to the last one sent (a UAS's 2xx
    retransmission the TU passes on, RFC 6026 §7.1), which is a retransmission "sent" as
    is every response resent for a retransmitted request or Timer G; a request matched
    here (a retransmission, or an ACK repeated in Confirmed) is a retransmission
    "received"."""

    __slots__ = ("_last_response", "last_status")

    def __init__(
        self,
        request: Request,
        *,
        reliable: bool,
        now: float,
        config: TimerConfig | None = None,
        key: tuple[object, ...] | None = None,
    ) -> None:
        super().__init__(request, reliable=reliable, config=config, key=key)
        self._last_response: bytes | None = None
        self.last_status = 0
        self._start_actions(now)

    def _start_actions(self, now: float) -> None:
        """Timers that run from the request's arrival (none by default)."""

    def receive(self, request: Request, now: float) -> None:
        """A request matched to this transaction (§17.2.3): retransmission or ACK."""
        inp = _ACK if request.method == "ACK" else _REQUEST
        if inp is _REQUEST or self.state is CONFIRMED:
            self._retransmission("received")
        self._input(inp, now, request)
        self._fire_due(now)

    def send_response(self, response: Response, now: float) -> None:
        """The TU's response; raises TransactionError if the state forbids it
        (e.g. a second final response to a non-INVITE request)."""
        status = response.status
        if status < 200:
            inp = _TU_1XX
        elif status < 300:
            inp = _TU_2XX
        else:
            inp = _TU_3XX_6XX
        self._input(inp, now, response)
        self._fire_due(now)

    # -- actions -----------------------------------------------------------------------
    def _send_response(self, now: float, msg: Message | None) -> None:
        assert isinstance(msg, Response)
        data = msg.to_bytes()
        status = msg.status
        if self.state is ACCEPTED and data == self._last_response:
            self._retransmission("sent")
        elif (owner := self._owner) is not None:
            owner.metrics.responses_sent.inc(method_label(self.method), status_class(status))
        self._last_response = data
        self.last_status = status
        self._emit(data)
        if status >= 200:
            self._request = None

    def _resend_response(self, now: float, msg: Message | None) -> None:
        if self._last_response is not None:
            self._emit(self._last_response)
            self._retransmission("sent")


class InviteServerTransaction(ServerTransaction):
    """Figure 7 (+ RFC 6026): Proceeding -> Completed -> Confirmed -> Terminated, or
    Proceeding -> Accepted -> Terminated after a 2xx."""

    __slots__ = ()
    INITIAL = S.PROCEEDING
    # §17.2.1; RFC 6026 §7.1 (Accepted, Timer L).
    TABLE: ClassVar[Table] = {
        (S.PROCEEDING, I.REQUEST): ((A.RESEND_RESPONSE,), S.PROCEEDING),
        (S.PROCEEDING, I.TU_1XX): ((A.SEND_RESPONSE,), S.PROCEEDING),
        (S.PROCEEDING, I.TU_2XX): ((A.SEND_RESPONSE, A.START_L), S.ACCEPTED),
        (S.PROCEEDING, I.TU_3XX_6XX): (
            (A.SEND_RESPONSE, A.START_G, A.START_H), S.COMPLETED,
        ),
        (S.PROCEEDING, I.TRANSPORT_ERROR): _ERROR,
        (S.COMPLETED, I.REQUEST): ((A.RESEND_RESPONSE,), S.COMPLETED),
        (S.COMPLETED, I.TIMER_G): ((A.RESEND_RESPONSE, A.DOUBLE_G), S.COMPLETED),
        (S.COMPLETED, I.TIMER_H): ((A.REPORT_TIMEOUT,), S.TERMINATED),
        (S.COMPLETED, I.ACK): ((A.START_I,), S.CONFIRMED),
        (S.COMPLETED, I.TRANSPORT_ERROR): _ERROR,
        (S.CONFIRMED, I.TIMER_I): ((), S.TERMINATED),
        (S.ACCEPTED, I.ACK): ((A.PASS_ACK,), S.ACCEPTED),
        (S.ACCEPTED, I.TU_2XX): ((A.SEND_RESPONSE,), S.ACCEPTED),
        (S.ACCEPTED, I.TIMER_L): ((), S.TERMINATED),
    }
    # Absorbed (no entry): INVITE/ACK retransmissions in Confirmed (§17.2.1) and INVITE
    # retransmissions in Accepted (RFC 6026 §7.1).
    KEEPS_TIMERS: ClassVar[Keeps] = {
        S.PROCEEDING: frozenset(),
        S.COMPLETED: frozenset("GH"),
        S.CONFIRMED: frozenset("I"),
        S.ACCEPTED: frozenset("L"),
    }

    def __init__(
        self,
        request: Request,
        *,
        reliable: bool,
        now: float,
        config: TimerConfig | None = None,
        key: tuple[object, ...] | None = None,
        send_trying: bool = False,
    ) -> None:
        super().__init__(request, reliable=reliable, now=now, config=config, key=key)
        if send_trying:  # §17.2.1: 100 Trying unless the TU answers within 200 ms
            self.send_response(make_response(request, 100), now)

    def _pass_ack(self, now: float, msg: Message | None) -> None:
        assert isinstance(msg, Request)
        self._tell(AckReceived(msg))

    def _start_g(self, now: float, msg: Message | None) -> None:
        if not self.reliable:  # §17.2.1: Timer G on unreliable transports only
            self._start("G", self.config.t1, now)

    def _double_g(self, now: float, msg: Message | None) -> None:
        self._start("G", min(2 * self._intervals["G"], self.config.t2), now)

    def _start_h(self, now: float, msg: Message | None) -> None:
        self._start("H", self.config.timeout, now)

    def _start_i(self, now: float, msg: Message | None) -> None:
        self._start("I", 0.0 if self.reliable else self.config.t4, now)

    def _start_l(self, now: float, msg: Message | None) -> None:
        self._start("L", self.config.timeout, now)


_NIST_FINAL = ((A.SEND_RESPONSE, A.START_J), S.COMPLETED)
_NIST_GUARD = (A.REPORT_TIMEOUT, A.START_ABANDON)


class NonInviteServerTransaction(ServerTransaction):
    """Figure 8: Trying -> Proceeding -> Completed -> Terminated.

    Every request gets a final response, and no transaction waits forever for one: 64*T1
    after the request came (the client's Timer F, §17.1.2.2, has fired by then) a
    transaction still without the TU's final response reports TimedOut("guard") so the
    TU answers it now or knows an answer is under way, and it terminates 64*T1 later
    (time for a request the TU forwarded late to time out downstream) if none came."""

    __slots__ = ()
    INITIAL = S.TRYING
    # §17.2.2. Retransmissions in Trying are absorbed (no entry).
    TABLE: ClassVar[Table] = {
        (S.TRYING, I.TU_1XX): ((A.SEND_RESPONSE,), S.PROCEEDING),
        (S.TRYING, I.TU_2XX): _NIST_FINAL,
        (S.TRYING, I.TU_3XX_6XX): _NIST_FINAL,
        (S.TRYING, I.TIMER_GUARD): (_NIST_GUARD, S.TRYING),
        (S.TRYING, I.TIMER_ABANDON): ((), S.TERMINATED),
        (S.PROCEEDING, I.REQUEST): ((A.RESEND_RESPONSE,), S.PROCEEDING),
        (S.PROCEEDING, I.TU_1XX): ((A.SEND_RESPONSE,), S.PROCEEDING),
        (S.PROCEEDING, I.TU_2XX): _NIST_FINAL,
        (S.PROCEEDING, I.TU_3XX_6XX): _NIST_FINAL,
        (S.PROCEEDING, I.TRANSPORT_ERROR): _ERROR,
        (S.PROCEEDING, I.TIMER_GUARD): (_NIST_GUARD, S.PROCEEDING),
        (S.PROCEEDING, I.TIMER_ABANDON): ((), S.TERMINATED),
        (S.COMPLETED, I.REQUEST): ((A.RESEND_RESPONSE,), S.COMPLETED),
        (S.COMPLETED, I.TIMER_J): ((), S.TERMINATED),
        (S.COMPLETED, I.TRANSPORT_ERROR): _ERROR,
    }
    KEEPS_TIMERS: ClassVar[Keeps] = {
        S.TRYING: frozenset({"guard", "abandon"}),
        S.PROCEEDING: frozenset({"guard", "abandon"}),
        S.COMPLETED: frozenset("J"),
    }

    def _start_actions(self, now: float) -> None:
        self._start("guard", self.config.timeout, now)

    def _start_abandon(self, now: float, msg: Message | None) -> None:
        self._start("abandon", self.config.timeout, now)

    def _start_j(self, now: float, msg: Message | None) -> None:
        self._start("J", 0.0 if self.reliable else self.config.timeout, now)


def create_server_transaction(
    request: Request,
    *,
    reliable: bool,
    now: float,
    config: TimerConfig | None = None,
    key: tuple[object, ...] | None = None,
    send_trying: bool = False,
) -> ServerTransaction:
    """An INVITE or non-INVITE server transaction for a new request (not ACK)."""
    if request.method == "ACK":
        raise ValueError("ACK does not create a server transaction")
    if request.method == "INVITE":
        return InviteServerTransaction(
            request, reliable=reliable, now=now, config=config, key=key,
            send_trying=send_trying,
        )
    return NonInviteServerTransaction(request, reliable=reliable, now=now, config=config, key=key)
