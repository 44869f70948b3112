"""Client transactions: INVITE (RFC 3261 §17.1.1, Figure 5, with the Accepted state of
RFC 6026 §7.2) and non-INVITE (§17.1.2, Figure 6)."""

from __future__ import annotations

from typing import ClassVar

from ims_core.sip import Message, Request, Response, make_ack

from .base import CALLING, COMPLETED, Action, Input, Keeps, State, Table, Transaction
from .config import TimerConfig
from .events import ResponseReceived

A = Action
S = State
I = Input  # noqa: E741

_PASS = (A.PASS_RESPONSE,)
_ERROR = ((A.REPORT_TRANSPORT_ERROR,), S.TERMINATED)
# Inputs read per message, as module names (see base: an Enum member costs more).
_1XX, _2XX, _3XX_6XX = I.RESPONSE_1XX, I.RESPONSE_2XX, I.RESPONSE_3XX_6XX


class ClientTransaction(Transaction):
    """Sends `request` on creation; feed it responses with `receive()`. `data` is the
    request already serialised by the TU (it must be `request.to_bytes()`).

    Counted in the owner's metrics (the table counts the request itself): each resend
    by Timer A or E, and each ACK resent for a repeated non-2xx final, as a
    retransmission "sent"; the first such ACK in ``requests_sent``; a response arriving
    in Completed (absorbed, or re-ACKed) as a retransmission "received"."""

    __slots__ = ("_request_bytes",)

    def __init__(
        self,
        request: Request,
        *,
        reliable: bool,
        now: float,
        config: TimerConfig | None = None,
        key: tuple[object, ...] | None = None,
        data: bytes | None = None,
    ) -> None:
        super().__init__(request, reliable=reliable, config=config, key=key)
        self._request_bytes: bytes | None = request.to_bytes() if data is None else data
        self._start_actions(now)

    def _start_actions(self, now: float) -> None:
        raise NotImplementedError

    def receive(self, response: Response, now: float) -> None:
        """A response matched to this transaction (§17.1.3)."""
        status = response.status
        if status < 200:
            inp = _1XX
        elif status < 300:
            inp = _2XX
        else:
            inp = _3XX_6XX
        if self.state is COMPLETED:
            self._retransmission("received")
        self._input(inp, now, response)
        self._fire_due(now)

    # -- actions -----------------------------------------------------------------------
    def _send_request(self, now: float, msg: Message | None) -> None:
        if self._request_bytes is not None:
            self._emit(self._request_bytes)

    def _resend_request(self, now: float, msg: Message | None) -> None:
        if self._request_bytes is not None:
            self._emit(self._request_bytes)
            self._retransmission("sent")

    def _pass_response(self, now: float, msg: Message | None) -> None:
        assert isinstance(msg, Response)
        self._tell(ResponseReceived(msg))


