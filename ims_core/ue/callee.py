"""Our UE as the called party, sans-I/O (RFC 3261 §12.2.2, §13.3, §15; RFC 3428 §7):
:class:`IncomingCalls` answers every call that reaches it and takes MESSAGEs, and
:func:`answer_in_dialog` answers the requests within a call's dialog for either side
(the caller's :class:`ims_core.ue.call.OutgoingCall` too).

An INVITE is answered at once: 180, then a 200 with our SDP answer, both with our To tag,
Contact and the INVITE's Record-Route (§12.1.1); the dialog is kept. The 200 goes out
again after T1, then at intervals doubling up to T2, until the ACK comes; after 64*T1
without one the call ends with a BYE (§13.3.1.4). With ``hang_up_after`` each call ends
that long after its ACK. A 2xx to a re-INVITE is sent once. How the adapter sends each
thing: see :mod:`.call`.

Per answered call (:class:`Answered`):

===========  ===========================  ================================================
state        event                        action
===========  ===========================  ================================================
unacked      ACK                          acked: retransmissions stop, hang-up timer runs
unacked      T1, 2*T1, 4*T1 ... T2 passed  the 200 again (sent raw)
unacked      64*T1                        BYE; the call is gone
acked        ``hang_up_after`` passed     BYE; the call is gone
any          BYE                          200; the call is gone
===========  ===========================  ================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from ims_core.sip import TARGET_REFRESH, Dialog, Request, Response, SipParseError, make_response
from ims_core.transaction import TimerConfig

from . import messages
from .messages import Local, Rng
from .sdp import CONTENT_TYPE as SDP
from .sdp import Media

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, MESSAGE"


# -- answering, for either side ----------------------------------------------------------------
def content_type(message: Request) -> str:
    return (message.headers.get("content-type") or "").partition(";")[0].strip().lower()


def describe(request: Request, media: Media) -> tuple[int, bytes]:
    """The status and SDP that answer the session part of an INVITE or UPDATE: our
    answer to its offer; our offer for an INVITE without one (the answer comes in the
    ACK, §13.2.1), nothing for an UPDATE without one; 415 for a body that is not SDP
    (§21.4.13), 488 for an offer with nothing we take (RFC 3264 §6)."""
    if not request.body:
        return 200, media.offer() if request.method == "INVITE" else b""
    if content_type(request) != SDP:
        return 415, b""
    answer = media.answer(request.body)
    return (200, answer) if answer is not None else (488, b"")


def message_text(request: Request) -> str | None:
    """The text of a MESSAGE (RFC 3428 §7); None for a body type we do not take (415)."""
    ctype = content_type(request)
    if request.body and ctype and not ctype.startswith("text/"):
        return None
    return request.body.decode("utf-8", "replace")


def reply(request: Request, status: int, *, to_tag: str | None = None,
          contact: str | None = None, record_route: bool = False, sdp: bytes = b"",
          reason: str | None = None) -> Response:
    """A UAS response (§8.2.6): with ``record_route`` the request's Record-Route copied
    (§12.1.1), our Contact when given, Allow where it helps, Accept on a 415."""
    response = make_response(request, status, reason, to_tag=to_tag)
    h = response.headers
    if record_route:
        for value in request.headers.values("record-route"):
            h.add("Record-Route", value)
    if contact is not None:
        h.add("Contact", f"<{contact}>")
    if status == 405 or (status == 200 and request.method in ("INVITE", "OPTIONS")):
        h.add("Allow", ALLOW)
    if status == 415:
        h.add("Accept", "text/plain" if request.method == "MESSAGE" else SDP)
    if sdp:
        response.set_body(sdp, SDP)
    return response


def refusal(request: Request, exc: SipParseError, rng: Rng) -> Response:
    """The answer to a request we could not read (400 or what the error says)."""
    try:
        tag = None if request.to_tag is not None else messages.new_tag(rng)
    except SipParseError:
        tag = None  # a To we cannot read gets no tag added
    return make_response(request, exc.status, exc.reason, to_tag=tag)


def answer_in_dialog(dialog: Dialog, media: Media, contact: str, request: Request
                     ) -> Response | None:
    """The answer to a request within ``dialog`` that :meth:`Dialog.matches` (None for an
    ACK): BYE 200; re-INVITE and UPDATE 200 with our SDP and Contact (a target refresh,
    §12.2.2); MESSAGE and OPTIONS 200; others 405. A request in order only changes the
    dialog once it is taken (500 out of order, §12.2.2)."""
    method = request.method
    if method == "ACK":
        return None
    sdp = b""
    if method in ("INVITE", "UPDATE"):
        status, sdp = describe(request, media)
    elif method == "MESSAGE":
        status = 200 if message_text(request) is not None else 415
    else:
        status = 200 if method in ("BYE", "OPTIONS") else 405
    if status == 200 and not dialog.accept(request):
        return reply(request, 500, reason="Out of Order")
    refresh = status == 200 and method in TARGET_REFRESH
    return reply(request, status, contact=contact if refresh else None, sdp=sdp)


def message_note(request: Request) -> tuple[str, str]:
    """A MESSAGE as kept: (From URI, text)."""
    return str(request.from_addr.uri), message_text(request) or ""


def stamp(request: Request, local: Local, rng: Rng) -> Request:
    """Our Via on top, a new branch: each request is its own transaction (§8.1.1.7)."""
    request.push_via(messages.via(local, messages.new_branch(rng)))
    return request


# -- the callee ------------------------------------------------------------------------------
@dataclass(slots=True)
class Answered:
    """One call we answered: its dialog, our 2xx (sent again until the ACK, §13.3.1.4)
    and when each timer is due."""

    dialog: Dialog
    media: Media
    ok: Response
    invite_cseq: int
    invite_branch: str | None
    resend_at: float
    interval: float
    give_up_at: float
    acked: bool = False
    hang_up_at: float | None = None


class IncomingCalls:
    """The UAS of every call that reaches ``contact`` (RFC 3261 §13.3, §15): answered at
    once; MESSAGEs outside a dialog (RFC 3428) taken and kept. ``hang_up_after``: end
    each call that long after its ACK (None: the caller hangs up). ``timers``: T1 and T2
    of the 2xx retransmissions."""

    def __init__(self, *, local: Local, contact: str, rng: Rng,
                 hang_up_after: float | None = None,
                 timers: TimerConfig | None = None) -> None:
        self.local = local
        self.contact = contact
        self.rng = rng
        self.hang_up_after = hang_up_after
        self.timers = timers if timers is not None else TimerConfig()
        self.calls: dict[tuple[str, str], Answered] = {}  # by (Call-ID, our tag)
        self.calls_answered = 0
        self.calls_ended = 0
        self.messages_received: list[tuple[str, str]] = []  # (from, text)

    def on_request(self, request: Request, now: float) -> list[Response] | None:
        """The responses to ``request``, in order; [] for an ACK of ours; None for what
        is not ours (a request of another dialog, a method we do not serve)."""
        method = request.method
        try:
            if request.to_tag is not None:
                call = self._find(request)
                if call is None:
                    return None
                return self._in_call(call, request, now)
            if method == "INVITE":
                return self._invite(request, now)
            if method == "CANCEL":
                return [self._cancel(request)]
            if method == "MESSAGE":
                return [self._message(request)]
        except SipParseError as exc:
            return None if method == "ACK" else [refusal(request, exc, self.rng)]
        return None

    def get_timer(self) -> float | None:
        times = [t for c in self.calls.values()
                 for t in ((c.hang_up_at,) if c.acked else (c.resend_at, c.give_up_at))
                 if t is not None]
        return min(times, default=None)

    def handle_timer(self, now: float) -> list[Request | Response]:
        """What is due: a 2xx again (a Response, sent raw), a BYE (a Request, in a client
        transaction) for a call whose 2xx got no ACK in 64*T1 or whose time is up."""
        out: list[Request | Response] = []
        for key, call in list(self.calls.items()):
            if not call.acked and now >= call.give_up_at:
                out.append(self._bye(key))
            elif not call.acked and now >= call.resend_at:
                out.append(call.ok)
                call.interval = min(2 * call.interval, self.timers.t2)
                call.resend_at = now + call.interval
            elif call.hang_up_at is not None and now >= call.hang_up_at:
                out.append(self._bye(key))
        return out

    def hang_up(self, now: float) -> list[Request]:
        """A BYE for every call whose ACK came (§15: not before it)."""
        return [self._bye(key) for key, call in list(self.calls.items()) if call.acked]

    # -- internals ---------------------------------------------------------------------------
    def _invite(self, request: Request, now: float) -> list[Response]:
        """§13.3.1: 180 then 200 with our SDP, both with our To tag, Contact and the
        Record-Route copied (§12.1.1); the dialog kept. 415/488 for an offer we cannot
        take."""
        again = self._answered(request)
        if again is not None:  # the same INVITE again: the same answer
            return [again.ok]
        seq = request.cseq.seq
        tag = messages.new_tag(self.rng)
        dialog = Dialog.uas(request, tag)
        media = Media.new(self.local, self.rng)
        status, sdp = describe(request, media)
        if status != 200:
            return [reply(request, status, to_tag=tag)]
        ringing = reply(request, 180, to_tag=tag, contact=self.contact, record_route=True)
        ok = reply(request, 200, to_tag=tag, contact=self.contact, record_route=True,
                   sdp=sdp)
        t1 = self.timers.t1
        self.calls[(dialog.call_id, tag)] = Answered(
            dialog, media, ok, seq, request.top_via().branch, resend_at=now + t1,
            interval=t1, give_up_at=now + self.timers.timeout)
        self.calls_answered += 1
        return [ringing, ok]

    def _answered(self, request: Request) -> Answered | None:
        """The call whose INVITE ``request`` repeats or cancels (§9.2, §17.2.3)."""
        key = (request.call_id, request.from_tag, request.cseq.seq)
        return next((c for c in self.calls.values()
                     if (c.dialog.call_id, c.dialog.remote_tag, c.invite_cseq) == key), None)

    def _find(self, request: Request) -> Answered | None:
        call = self.calls.get((request.call_id, request.to_tag or ""))
        return call if call is not None and call.dialog.matches(request) else None

    def _in_call(self, call: Answered, request: Request, now: float) -> list[Response]:
        if request.method == "ACK":
            if not call.acked:  # §13.3.1.4: the 2xx goes out no more
                call.acked = True
                if self.hang_up_after is not None:
                    call.hang_up_at = now + self.hang_up_after
            return []
        response = answer_in_dialog(call.dialog, call.media, self.contact, request)
        assert response is not None
        if response.status == 200 and request.method == "BYE":
            self._forget((call.dialog.call_id, call.dialog.local_tag))
        elif response.status == 200 and request.method == "MESSAGE":
            self.messages_received.append(message_note(request))
        return [response]

    def _cancel(self, request: Request) -> Response:
        """§9.2: the INVITE it names was answered already, so the CANCEL has no effect
        (200, the INVITE's To tag); 481 for one we do not know."""
        call = self._answered(request)
        if call is not None and call.invite_branch == request.top_via().branch:
            return reply(request, 200, to_tag=call.dialog.local_tag)
        return reply(request, 481, to_tag=messages.new_tag(self.rng))

    def _message(self, request: Request) -> Response:
        """RFC 3428 §7: 200 and kept; 415 for a body that is not text."""
        if message_text(request) is None:
            return reply(request, 415, to_tag=messages.new_tag(self.rng))
        self.messages_received.append(message_note(request))
        return reply(request, 200, to_tag=messages.new_tag(self.rng))

    def _bye(self, key: tuple[str, str]) -> Request:
        call = self.calls[key]
        bye = call.dialog.request("BYE", [("User-Agent", messages.USER_AGENT)])
        self._forget(key)
        return stamp(bye, self.local, self.rng)

    def _forget(self, key: tuple[str, str]) -> None:
        if self.calls.pop(key, None) is not None:
            self.calls_ended += 1
