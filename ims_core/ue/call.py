"""Calls and instant messages our UE places, sans-I/O (RFC 3261 §13, §15; RFC 3428;
TS 24.229 §5.1.2A, §5.1.3): :class:`OutgoingCall` places one call and hangs up after a
while, :class:`OutgoingMessage` sends one MESSAGE; :class:`IncomingCalls` (from
:mod:`.callee`) answers the calls and MESSAGEs that arrive. Dialogs are
:class:`ims_core.sip.Dialog`, the SDP :mod:`.sdp`'s.

How the adapter sends things. Every request built here and in :mod:`.callee` carries its
Via already (a fresh branch, ``messages.via``), as the agent's REGISTER and SUBSCRIBE
do. Of any list of requests returned, an ACK goes raw on the flow (the ACK for a 2xx is
no part of the INVITE's transaction, §13.2.2.4, §17.1.1.3); every other request (INVITE,
BYE, CANCEL, MESSAGE) in a client transaction of its own whose result goes back to
``on_result`` (for a CANCEL the adapter also calls the INVITE transaction's
``cancel_sent``, §9.1). The responses of :meth:`IncomingCalls.on_request` go through the
request's server transaction, in order; the 2xx that :meth:`IncomingCalls.handle_timer`
sends again (§13.3.1.4) goes raw.

The caller (:data:`CALL_TRANSITIONS`; a 2xx of another dialog, a fork, gets an ACK and a
BYE, §13.2.2.4):

==========  ===================  =================  =====================================
state       event                action             next
==========  ===================  =================  =====================================
CALLING     1xx                  note               CALLING (a CANCEL may now be sent)
CALLING     2xx                  establish          CONFIRMED (dialog from the 2xx; ACK)
CALLING     3xx-6xx, none        fail               DONE
CALLING     no answer in time    cancel             CANCELLING (CANCEL once a 1xx came)
CANCELLING  1xx                  cancel             CANCELLING
CANCELLING  2xx                  establish+hang up  HANGING_UP (ACK and BYE)
CANCELLING  3xx-6xx (487), none  fail               DONE
CONFIRMED   2xx again            ack again          CONFIRMED; and so HANGING_UP, DONE
CONFIRMED   `seconds` passed     hang up            HANGING_UP (BYE)
CONFIRMED   BYE                  end                DONE (200)
HANGING_UP  BYE                  end                DONE (200: both hung up)
HANGING_UP  final to BYE, none   end                DONE
==========  ===================  =================  =====================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

from ims_core.sip import Dialog, Request, Response, SipParseError, make_cancel, parse_uri
from ims_core.transaction import TimedOut, TransportFailed

from . import messages
from .callee import ALLOW, IncomingCalls, answer_in_dialog, message_note, refusal, stamp
from .messages import Local, Rng
from .profile import UeProfile
from .sdp import CONTENT_TYPE as SDP
from .sdp import Media

__all__ = ["CallOutcome", "CallPlan", "IncomingCalls", "MessagePlan", "OutgoingCall",
           "OutgoingMessage", "target_uri"]

Result = Response | TimedOut | TransportFailed


@dataclass(frozen=True, slots=True)
class CallPlan:
    """Call ``target``, hang up ``seconds`` after the answer; CANCEL when no answer came
    within ``answer_timeout`` seconds."""

    target: str
    seconds: float = 1.0
    answer_timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class MessagePlan:
    """Send a MESSAGE with ``text`` to ``target``."""

    target: str
    text: str


@dataclass(slots=True)
class CallOutcome:
    """How a call (or a MESSAGE) went: the final ``status`` of the INVITE (our own 408 or
    503 when none came, §8.1.3.1), ``answered`` once a 2xx made a dialog, who hung up
    (``local``/``remote``) and the status of our BYE."""

    status: int = 0
    reason: str = ""
    answered: bool = False
    error: str | None = None
    hung_up_by: str | None = None
    bye_status: int | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def target_uri(target: str, domain: str) -> str:
    """``target`` as a Request-URI: a SIP, SIPS or tel URI as it is, ``user@host`` as a
    SIP URI, a bare user (an IMSI, a number) at ``domain``. SipParseError for a bad one."""
    if not target.startswith(("sip:", "sips:", "tel:")):
        target = f"sip:{target}" if "@" in target else f"sip:{target}@{domain}"
    parse_uri(target)
    return target


def _no_response(result: TimedOut | TransportFailed) -> tuple[int, str]:
    """§8.1.3.1: Timer B or F as our own 408, a transport failure as our own 503."""
    return (408, "Request Timeout") if isinstance(result, TimedOut) else \
        (503, "Service Unavailable")


# -- the caller ------------------------------------------------------------------------------
class CallState(Enum):
    IDLE = "idle"
    CALLING = "calling"
    CANCELLING = "cancelling"
    CONFIRMED = "confirmed"
    HANGING_UP = "hanging-up"
    DONE = "done"


class CallEvent(Enum):
    PROVISIONAL = "1xx"
    ANSWERED = "2xx"
    REJECTED = "failure"  # 3xx-6xx, or no final response
    NO_ANSWER = "answer-timeout"
    HOLD_OVER = "hang-up-due"
    BYE = "bye"
    BYE_DONE = "bye-answered"


class CallAction(Enum):
    NOTE = "note"
    ESTABLISH = "establish"
    ESTABLISH_AND_HANG_UP = "establish+hang-up"
    ACK_AGAIN = "ack-again"
    FAIL = "fail"
    CANCEL = "cancel"
    HANG_UP = "hang-up"
    END = "end"


_S, _E, _A = CallState, CallEvent, CallAction
CALL_TRANSITIONS: dict[tuple[CallState, CallEvent], tuple[CallAction, CallState]] = {
    (_S.CALLING, _E.PROVISIONAL): (_A.NOTE, _S.CALLING),
    (_S.CALLING, _E.ANSWERED): (_A.ESTABLISH, _S.CONFIRMED),
    (_S.CALLING, _E.REJECTED): (_A.FAIL, _S.DONE),
    (_S.CALLING, _E.NO_ANSWER): (_A.CANCEL, _S.CANCELLING),
    (_S.CANCELLING, _E.PROVISIONAL): (_A.CANCEL, _S.CANCELLING),
    (_S.CANCELLING, _E.ANSWERED): (_A.ESTABLISH_AND_HANG_UP, _S.HANGING_UP),
    (_S.CANCELLING, _E.REJECTED): (_A.FAIL, _S.DONE),
    **{(s, _E.ANSWERED): (_A.ACK_AGAIN, s) for s in (_S.CONFIRMED, _S.HANGING_UP, _S.DONE)},
    (_S.CONFIRMED, _E.HOLD_OVER): (_A.HANG_UP, _S.HANGING_UP),
    (_S.CONFIRMED, _E.BYE): (_A.END, _S.DONE),
    (_S.HANGING_UP, _E.BYE): (_A.END, _S.DONE),
    (_S.HANGING_UP, _E.BYE_DONE): (_A.END, _S.DONE),
}


class OutgoingCall:
    """The UAC of one call (RFC 3261 §13, §15) to ``plan.target`` from ``contact``, its
    INVITE along ``route`` (the P-CSCF as outbound proxy, then the Service-Route, TS
    24.229 §5.1.2A.1.1). With ``identity``, From and P-Preferred-Identity name it (RFC
    3325 §9.2); else From is the profile's IMPU. Bad target: SipParseError."""

    def __init__(self, plan: CallPlan, *, profile: UeProfile, local: Local, contact: str,
                 route: Sequence[str], rng: Rng, identity: str | None = None) -> None:
        self.plan = plan
        self.local = local
        self.contact = contact
        self.rng = rng
        self.identity = identity
        self.target = target_uri(plan.target, profile.domain)
        me = identity if identity is not None else profile.impu
        self.dialog = Dialog(call_id=messages.new_call_id(local, rng), local_uri=f"<{me}>",
                             local_tag=messages.new_tag(rng), remote_uri=f"<{self.target}>",
                             remote_target=self.target, route_set=tuple(route))
        self.media = Media.new(local, rng)
        self.state = CallState.IDLE
        self.outcome = CallOutcome()
        self.messages_received: list[tuple[str, str]] = []  # (from, text) within the call
        self.sent: list[Request] = []  # every request of ours, ACKs too
        self.invite: Request | None = None
        self._early: Dialog | None = None  # the dialog before any 2xx (for forks)
        self._ack: Request | None = None
        self._provisional = False
        self._cancelled = False
        self._answer_by: float | None = None
        self._hang_up_at: float | None = None

    # -- inputs ------------------------------------------------------------------------------
    def start(self, now: float) -> Request:
        """The INVITE, with our SDP offer."""
        if self.state is not CallState.IDLE:
            raise RuntimeError("call already started")
        headers = [("Contact", f"<{self.contact}>"), ("Allow", ALLOW)]
        if self.identity is not None:
            headers.append(("P-Preferred-Identity", f"<{self.identity}>"))
        headers += [("User-Agent", messages.USER_AGENT), ("Content-Type", SDP)]
        invite = self._send(self.dialog.request("INVITE", headers, self.media.offer()))
        self._early = replace(self.dialog)
        self.invite = invite
        self.state = CallState.CALLING
        self._answer_by = now + self.plan.answer_timeout
        return invite

    def owns(self, request: Request) -> bool:
        """``request`` is one we sent (route its result here)."""
        return any(r is request for r in self.sent)

    def on_result(self, request: Request, result: Result, now: float) -> list[Request]:
        """How a request of ours ended: its final response, Timer B/F, or a transport
        failure (our own 408/503, §8.1.3.1)."""
        if isinstance(result, Response):
            return self.on_response(result, now)
        return self.failed(request, *_no_response(result), now)

    def on_response(self, response: Response, now: float) -> list[Request]:
        """A response to our INVITE (provisionals too, if the adapter passes them; a 2xx
        again and again: each gets its ACK, §13.2.2.4) or the final response to our BYE.
        A CANCEL's own response changes nothing: the INVITE's final one decides (§9.1)."""
        try:
            method = response.cseq.method
            if response.call_id != self.dialog.call_id:
                return []
            if method == "BYE":
                if response.status < 200 or response.to_tag != self.dialog.remote_tag:
                    return []  # a provisional, or the BYE that ended a fork
                return self._fire(CallEvent.BYE_DONE, now, response)
        except SipParseError:
            return []
        if method != "INVITE":
            return []
        event = (CallEvent.PROVISIONAL if response.status < 200 else
                 CallEvent.ANSWERED if response.status < 300 else CallEvent.REJECTED)
        return self._fire(event, now, response)

    def failed(self, request: Request, status: int, reason: str, now: float
               ) -> list[Request]:
        """No final response came to ``request``: ``status`` is ours (408, 503)."""
        if request.method == "INVITE":
            return self._fire(CallEvent.REJECTED, now, None, status, reason)
        if request.method == "BYE" and request.to_tag == self.dialog.remote_tag:
            return self._fire(CallEvent.BYE_DONE, now, None, status, reason)
        return []

    def get_timer(self) -> float | None:
        if self.state is CallState.CALLING:
            return self._answer_by
        return self._hang_up_at if self.state is CallState.CONFIRMED else None

    def handle_timer(self, now: float) -> list[Request]:
        """A CANCEL when no answer came in time; the BYE once ``seconds`` have passed."""
        if self.state is CallState.CALLING and self._answer_by is not None \
                and now >= self._answer_by:
            return self._fire(CallEvent.NO_ANSWER, now)
        if self.state is CallState.CONFIRMED and self._hang_up_at is not None \
                and now >= self._hang_up_at:
            return self._fire(CallEvent.HOLD_OVER, now)
        return []

    def matches(self, request: Request) -> bool:
        """``request`` is within this call's dialog (§12.2.2) while it lasts."""
        if self.state not in (CallState.CONFIRMED, CallState.HANGING_UP):
            return False
        try:
            return self.dialog.matches(request)
        except SipParseError:
            return False

    def on_request(self, request: Request, now: float) -> Response | None:
        """The answer to a request that :meth:`matches` (None for an ACK): a BYE ends the
        call with 200; see :func:`answer_in_dialog` for the rest; 400 for what we cannot read."""
        try:
            response = answer_in_dialog(self.dialog, self.media, self.contact, request)
            if response is None or response.status != 200:
                return response
            if request.method == "MESSAGE":
                self.messages_received.append(message_note(request))
            elif request.method == "BYE":
                self._fire(CallEvent.BYE, now)
            return response
        except SipParseError as exc:
            return None if request.method == "ACK" else refusal(request, exc, self.rng)

    @property
    def finished(self) -> bool:
        return self.state is CallState.DONE

    # -- internals ---------------------------------------------------------------------------
    def _fire(self, event: CallEvent, now: float, response: Response | None = None,
              status: int = 0, reason: str = "") -> list[Request]:
        entry = CALL_TRANSITIONS.get((self.state, event))
        if entry is None:
            return []
        action, nxt = entry
        if action is CallAction.NOTE:
            self._provisional = True
        elif action is CallAction.ACK_AGAIN:
            assert response is not None
            self.state = nxt
            return self._ack_again(response)
        elif action is CallAction.CANCEL:
            self.state = nxt
            self._provisional = self._provisional or event is CallEvent.PROVISIONAL
            return self._cancel()
        elif action is CallAction.FAIL:
            self._finish(response, status, reason)
            if self._cancelled:
                self.outcome.error = f"no answer within {self.plan.answer_timeout:g} s"
        elif action is CallAction.END:
            if event is CallEvent.BYE_DONE:
                self.outcome.bye_status = response.status if response is not None else status
            elif self.outcome.hung_up_by is None:
                self.outcome.hung_up_by = "remote"
        else:  # ESTABLISH, ESTABLISH_AND_HANG_UP, HANG_UP
            out: list[Request] = []
            if action is not CallAction.HANG_UP:
                assert response is not None
                out = self._establish(response, now)
                if not out:
                    return out  # an unusable 2xx finished the call
            if action is not CallAction.ESTABLISH:
                out.append(self._bye(self.dialog))
                self.outcome.hung_up_by = "local"
            self.state = nxt
            return out
        self.state = nxt
        return []

    def _establish(self, response: Response, now: float) -> list[Request]:
        """§13.2.2.4: the dialog from the 2xx (route set its Record-Route reversed,
        §12.1.2), then its ACK."""
        try:
            self.dialog.establish_by_response(response)
        except SipParseError as exc:
            self._finish(response, 0, "")
            self.outcome.error = f"unusable 2xx: {exc.reason}"
            self.state = CallState.DONE
            return []
        self._finish(response, 0, "")
        self.outcome.answered = True
        self._hang_up_at = now + self.plan.seconds
        self._ack = self._ack_for(self.dialog)
        return [self._ack]

    def _ack_again(self, response: Response) -> list[Request]:
        """A 2xx once more: the same ACK for our dialog's; for another dialog's (a fork,
        §13.2.2.4) an ACK and a BYE at once."""
        try:
            tag = response.to_tag
        except SipParseError:
            return []
        if self._ack is not None and tag == self.dialog.remote_tag:
            return [self._ack]
        if self._early is None:
            return []
        fork = replace(self._early)
        try:
            fork.establish_by_response(response)
        except SipParseError:
            return []
        return [self._ack_for(fork), self._bye(fork)]

    def _ack_for(self, dialog: Dialog) -> Request:
        """§13.2.2.4: built as a request within the dialog (§12.2.1.1) but with the
        INVITE's CSeq number, which ``Dialog.request`` would have moved on."""
        after = dialog.local_cseq
        assert self.invite is not None
        dialog.local_cseq = self.invite.cseq.seq - 1
        ack = dialog.request("ACK", [("User-Agent", messages.USER_AGENT)])
        dialog.local_cseq = after
        return self._send(ack)

    def _bye(self, dialog: Dialog) -> Request:
        return self._send(dialog.request("BYE", [("User-Agent", messages.USER_AGENT)]))

    def _cancel(self) -> list[Request]:
        """§9.1: a CANCEL only once a provisional came (until then it waits); built from
        the INVITE, its Via and branch too."""
        if self._cancelled or not self._provisional or self.invite is None:
            return []
        self._cancelled = True
        cancel = make_cancel(self.invite)
        self.sent.append(cancel)
        return [cancel]

    def _finish(self, response: Response | None, status: int, reason: str) -> None:
        o = self.outcome
        if response is not None:
            o.status, o.reason = response.status, response.reason
        else:
            o.status, o.reason = status, reason
            o.error = f"no final response to INVITE ({status} {reason})"

    def _send(self, request: Request) -> Request:
        self.sent.append(stamp(request, self.local, self.rng))
        return request