class InviteClientTransaction(ClientTransaction):
    """Figure 5 (+ RFC 6026): Calling -> Proceeding -> Completed/Accepted -> Terminated.
    ACKs non-2xx finals itself (§17.1.1.3); 2xx go to the TU, which ACKs end to end.
    Proceeding has no timer of its own: the TU ends it with `cancel_sent()` (§9.1)."""

    INITIAL = S.CALLING
    # §17.1.1.2; RFC 6026 §7.2 (Accepted, Timer M). §17.1.4: a transport error (possibly
    # a late report of an earlier send) ends the transaction until the TU has a final
    # response; in Accepted it is absorbed (Timer M ends it). §9.1: after the TU's
    # CANCEL, a final response is awaited for 64*T1 at most.
    TABLE: ClassVar[Table] = {
        (S.CALLING, I.TIMER_A): ((A.RESEND_REQUEST, A.DOUBLE_A), S.CALLING),
        (S.CALLING, I.TIMER_B): ((A.REPORT_TIMEOUT,), S.TERMINATED),
        (S.CALLING, I.RESPONSE_1XX): (_PASS, S.PROCEEDING),
        (S.CALLING, I.RESPONSE_2XX): ((A.PASS_RESPONSE, A.START_M), S.ACCEPTED),
        (S.CALLING, I.RESPONSE_3XX_6XX): ((A.PASS_RESPONSE, A.SEND_ACK, A.START_D), S.COMPLETED),
        (S.CALLING, I.TRANSPORT_ERROR): _ERROR,
        (S.PROCEEDING, I.RESPONSE_1XX): (_PASS, S.PROCEEDING),
        (S.PROCEEDING, I.RESPONSE_2XX): ((A.PASS_RESPONSE, A.START_M), S.ACCEPTED),
        (S.PROCEEDING, I.RESPONSE_3XX_6XX): (
            (A.PASS_RESPONSE, A.SEND_ACK, A.START_D), S.COMPLETED,
        ),
        (S.PROCEEDING, I.TRANSPORT_ERROR): _ERROR,
        (S.PROCEEDING, I.TU_CANCEL): ((A.START_CANCEL_GUARD,), S.PROCEEDING),
        (S.PROCEEDING, I.TIMER_CANCEL): ((A.REPORT_TIMEOUT,), S.TERMINATED),
        (S.COMPLETED, I.RESPONSE_3XX_6XX): ((A.SEND_ACK,), S.COMPLETED),
        (S.COMPLETED, I.TIMER_D): ((), S.TERMINATED),
        (S.COMPLETED, I.TRANSPORT_ERROR): _ERROR,
        (S.ACCEPTED, I.RESPONSE_2XX): (_PASS, S.ACCEPTED),
        (S.ACCEPTED, I.TIMER_M): ((), S.TERMINATED),
    }
    KEEPS_TIMERS: ClassVar[Keeps] = {
        S.CALLING: frozenset("AB"),
        S.PROCEEDING: frozenset({"cancel"}),
        S.COMPLETED: frozenset("D"),
        S.ACCEPTED: frozenset("M"),
    }

    # The request stays (the TU may still CANCEL it, and an ACK for a non-2xx is made
    # from it); its bytes go once it is no longer sent again (out of Calling).
    __slots__ = ("_ack",)

    def __init__(
        self,
        request: Request,
        *,
        reliable: bool,
        now: float,
        config: TimerConfig | None = None,
        key: tuple[object, ...] | None = None,
        data: bytes | None = None,
    ) -> None:
        self._ack: bytes | None = None
        super().__init__(request, reliable=reliable, now=now, config=config, key=key,
                         data=data)

    def _enter(self, state: State) -> None:
        if state is not CALLING:
            self._request_bytes = None
        super()._enter(state)

    def cancel_sent(self, now: float) -> None:
        """The TU sent a CANCEL for this INVITE (allowed once a provisional response
        came, §9.1). Without a final response within 64*T1 the transaction reports
        TimedOut("cancel") and terminates."""
        self._input(Input.TU_CANCEL, now, None)
        self._fire_due(now)

    def _start_actions(self, now: float) -> None:
        self._send_request(now, None)
        self._start_a(now, None)
        self._start_b(now, None)

    def _send_ack(self, now: float, msg: Message | None) -> None:
        assert isinstance(msg, Response)
        if self._ack is None:
            self._ack = make_ack(self.request, msg).to_bytes()
            if self._owner is not None:
                self._owner.metrics.requests_sent.inc("ACK")
        else:
            self._retransmission("sent")
        self._emit(self._ack)

    def _start_a(self, now: float, msg: Message | None) -> None:
        if not self.reliable:  # §17.1.1.2: retransmit over unreliable transports only
            self._start("A", self.config.t1, now)

    def _double_a(self, now: float, msg: Message | None) -> None:
        self._start("A", 2 * self._intervals["A"], now)

    def _start_b(self, now: float, msg: Message | None) -> None:
        self._start("B", self.config.timeout, now)

    def _start_d(self, now: float, msg: Message | None) -> None:
        self._start("D", 0.0 if self.reliable else self.config.timer_d, now)

    def _start_m(self, now: float, msg: Message | None) -> None:
        self._start("M", self.config.timeout, now)

    def _start_cancel_guard(self, now: float, msg: Message | None) -> None:
        if "cancel" not in self._deadlines:  # counted from the first CANCEL
            self._start("cancel", self.config.timeout, now)


