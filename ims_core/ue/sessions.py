"""The calls and MESSAGEs of the staying UE, sans-I/O: the ones it places
(:class:`~ims_core.ue.call.OutgoingCall`, :class:`~ims_core.ue.call.OutgoingMessage`,
one per plan, started once the UE is registered) and the ones that reach it
(:class:`~ims_core.ue.callee.IncomingCalls`), with one line per event for the user and
the failures that decide the exit status.

Theory of operation: the :class:`~ims_core.ue.agent.Agent` hands over the results and
responses of requests :meth:`Sessions.owns`, and the requests that arrive
(:meth:`Sessions.answer`); what comes back (requests to send, the 2xx to send again) it
puts in its outbox. Lines to print collect in :attr:`Sessions.reports`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ims_core.sip import Request, Response, SipParseError, parse_name_addr
from ims_core.transaction import TimedOut, TimerConfig, TransportFailed

from .call import CallPlan, IncomingCalls, MessagePlan, OutgoingCall, OutgoingMessage
from .callee import ALLOW, reply
from .messages import Local, Rng, new_tag
from .profile import UeProfile

Result = Response | TimedOut | TransportFailed


class Sessions:
    """The UE at ``contact`` (from ``local``) places ``calls`` and sends ``texts``, and
    answers what arrives; ``timers`` are its transaction timers (T1, T2 of a 2xx sent
    again, RFC 3261 §13.3.1.4)."""

    def __init__(self, profile: UeProfile, local: Local, contact: str, rng: Rng, *,
                 calls: Sequence[CallPlan] = (), texts: Sequence[MessagePlan] = (),
                 timers: TimerConfig | None = None) -> None:
        self.profile = profile
        self.local = local
        self.contact = contact
        self.rng = rng
        self.plans = list(calls)
        self.texts = list(texts)
        self.callee = IncomingCalls(local=local, contact=contact, rng=rng, timers=timers)
        self.calls: list[OutgoingCall] = []
        self.messages: list[OutgoingMessage] = []
        self.reports: list[str] = []
        self.failures: list[str] = []
        self._told: dict[int, tuple[bool, bool]] = {}  # per call: (answer told, end told)
        self._heard = 0  # MESSAGEs reported so far (all dialogs)
        self._incoming: dict[tuple[str, str], str] = {}  # the calls answered: who called

    # -- what we place ---------------------------------------------------------------------
    def start(self, route: Sequence[str], identity: str, now: float) -> list[Request]:
        """Place every call and send every MESSAGE planned, along ``route`` (the P-CSCF
        as outbound proxy, then the Service-Route, TS 24.229 §5.1.2A.1.1)."""
        out: list[Request] = []
        for plan in self.plans:
            try:
                call = OutgoingCall(plan, profile=self.profile, local=self.local,
                                    contact=self.contact, route=route, rng=self.rng,
                                    identity=identity)
            except SipParseError as exc:
                self._fail(f"call {plan.target}: bad target ({exc.reason})")
                continue
            self.calls.append(call)
            out.append(call.start(now))
        for text in self.texts:
            try:
                msg = OutgoingMessage(text, profile=self.profile, local=self.local,
                                      route=route, rng=self.rng, identity=identity)
            except SipParseError as exc:
                self._fail(f"MESSAGE to {text.target}: bad target ({exc.reason})")
                continue
            self.messages.append(msg)
            out.append(msg.start(now))
        self.plans, self.texts = [], []
        return out

    @property
    def done(self) -> bool:
        """Every call placed has ended and every MESSAGE has its answer."""
        return all(c.finished for c in self.calls) and all(m.finished for m in self.messages)

    def owns(self, request: Request) -> bool:
        return any(c.owns(request) for c in self.calls) or \
            any(m.owns(request) for m in self.messages)

    def on_result(self, request: Request, result: Result, now: float) -> list[Request]:
        """How a request of ours ended (see :meth:`OutgoingCall.on_result`)."""
        for call in self.calls:
            if call.owns(request):
                out = call.on_result(request, result, now)
                self._told_of(call)
                return out
        for msg in self.messages:
            if msg.owns(request) and not msg.finished:
                msg.on_result(request, result, now)
                o = msg.outcome
                line = f"MESSAGE to {msg.target}: {o.status} {o.reason}"
                if o.ok:
                    self.reports.append(line)
                else:
                    self._fail(line + (f" ({o.error})" if o.error else ""))
        return []

    def on_response(self, request: Request, response: Response, now: float
                    ) -> list[Request]:
        """A provisional response, or a 2xx again, to a request of ours."""
        for call in self.calls:
            if call.owns(request):
                out = call.on_response(response, now)
                self._told_of(call)
                return out
        return []

    # -- what reaches us -------------------------------------------------------------------
    def answer(self, request: Request, now: float) -> list[Response] | None:
        """The responses to ``request`` (none for an ACK); None when it is nobody's
        here (another dialog, a method we do not serve)."""
        for call in self.calls:
            if call.matches(request):
                response = call.on_request(request, now)
                self._told_of(call)
                self._heard_of()
                return [] if response is None else [response]
        before = set(self.callee.calls)
        responses = self.callee.on_request(request, now)
        self._incoming_moved(before)
        self._heard_of()
        if responses is None and request.method == "OPTIONS" and request.to_tag is None:
            return [reply(request, 200, to_tag=new_tag(self.rng))]  # RFC 3261 §11.2
        return responses

    def refusal(self, request: Request) -> Response:
        """405 for a method nobody here serves, with what we do (RFC 3261 §21.4.6)."""
        response = reply(request, 405, to_tag=None if request.to_tag is not None
                         else new_tag(self.rng))
        response.headers.set("Allow", f"{ALLOW}, NOTIFY")
        return response

    # -- time --------------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        times = [c.get_timer() for c in self.calls] + [self.callee.get_timer()]
        return min((t for t in times if t is not None), default=None)

    def handle_timer(self, now: float) -> list[Request | Response]:
        """What is due: CANCELs and BYEs of our calls; the callee's BYEs and its 2xx sent
        again (a Response, sent raw)."""
        out: list[Request | Response] = []
        for call in self.calls:
            out += call.handle_timer(now)
            self._told_of(call)
        before = set(self.callee.calls)
        out += self.callee.handle_timer(now)
        self._incoming_moved(before)
        return out

    # -- lines for the user ----------------------------------------------------------------
    def _told_of(self, call: OutgoingCall) -> None:
        answered, ended = self._told.get(id(call), (False, False))
        o = call.outcome
        if o.answered and not answered:
            answered = True
            self.reports.append(f"call {call.target}: answered")
        if call.finished and not ended:
            ended = True
            if not o.answered:
                self._fail(f"call {call.target}: {o.status} {o.reason}"
                           + (f" ({o.error})" if o.error else ""))
            elif o.hung_up_by == "remote":
                self.reports.append(f"call {call.target}: ended by the other side (BYE)")
            else:
                bye = "no answer" if o.bye_status is None else str(o.bye_status)
                self.reports.append(f"call {call.target}: ended (BYE {bye})")
        self._told[id(call)] = (answered, ended)

    def _heard_of(self) -> None:
        notes = [*self.callee.messages_received,
                 *(m for c in self.calls for m in c.messages_received)]
        for sender, text in notes[self._heard:]:
            self.reports.append(f"MESSAGE from {sender}: {text}")
        self._heard = len(notes)

    def _incoming_moved(self, before: set[tuple[str, str]]) -> None:
        now = self.callee.calls
        for key in now.keys() - before:
            who = _uri(now[key].dialog.remote_uri)
            self._incoming[key] = who
            self.reports.append(f"incoming call from {who}: answered")
        for key in before - now.keys():
            self.reports.append(f"incoming call from {self._incoming.pop(key, '?')}: ended")

    def _fail(self, line: str) -> None:
        self.reports.append(line)
        self.failures.append(line)


def _uri(name_addr: str) -> str:
    try:
        return str(parse_name_addr(name_addr).uri)
    except SipParseError:
        return name_addr