# -- MESSAGE -----------------------------------------------------------------------------------
class OutgoingMessage:
    """One MESSAGE (RFC 3428) to ``plan.target`` along ``route`` (TS 24.229 §5.1.2A.1.1),
    built by :func:`messages.message`; ``identity`` as for :class:`OutgoingCall`."""

    def __init__(self, plan: MessagePlan, *, profile: UeProfile, local: Local,
                 route: Sequence[str], rng: Rng, identity: str | None = None) -> None:
        self.plan = plan
        self.profile = profile if identity is None else replace(profile, impu=identity)
        self.local = local
        self.route = list(route)
        self.rng = rng
        self.identity = identity
        self.target = target_uri(plan.target, profile.domain)
        self.outcome = CallOutcome()
        self.request: Request | None = None
        self.finished = False

    def start(self, now: float) -> Request:
        if self.request is not None:
            raise RuntimeError("message already sent")
        req = messages.message(self.profile, self.local, self.target, self.plan.text,
                               self.route, rng=self.rng)
        if self.identity is not None:
            req.headers.add("P-Preferred-Identity", f"<{self.identity}>")
        self.request = req
        return req

    def owns(self, request: Request) -> bool:
        return request is self.request

    def on_result(self, request: Request, result: Result, now: float) -> None:
        if isinstance(result, Response):
            self.on_response(result, now)
        else:
            self.failed(*_no_response(result))

    def on_response(self, response: Response, now: float) -> None:
        if response.status < 200 or self.finished:
            return
        o = self.outcome
        o.status, o.reason = response.status, response.reason
        o.answered = o.ok  # delivered
        self.finished = True

    def failed(self, status: int, reason: str) -> None:
        """No final response came: ``status`` is ours (408, 503, §8.1.3.1)."""
        if self.finished:
            return
        o = self.outcome
        o.status, o.reason = status, reason
        o.error = f"no final response to MESSAGE ({status} {reason})"
        self.finished = True