_NICT_FINAL = ((A.PASS_RESPONSE, A.START_K), S.COMPLETED)


class NonInviteClientTransaction(ClientTransaction):
    """Figure 6: Trying -> Proceeding -> Completed -> Terminated. In Completed (Timer K,
    T4 over UDP) it only absorbs retransmitted responses: it keeps its key, not the
    request."""

    __slots__ = ()
    INITIAL = S.TRYING
    # §17.1.2.2. A transport error in Completed is absorbed: the TU has its final
    # response and Timer K ends the transaction.
    TABLE: ClassVar[Table] = {
        (S.TRYING, I.TIMER_E): ((A.RESEND_REQUEST, A.DOUBLE_E), S.TRYING),
        (S.TRYING, I.TIMER_F): ((A.REPORT_TIMEOUT,), S.TERMINATED),
        (S.TRYING, I.RESPONSE_1XX): (_PASS, S.PROCEEDING),
        (S.TRYING, I.RESPONSE_2XX): _NICT_FINAL,
        (S.TRYING, I.RESPONSE_3XX_6XX): _NICT_FINAL,
        (S.TRYING, I.TRANSPORT_ERROR): _ERROR,
        (S.PROCEEDING, I.TIMER_E): ((A.RESEND_REQUEST, A.E_TO_T2), S.PROCEEDING),
        (S.PROCEEDING, I.TIMER_F): ((A.REPORT_TIMEOUT,), S.TERMINATED),
        (S.PROCEEDING, I.RESPONSE_1XX): (_PASS, S.PROCEEDING),
        (S.PROCEEDING, I.RESPONSE_2XX): _NICT_FINAL,
        (S.PROCEEDING, I.RESPONSE_3XX_6XX): _NICT_FINAL,
        (S.PROCEEDING, I.TRANSPORT_ERROR): _ERROR,
        (S.COMPLETED, I.TIMER_K): ((), S.TERMINATED),
    }
    KEEPS_TIMERS: ClassVar[Keeps] = {
        S.TRYING: frozenset("EF"),
        S.PROCEEDING: frozenset("EF"),
        S.COMPLETED: frozenset("K"),
    }

    def _start_actions(self, now: float) -> None:
        self._send_request(now, None)
        if not self.reliable:  # §17.1.2.2: Timer E on unreliable transports only
            self._start("E", self.config.t1, now)
        self._start("F", self.config.timeout, now)

    def _double_e(self, now: float, msg: Message | None) -> None:
        self._start("E", min(2 * self._intervals["E"], self.config.t2), now)

    def _e_to_t2(self, now: float, msg: Message | None) -> None:
        self._start("E", self.config.t2, now)

    def _start_k(self, now: float, msg: Message | None) -> None:
        self._request = self._request_bytes = None  # nothing is sent again
        self._start("K", 0.0 if self.reliable else self.config.t4, now)


def create_client_transaction(
    request: Request,
    *,
    reliable: bool,
    now: float,
    config: TimerConfig | None = None,
    key: tuple[object, ...] | None = None,
    data: bytes | None = None,
) -> ClientTransaction:
    """An INVITE or non-INVITE client transaction for `request` (already queued to send;
    `data`: its wire form if the TU has it). ACK never gets a client transaction (§17.1)."""
    if request.method == "ACK":
        raise ValueError("ACK is sent without a client transaction")
    cls = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
    return cls(request, reliable=reliable, now=now, config=config, key=key, data=data)
