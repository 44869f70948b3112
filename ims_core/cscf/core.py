"""A proxy core that can consult the HSS without doing I/O, and that answers every
request waiting on the HSS whatever happens to the question.

A CSCF hook that needs Cx (UAR, MAR, SAR, LIR) calls :meth:`CscfCore.query` with the
request, a callback, the SIP request waiting on it and the time, and returns ``None`` from
``route_request`` to defer the decision. The adapter
(:class:`ims_core.cscf.server.CscfServer`) drains :meth:`queries_to_send`, sends each over
Diameter, and hands the answer — or the ``DiameterUnavailable``/``DiameterTimeout`` that
stood in for one — to :meth:`answer_query`; the callback then calls ``forward()`` or
``respond()``. Tests drive the same core with a fake HSS and a fake clock.

The guarantees, in one place for every CSCF (RFC 3261 §16.2: a proxy answers what it
takes on; TS 24.229 §5.3.1.2, §5.4.1.2):

- each query has a deadline (its timeout, else the Diameter client's request timeout):
  when it passes without an answer the callback gets ``DiameterTimeout`` from the core
  itself (``get_timer``/``handle_timer``), and an answer arriving later is dropped;
- each query is answered once;
- a callback that raises answers its request 500 with a Reason header (RFC 3326);
- a callback that returns leaving its request with no final response, no branch and no
  other question pending answers it 500 with a Reason header too;
- once the request has its final response (a CANCEL, a timeout), the late answer has no
  one to tell and the callback is not called.

How a failed exchange reads in SIP is :mod:`.cxresult`'s table; :meth:`cx_failure`
builds that response with its Reason header.

Readiness: the adapter sets :attr:`CscfCore.diameter_ready` as its Diameter connection to
the HSS opens and closes. While a node that has a ``[diameter]`` client is not connected,
an OPTIONS addressed to it is answered 503 with Retry-After (RFC 3261 §11.2, §21.5.4), so
a health probe or a peer's keep-alive sees a node that cannot serve registrations.

Overload (:mod:`.overload`): the first thing a new request meets is the node's
:class:`LoadMonitor`, asked for a token; a request that finds none and is not protected is
answered at once 503 with Retry-After (RFC 3261 §21.5.4), before any other check, parse or
Cx query. A non-INVITE is refused statelessly (``refuse_statelessly``: no server transaction
is made, none kept for Timer J; RFC 3261 §16.11), an INVITE by its transaction
(``check_request``), which then absorbs the ACK of the 503. Protected — never shed, though
they still take a token when one is there: requests within a dialog (To tag), an OPTIONS to
us (a peer's keep-alive must not read a busy node as a dead one), and what a node's
:meth:`CscfCore.protected` adds. ACK, CANCEL and responses are never asked. The latency of
every other admitted non-INVITE request, from its arrival (``ctx.created``) to its final
response, feeds the monitor; an INVITE's final response waits on a person, and a 408 on a
peer that did not answer, so neither measures this node's load. Each 503 of overload control
is counted in ``metrics.overload_rejected{method}`` (the one count of refusals).

Draining (a graceful stop, :mod:`.drain`): once :meth:`CscfCore.start_draining` is called,
every new request outside a dialog is answered 503 with Retry-After (RFC 3261 §21.5.4) so
that its sender tries another node, while requests within dialogs, responses and the
transactions already under way carry on; :attr:`CscfCore.in_flight` says how many are left.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ims_core import log
from ims_core.deadlines import DeadlineHeap
from ims_core.diameter import (
    DiameterError,
    DiameterTimeout,
    Message,
    ResultCode,
    SessionIds,
    make_request,
)
from ims_core.metrics import method_label
from ims_core.proxy import ProxyConfig, ProxyCore, RequestContext
from ims_core.proxy.context import StateT
from ims_core.sip import Request, Response, SipParseError, quote
from ims_core.sip.ids import unique_bytes
from ims_core.transaction import TimerConfig

from .config import DiameterClient
from .cxresult import CxVerdict
from .overload import Decision, LoadMonitor, OverloadConfig

_log = log.get("cscf")

# What a Cx callback receives: the answer, or the error that stood in for one.
CxOutcome = Message | DiameterError | Exception
DEFAULT_CX_TIMEOUT = 2.0  # seconds, when neither the query nor [diameter] names one
NOT_READY_RETRY_AFTER = 5  # seconds, in the 503 to an OPTIONS while the HSS is unreachable
DRAINING_RETRY_AFTER = 30  # seconds, in the 503 to a new request while the node stops


@dataclass(slots=True, eq=False, init=False)
class DiameterQuery:
    """A Cx request the core wants sent. ``on_answer(outcome, now)`` gets the result
    once; ``ctx`` is the SIP request waiting on it (None for a query nobody waits on,
    e.g. a SAR after a registration expired). ``timeout`` is how long the adapter should
    wait; the core gives up itself at ``deadline``."""

    request: Message
    on_answer: Callable[[CxOutcome, float], None]
    timeout: float
    deadline: float
    ctx: RequestContext[Any] | None = None
    done: bool = field(default=False, compare=False)

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, request: Message, on_answer: Callable[[CxOutcome, float], None],
                 timeout: float, deadline: float, ctx: RequestContext[Any] | None = None,
                 done: bool = False) -> None:
        self.request = request
        self.on_answer = on_answer
        self.timeout = timeout
        self.deadline = deadline
        self.ctx = ctx
        self.done = done


def reason_value(status: int, text: str) -> str:
    """A Reason header value for a response we generate (RFC 3326 §2)."""
    return f"SIP;cause={status};text={quote(text)}"


def answers_challenge(request: Request) -> bool:
    """A REGISTER carrying a challenge's nonce (TS 24.229 §5.1.1.2.1, the second REGISTER
    of IMS-AKA): half a registration is done, and shedding it would waste that half. Not
    checked against the challenges issued (only the S-CSCF knows them)."""
    return request.method == "REGISTER" and any(
        h.is_digest and bool(h.nonce) for h in request.auth_headers("authorization"))


class CscfCore(ProxyCore[StateT]):
    """A proxy core with a sans-I/O Cx outbox; see the module docstring."""

    def __init__(
        self,
        config: ProxyConfig,
        diameter: DiameterClient | None = None,
        timers: TimerConfig | None = None,
        *,
        rng: Callable[[int], bytes] = unique_bytes,
        overload: OverloadConfig | None = None,
    ) -> None:
        super().__init__(config, timers, rng=rng)
        self.overload = LoadMonitor(overload)
        self._shed: RequestContext[StateT] | None = None  # its 503 is not a latency sample
        self.diameter = diameter
        self._session_ids = SessionIds(rng)
        self._queries: list[DiameterQuery] = []
        self._cx_deadlines: DeadlineHeap[DiameterQuery] = DeadlineHeap()
        self._timer_heaps.append(self._cx_deadlines)  # in `get_timer`
        # Whether the Diameter connection to the HSS is open (the adapter keeps it).
        self.diameter_ready = True
        self.draining = False  # stopping: new requests outside dialogs get 503

    # -- building and asking ------------------------------------------------------------
    def cx_request(
        self,
        command: str,
        avps: Mapping[str, Any] | Sequence[tuple[str, Any]] = (),
    ) -> Message:
        """A Cx request from us to the home realm (TS 29.229 §6.1: Session-Id, VSAI and
        Auth-Session-State are added by ``make_request``)."""
        d = self.diameter
        if d is None:
            raise RuntimeError("this node has no [diameter] configuration")
        try:
            return make_request(command, origin_host=d.origin_host,
                                origin_realm=d.origin_realm, destination_realm=d.origin_realm,
                                avps=avps or None, session_ids=self._session_ids)
        except UnicodeEncodeError:
            # Text of the request (an identity, a network name) that is not UTF-8, as
            # SIP text must be (RFC 3261 §25.1) and a UTF8String AVP cannot carry (RFC
            # 6733 §4.3.1): the request is malformed.
            raise SipParseError("Malformed identity (not UTF-8)") from None

    def query(self, request: Message, on_answer: Callable[[CxOutcome, float], None], *,
              ctx: RequestContext[Any] | None, now: float,
              timeout: float | None = None) -> DiameterQuery:
        """Ask the HSS; ``on_answer`` runs once with the answer or the error (see the
        module docstring for what happens when it does not answer the request)."""
        if timeout is None:
            timeout = self.diameter.request_timeout if self.diameter else DEFAULT_CX_TIMEOUT
        q = DiameterQuery(request, on_answer, timeout, now + timeout, ctx)
        self._queries.append(q)
        self._cx_deadlines.set(q, q.deadline)
        if ctx is not None:
            ctx.waiting += 1
        return q

    def queries_to_send(self) -> list[DiameterQuery]:
        out, self._queries = self._queries, []
        return out

    @property
    def open_queries(self) -> int:
        """Queries sent and not yet answered or timed out."""
        return len(self._cx_deadlines)

    # -- answers ------------------------------------------------------------------------
    def answer_query(self, query: DiameterQuery, outcome: CxOutcome, now: float) -> None:
        """Deliver a query's outcome (the adapter calls this; the core does on timeout).
        A second delivery — a late answer after the deadline — is dropped."""
        if query.done:
            return
        query.done = True
        self._cx_deadlines.discard(query)  # lets go of the query and its request now
        ctx = query.ctx
        if ctx is not None:
            ctx.waiting -= 1
            if ctx.final_sent:
                return  # answered meanwhile (CANCEL, a timeout): nobody to tell
        try:
            query.on_answer(outcome, now)
        except Exception:
            _log.exception("cscf.cx_callback_failed", command=query.request.name)
            if ctx is not None and not ctx.final_sent:
                self.respond(ctx, self.failure_response(
                    ctx, 500, f"internal error handling the {query.request.name}"), now)
            return
        if (ctx is not None and not ctx.final_sent and not ctx.branches
                and ctx.waiting == 0):
            _log.error("cscf.request_left_open", command=query.request.name,
                       call_id=ctx.request.headers.get("call-id"))
            self.respond(ctx, self.failure_response(
                ctx, 500, f"no decision after the {query.request.name}"), now)

    def failure_response(self, ctx: RequestContext[StateT], status: int, text: str,
                         phrase: str | None = None) -> Response:
        """``status`` for a request we cannot serve, saying why in a Reason header
        (RFC 3326) so the cause is visible on the wire."""
        response = self.make_response(ctx, status, phrase)
        response.headers.add("Reason", reason_value(status, text))
        return response

    def cx_failure(self, ctx: RequestContext[StateT], verdict: CxVerdict,
                   no_answer_status: int) -> Response:
        """The response for a Cx exchange that did not say yes (:mod:`.cxresult`):
        the verdict's status, or ``no_answer_status`` when the HSS gave no usable
        answer (504 gets its "Server Time-out" phrase)."""
        if verdict.no_answer:
            phrase = "Server Time-out" if no_answer_status == 504 else None
            return self.failure_response(ctx, no_answer_status, verdict.text, phrase)
        return self.failure_response(ctx, verdict.status, verdict.text, verdict.phrase)

    def options_response(self, ctx: RequestContext[StateT]) -> Response:
        """200 to an OPTIONS for us (RFC 3261 §11.2), or 503 with Retry-After while a
        node that asks the HSS has no Diameter connection to it (see the module doc)."""
        if self.diameter is not None and not self.diameter_ready:
            response = self.failure_response(ctx, 503, "no Diameter connection to the HSS")
            response.headers.add("Retry-After", str(NOT_READY_RETRY_AFTER))
            return response
        return super().options_response(ctx)

    # -- draining (module docstring) ----------------------------------------------------
    def start_draining(self) -> None:
        self.draining = True

    @property
    def in_flight(self) -> int:
        """Requests not yet answered, our own requests not yet answered and Cx queries
        open: what a graceful stop waits for."""
        waiting = sum(1 for ctx in self._contexts.values() if not ctx.final_sent)
        return waiting + len(self._outgoing) + self.open_queries

    def draining_response(self, ctx: RequestContext[StateT]) -> Response:
        response = self.failure_response(ctx, 503, "shutting down")
        response.headers.add("Retry-After", str(DRAINING_RETRY_AFTER))
        return response

    # -- overload (module docstring) ----------------------------------------------------
    def refuse_statelessly(self, ctx: RequestContext[StateT]) -> Response | None:
        # A shed non-INVITE costs no transaction: nothing kept for Timer J, no context
        # (the capacity it would take goes to the requests admitted).
        return self._shed_now(ctx)

    def check_request(self, ctx: RequestContext[StateT]) -> Response | None:
        if ctx.request.method == "INVITE":  # shed statefully: its ACK finds the transaction
            refusal = self._shed_now(ctx)
            if refusal is not None:
                self._shed = ctx  # its 503 is not a latency sample
                return refusal
        return super().check_request(ctx)

    def _shed_now(self, ctx: RequestContext[StateT]) -> Response | None:
        """503 while draining (outside dialogs) or for what overload control sheds."""
        if self.draining and not ctx.in_dialog:
            return self.draining_response(ctx)
        mon = self.overload  # disabled: nothing per request (no closure, no bucket)
        if mon.config.enabled and not mon.admit(ctx.created, lambda: self._protected(ctx)):
            self._metrics.overload_rejected.inc(method_label(ctx.request.method))
            return self.overload_response(ctx)
        return None

    def _protected(self, ctx: RequestContext[StateT]) -> bool:
        request = ctx.request
        return (ctx.in_dialog or (request.method == "OPTIONS" and self.is_local(request.uri))
                or self.protected(ctx))

    def protected(self, ctx: RequestContext[StateT]) -> bool:
        """Whether this initial request passes even when the node sheds load (asked only
        then): here, a REGISTER answering a challenge. Nodes add their own, e.g. a
        refresh of what is already registered."""
        return answers_challenge(ctx.request)

    def overload_response(self, ctx: RequestContext[StateT]) -> Response:
        """503 with Retry-After (RFC 3261 §21.5.4), jittered up to as much again so that
        the UEs refused together do not all come back in the same second."""
        response = self.failure_response(ctx, 503, "overloaded")
        base = self.overload.config.retry_after
        response.headers.add("Retry-After", str(base + self.rng(1)[0] % (base + 1)))
        return response

    def respond(self, ctx: RequestContext[StateT], response: Response | int,
                now: float) -> None:
        status = response if isinstance(response, int) else response.status
        first_final = status >= 200 and not ctx.final_sent
        super().respond(ctx, response, now)
        if first_final:
            self._finished(ctx, status, now)

    def on_final(self, ctx: RequestContext[StateT], response: Response, now: float) -> None:
        super().on_final(ctx, response, now)
        self._finished(ctx, response.status, now)

    def _finished(self, ctx: RequestContext[StateT], status: int, now: float) -> None:
        """A final response went upstream: the request's latency is a sample."""
        if self._shed is ctx:
            self._shed = None
            return
        if status == 408 or ctx.request.method == "INVITE" or not self.overload.config.enabled:
            return
        self._decided(self.overload.record(now - ctx.created, now))

    def queue_delay(self, delay: float, now: float) -> None:
        """A probe of the node's own UDP queue (``transport.queueprobe``) waited `delay`."""
        self._decided(self.overload.queued(delay, now))

    def _decided(self, decision: Decision | None) -> None:
        # None (no period closed) is nearly every call: tested first, as it is cheaper
        # than reading an Enum member off its class.
        if decision is not None and decision is Decision.DECREASE:
            mon = self.overload
            rejected = sum(self._metrics.overload_rejected.values.values())
            _log.warning("cscf.overload", rate=round(mon.rate), rejected=int(rejected),
                         latency_ms=round(mon.smoothed * 1000, 1),
                         queue_ms=round(mon.queue * 1000, 1))

    # -- requests from the HSS ------------------------------------------------------------
    def handle_cx_request(self, request: Message, now: float) -> Message:
        """Answer a request the HSS sent us (RTR, PPR: TS 29.229 §6.1.9, §6.1.11). Only
        the S-CSCF serves any; here they get 3001 DIAMETER_COMMAND_UNSUPPORTED. What the
        answer sets in motion (NOTIFYs, SARs) waits in the outboxes for the adapter."""
        raise DiameterError(ResultCode.COMMAND_UNSUPPORTED,
                            f"{request.name} is not served by this node")

    # -- timers -------------------------------------------------------------------------
    def handle_timer(self, now: float) -> None:
        super().handle_timer(now)
        for q in self._cx_deadlines.pop_due(now):
            if not q.done:
                _log.warning("cscf.cx_timeout", command=q.request.name, seconds=q.timeout)
                self.answer_query(q, DiameterTimeout(
                    f"no {q.request.name} answer within {q.timeout:g}s"), now)
