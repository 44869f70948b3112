"""The transaction-stateful proxy engine (RFC 3261 §16), sans-I/O; how it works is in
the package docstring (`ims_core.proxy`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, cast

from ims_core import log
from ims_core.deadlines import DeadlineHeap
from ims_core.metrics import method_label
from ims_core.sip import Request, Response, SipParseError, SipUri, make_cancel, make_response
from ims_core.sip.addressing import Destination, Source
from ims_core.sip.ids import unique_bytes
from ims_core.transaction import (
    AckReceived,
    ClientTransaction,
    InviteClientTransaction,
    ResponseReceived,
    ServerTransaction,
    State,
    TimedOut,
    TimerConfig,
    Transaction,
    TransactionError,
    TransactionTable,
    TransactionTerminated,
    TransportFailed,
)

from .branch import is_looped, loop_hash, new_branch, new_salt, stateless_branch, stateless_tag
from .config import ProxyConfig
from .context import Branch, RequestContext, Send, StateT, branch_finals, release
from .routing import (
    Target,
    forward_copy,
    forward_destination,
    is_local,
    preprocess_routes,
    request_destination,
    stamp_via,
    stateless_response_destination,
)
from .selection import best_response
from .stats import SipCounting, answered, response_received
from .uac import OnResponse, Outgoing

_log = log.get("proxy")
Key = tuple[object, ...] | None  # a server transaction's key, when already worked out


class ProxyCore(SipCounting, Generic[StateT]):
    """The stateful proxy engine; see the module docstring (what it counts: `.stats`).
    `StateT` is the type of the per-request state a subclass keeps (None: plain proxy)."""

    # §11.2: the Allow and Supported values of our 200 to an OPTIONS addressed to us.
    allow: ClassVar[str] = "INVITE, ACK, CANCEL, BYE, OPTIONS"
    supported: ClassVar[str] = ""

    def __init__(self, config: ProxyConfig, timers: TimerConfig | None = None, *,
                 rng: Callable[[int], bytes] = unique_bytes) -> None:
        self.config = config
        self.rng = rng  # tags, branch salt: every random choice of this core
        self.salt = new_salt(rng)  # marks our branches for loop detection (§16.3 step 4)
        self._branch_seq = itertools.count(1)
        self.table = TransactionTable(timers)
        self.metrics = self.table.metrics  # a private set until the node assigns its own
        self._out: list[Send] = []
        self._contexts: dict[ServerTransaction, RequestContext[StateT]] = {}
        self._branches: dict[ClientTransaction, Branch[StateT]] = {}
        self._outgoing: dict[ClientTransaction, Outgoing] = {}  # our own requests (.uac)
        # Timer C of INVITE branches (§16.6 step 11) and the bound on INVITE contexts.
        self._proxy_timers: DeadlineHeap[Branch[StateT] | RequestContext[StateT]] = DeadlineHeap()
        # Every heap `get_timer` reads (subclasses add theirs): one loop, asked per message.
        self._timer_heaps: list[DeadlineHeap[Any]] = [self.table.timers, self._proxy_timers]

    # -- outputs -------------------------------------------------------------------------
    def data_to_send(self) -> list[Send]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        earliest: float | None = None
        for heap in self._timer_heaps:
            due = heap.peek()
            if due is not None and (earliest is None or due < earliest):
                earliest = due
        return earliest

    # -- inputs --------------------------------------------------------------------------
    def receive(self, message: Request | Response, source: Source, now: float) -> None:
        """A message from the transport. Raises SipParseError for a request whose
        essential headers are malformed (the transport answers 400)."""
        if isinstance(message, Response):
            self._receive_response(message, now)
            return
        method = message.method
        self._metrics.requests_received.inc(method_label(method))
        if method == "CANCEL":
            self._receive_cancel(message, source, now)
            return
        key, stx = self.table.lookup_request(message)
        if stx is not None:  # a retransmission (§17.2.1, §17.2.2), an ACK for our non-2xx
            stx.receive(message, now)  # or a 2xx ACK in Accepted (RFC 6026)
            self._drain(stx, now)
        elif method == "ACK":
            self._forward_ack(message, source, now)
        else:
            self._new_request(message, source, now, key)

    def handle_timer(self, now: float) -> None:
        for tx in self.table.handle_timer(now):
            self._drain(tx, now)
        for item in self._proxy_timers.pop_due(now):
            if isinstance(item, Branch):
                item.timer_c = None
                if item.final is None:
                    self._timer_c_fired(item, now)
            elif not self._answer_if_abandoned(item, now):  # a branch still bounds it
                self._proxy_timers.set(item, now + self.config.timer_c)

    def send_failed(self, item: Send, now: float) -> None:
        """The transport could not send `item` (§18.4 → §17.1.4 → §16.9: a 503)."""
        tx = item.tx
        if tx is not None and not tx.terminated:
            tx.transport_error(now)
            self._drain(tx, now)

    # -- hooks ---------------------------------------------------------------------------
    def new_state(self, request: Request) -> StateT:
        """A fresh per-request state for a new context (the plain proxy keeps none)."""
        return cast(StateT, None)

    def refuse_statelessly(self, ctx: RequestContext[StateT]) -> Response | None:
        """A response refusing a new non-INVITE request before any transaction is made
        for it, sent statelessly (§16.11; ``ctx`` has no server transaction, so its To
        tag is one the same request always gets, §8.2.7); None: go on statefully."""
        return None

    def check_request(self, ctx: RequestContext[StateT]) -> Response | None:
        """§16.3 steps 3-5 (step 1-2 are the parser's); return a response to reject."""
        request = ctx.request
        if request.max_forwards == 0:  # step 3: an OPTIONS ends here, answered (§11)
            if request.method == "OPTIONS":
                return self.options_response(ctx)
            return self.make_response(ctx, 483)
        if is_looped(request, ctx.loop, self.salt):
            return self.make_response(ctx, 482)
        required = request.headers.values("proxy-require")
        if required:
            response = self.make_response(ctx, 420)
            response.headers.add("Unsupported", ", ".join(required))
            return response
        return None

    def route_request(
        self, ctx: RequestContext[StateT]
    ) -> Target | Sequence[Target] | Response | None:
        """§16.5: decide where the request goes. The generic proxy follows the Route
        set if there is one; an out-of-dialog request, or one addressed to us, goes to
        the configured next hop; anything else to its Request-URI."""
        request = ctx.request
        next_hop = self.config.next_hop
        if "route" in request.headers or next_hop is None:
            return Target()
        if not ctx.in_dialog or self.is_local(request.uri):
            return Target(next_hop=next_hop)
        return Target()

    def should_record_route(self, ctx: RequestContext[StateT]) -> bool:
        """§16.6 step 4: Record-Route dialog-creating requests when configured."""
        return self.config.record_route and not ctx.in_dialog and ctx.request.method != "REGISTER"

    def on_forward(self, ctx: RequestContext[StateT], request: Request, target: Target) -> None:
        """Edit a copy about to be forwarded (after Max-Forwards and Record-Route)."""

    def on_response(self, ctx: RequestContext[StateT], response: Response) -> None:
        """Edit a response about to be forwarded upstream (our Via already removed)."""

    def on_branch_final(self, ctx: RequestContext[StateT], branch: Branch[StateT],
                        response: Response, now: float) -> bool:
        """A branch got its final response (408/503 when it timed out or failed to send).
        Return True to take it over — e.g. retry elsewhere (an AS with DefaultHandling
        SESSION_CONTINUED): the branch then leaves best-response selection (§16.7) and the
        subclass must `forward()` or `respond()`. Not called once the request is answered
        or cancelled."""
        return False

    def on_final(self, ctx: RequestContext[StateT], response: Response, now: float) -> None:
        """A final response from a branch went upstream (not one we generated)."""

    # -- helpers for subclasses ----------------------------------------------------------
    def is_local(self, uri: object) -> bool:
        return isinstance(uri, SipUri) and is_local(uri, self.config.names)

    def make_response(self, ctx: RequestContext[StateT], status: int,
                      reason: str | None = None) -> Response:
        """A response of our own to the request (marked `generated`, §16.7 step 6); one
        to a request whose To is malformed goes without our tag, answered all the same."""
        try:
            response = make_response(ctx.request, status, reason, to_tag=ctx.to_tag)
        except SipParseError:
            response = make_response(ctx.request, status, reason)
        response.generated = True
        return response

    def options_response(self, ctx: RequestContext[StateT]) -> Response:
        """§11.2: our 200 to an OPTIONS for us, with `allow` and `supported`."""
        response = self.make_response(ctx, 200)
        response.headers.add("Allow", self.allow)
        if self.supported:
            response.headers.add("Supported", self.supported)
        return response

    def new_context(self, request: Request, source: Source, server_tx: ServerTransaction | None,
                    now: float, loop: str = "") -> RequestContext[StateT]:
        return RequestContext(request, source, server_tx, now, self.new_state(request),
                              self.rng, loop)

    def respond(self, ctx: RequestContext[StateT], response: Response | int, now: float) -> None:
        """Answer the request ourselves (a final response ends the context)."""
        if isinstance(response, int):
            response = self.make_response(ctx, response)
        if response.status >= 200:
            if ctx.final_sent:
                return
            ctx.final_sent = True
        self._send_upstream(ctx, response, now)

    def forward(self, ctx: RequestContext[StateT], targets: Target | Sequence[Target],
                now: float) -> None:
        """Forward to each target in parallel (§16.6); refuses after a CANCEL."""
        if ctx.cancelled:
            self.respond(ctx, 487, now)
            return
        for target in [targets] if isinstance(targets, Target) else targets:
            self._forward_one(ctx, target, now)
        if not ctx.branches and not ctx.final_sent:
            self.respond(ctx, 480, now)

    def originate(self, request: Request, on_response: OnResponse, now: float, *,
                  transport: str = "UDP", strict: bool = False) -> bool:
        """Our own request, complete but for our Via (a UAC, §8.1.2, `.uac`), goes by its top
        Route (its Request-URI if formed for a `strict` router); False: nowhere to go."""
        dest = request_destination(request, transport, strict=strict)
        if dest is None:
            return False
        branch = new_branch("", self.salt, next(self._branch_seq))
        data, dest = stamp_via(request, dest, branch, self.config, flow=False)
        tx = self.table.create_client(request, reliable=dest.reliable, now=now, data=data,
                                     branch=branch)
        tx.flow = dest
        self._outgoing[tx] = Outgoing(request, on_response)
        self._drain(tx, now)
        return True

    # -- requests ------------------------------------------------------------------------
    def _new_request(self, request: Request, source: Source, now: float, key: Key = None) -> None:
        ctx = self.new_context(request, source, None, now, loop_hash(request))
        if request.method != "INVITE":  # an INVITE's ACK would find no transaction
            refusal = self.refuse_statelessly(ctx)
            if refusal is not None:
                self._stateless(refusal.to_bytes(), source.responses_to, request.method,
                                refusal.status)
                return
        stx = self.table.create_server(request, reliable=source.reliable, now=now, key=key)
        stx.flow = source.responses_to
        ctx.server_tx = stx
        self._contexts[stx] = ctx
        if request.method == "INVITE":  # no transaction timer bounds an INVITE context
            self._proxy_timers.set(ctx, now + self.config.timer_c)
        try:
            rejection = self.check_request(ctx)
            if rejection is not None:
                self.respond(ctx, rejection, now)
                return
            if request.method == "INVITE":  # §16.2: 100 Trying at once
                self._send_upstream(ctx, make_response(request, 100), now)
            preprocess_routes(request, self.config.names)
            if (request.method == "OPTIONS" and "route" not in request.headers
                    and self.is_local(request.uri)):  # §11: addressed to us, answered here
                self.respond(ctx, self.options_response(ctx), now)
                return
            self._route(ctx, now)
        except Exception as exc:
            # A header we needed is malformed (§16.3 step 1): its 4xx. Any other error is
            # a fault of ours: 500, for every request gets a final response.
            if ctx.final_sent:
                raise
            status, why = (exc.status, exc.reason) if isinstance(exc, SipParseError) else (
                500, "Server Internal Error")
            if status == 500:
                _log.exception("proxy.request_failed", method=request.method)
            self.respond(ctx, self.make_response(ctx, status, why), now)

    def _route(self, ctx: RequestContext[StateT], now: float) -> None:
        decision = self.route_request(ctx)
        if decision is None:
            return  # the subclass calls forward() or respond() later
        if isinstance(decision, Response):
            self.respond(ctx, decision, now)
        else:
            self.forward(ctx, decision, now)

    def _prepare(self, request: Request, target: Target, inbound: str,
                 ctx: RequestContext[StateT] | None, *,
                 record_route: bool = False) -> tuple[Request, Destination | None]:
        """§16.6 steps 1-7: the copy for `target` and where it goes (None: nowhere)."""
        out = forward_copy(request, target, inbound, self.config, record_route)  # steps 1-4
        if ctx is not None:
            self.on_forward(ctx, out, target)  # step 5
        return out, forward_destination(out, target, inbound)  # steps 6-7

    def _forward_one(self, ctx: RequestContext[StateT], target: Target, now: float) -> None:
        request, dest = self._prepare(ctx.request, target, ctx.source.transport, ctx,
                                      record_route=self.should_record_route(ctx))
        if dest is None:
            if not ctx.final_sent and not ctx.branches:
                self.respond(ctx, 416, now)
            return
        branch = new_branch(ctx.loop, self.salt, next(self._branch_seq))
        data, dest = stamp_via(request, dest, branch, self.config, flow=target.flow)  # step 8
        tx = self.table.create_client(request, reliable=dest.reliable, now=now, data=data,
                                     branch=branch)
        tx.flow = dest
        entry = Branch(ctx, tx, request, dest, target)
        ctx.branches.append(entry)
        self._branches[tx] = entry
        if request.method == "INVITE":
            self._start_timer_c(entry, now)  # §16.6 step 11
        self._drain(tx, now)

    def _forward_ack(self, ack: Request, source: Source, now: float) -> None:
        """§16.11: an ACK for a 2xx goes on statelessly, routed by the hooks."""
        if ack.max_forwards == 0:
            return
        preprocess_routes(ack, self.config.names)
        ctx = self.new_context(ack, source, None, now)
        decision = self.route_request(ctx)
        if decision is None or isinstance(decision, Response):
            return
        targets = [decision] if isinstance(decision, Target) else decision
        if targets:
            self._relay(ack, source, targets[0], ctx)

    def _relay(self, request: Request, source: Source, target: Target,
               ctx: RequestContext[StateT] | None) -> bool:
        """§16.11: forward `request` to `target` without a transaction, under the same
        branch each time. False when it has nowhere to go but back to us."""
        out, dest = self._prepare(request, target, source.transport, ctx)
        if dest is None or (dest.host.lower(), dest.port) in self.config.names:
            return False
        cfg = self.config
        out.push_via(f"SIP/2.0/{dest.transport} {cfg.host}:{cfg.port};"
                     f"branch={stateless_branch(request)}")
        self._stateless(out.to_bytes(), dest, out.method)
        return True

    def _reply_stateless(self, request: Request, source: Source, status: int) -> None:
        """Answer a request we keep no transaction for (§16.11); its To tag is derived
        from the request, so a retransmission gets the same answer (§8.2.7)."""
        response = make_response(request, status, to_tag=stateless_tag(request))
        self._stateless(response.to_bytes(), source.responses_to, request.method, status)

    def _receive_cancel(self, cancel: Request, source: Source, now: float) -> None:
        """§16.10: answer a CANCEL that matches an INVITE we are proxying and cancel its
        branches; any other CANCEL is forwarded statelessly."""
        stx = self.table.match_request(cancel)
        if stx is not None:
            stx.receive(cancel, now)
            self._drain(stx, now)
            return
        invite_tx = self.table.match_cancel(cancel)
        ctx = self._contexts.get(invite_tx) if invite_tx is not None else None
        if ctx is None:
            self._cancel_stateless(cancel, source)
            return
        ctx_cancel = self.new_context(cancel, source, None, now)
        cancel_tx = self.table.create_server(cancel, reliable=source.reliable, now=now)
        cancel_tx.flow = source.reply_to
        ctx_cancel.server_tx = cancel_tx
        self._send_upstream(ctx_cancel, make_response(cancel, 200, to_tag=ctx.to_tag), now)
        ctx.cancelled = True
        if not ctx.branches and not ctx.final_sent:
            self.respond(ctx, 487, now)
        for branch in list(ctx.branches):
            self._cancel_branch(branch, now)

    def _cancel_stateless(self, cancel: Request, source: Source) -> None:
        """§16.10: a CANCEL with no INVITE of ours to apply to goes on statelessly by its
        Route set or Request-URI (§16.11), past every hook: we never saw that INVITE."""
        if cancel.max_forwards == 0:
            self._reply_stateless(cancel, source, 483)  # §16.3 step 3
            return
        preprocess_routes(cancel, self.config.names)
        if not self._relay(cancel, source, Target(), None):
            self._reply_stateless(cancel, source, 481)  # §9.2: no such transaction here

    def _cancel_branch(self, branch: Branch[StateT], now: float) -> None:
        """CANCEL an INVITE branch whose transaction has no final response (§16.10,
        §9.1). Its transaction then ends within 64*T1 even if nobody answers."""
        invite_tx = branch.tx
        if branch.cancelled or not isinstance(invite_tx, InviteClientTransaction):
            return
        if invite_tx.state is State.CALLING:  # §9.1: wait for a provisional response
            branch.cancel_pending = True
            return
        if invite_tx.state is not State.PROCEEDING:
            return  # a final response came: nothing to cancel
        branch.cancelled = True
        self._stop_timer_c(branch)  # §16.8: the transaction's CANCEL guard bounds it now
        cancel = make_cancel(branch.request)
        tx = self.table.create_client(cancel, reliable=branch.dest.reliable, now=now)
        tx.flow = branch.dest
        self._branches[tx] = Branch(branch.ctx, tx, cancel, branch.dest, is_cancel=True)
        invite_tx.cancel_sent(now)
        self._drain(tx, now)

    # -- responses -----------------------------------------------------------------------
    def _receive_response(self, response: Response, now: float) -> None:
        ctx_tx = self.table.match_response(response)
        method = response_received(self._metrics, response, ctx_tx)
        if ctx_tx is not None:
            ctx_tx.receive(response, now)
            self._drain(ctx_tx, now)
            return
        dest = stateless_response_destination(response, self.config.names, self.salt)
        if dest is not None:  # §16.7 step 1: no transaction, so on as a stateless proxy
            self._stateless(response.to_bytes(), dest, method, response.status)

    def _on_branch_response(self, branch: Branch[StateT], response: Response, now: float) -> None:
        if branch.is_cancel:
            return  # §16.10: responses to our CANCEL are not forwarded
        response.headers.pop_first_value("via")  # §16.7 step 3
        if "via" not in response.headers:
            return
        ctx = branch.ctx
        status = response.status
        if status < 200:
            branch.provisional = True
            if status > 100 and branch.timer_c is not None and not branch.cancelled:
                self._start_timer_c(branch, now)  # §16.7 step 2
            if branch.cancel_pending:
                branch.cancel_pending = False
                self._cancel_branch(branch, now)
            if status == 100 or ctx.final_sent:
                return
            self.on_response(ctx, response)
            self._send_upstream(ctx, response, now)
        elif status < 300:  # §16.7 step 5: every 2xx goes upstream at once
            self._stop_timer_c(branch)
            first = branch.final is None
            branch.final = branch.final or response
            self.on_response(ctx, response)
            self._send_upstream(ctx, response, now)
            if not ctx.final_sent:
                ctx.final_sent = True
                self.on_final(ctx, response, now)
            if first and ctx.request.method == "INVITE":
                for other in ctx.branches:  # §16.7 step 10
                    self._cancel_branch(other, now)
        else:
            self._on_branch_final(branch, response, now)

    def _on_branch_final(self, branch: Branch[StateT], response: Response, now: float) -> None:
        ctx = branch.ctx
        self._stop_timer_c(branch)
        if branch.final is None:
            branch.final = response
        if (not ctx.final_sent and not ctx.cancelled
                and self.on_branch_final(ctx, branch, response, now)):
            if branch in ctx.branches:  # taken over: no longer a candidate (§16.7)
                ctx.branches.remove(branch)
            return
        if response.status >= 600 and ctx.request.method == "INVITE":
            for other in ctx.branches:  # §16.7 step 5
                self._cancel_branch(other, now)
        finals = None if ctx.final_sent else branch_finals(ctx)
        if finals is None:  # answered already, or a branch still waits
            return
        best = best_response(finals)
        if best.status == 503:  # §16.7 step 6; §16.9: a transport failure counts as one
            best = self.make_response(ctx, 500)
        elif not best.generated:
            self.on_response(ctx, best)
        ctx.final_sent = True
        self._send_upstream(ctx, best, now)
        self.on_final(ctx, best, now)

    def _send_upstream(self, ctx: RequestContext[StateT], response: Response, now: float) -> None:
        stx = ctx.server_tx
        if stx is not None and not stx.terminated:
            first_final = stx.last_status < 200 <= response.status
            try:
                stx.send_response(response, now)
            except TransactionError:
                return  # e.g. a late 1xx after the final response
            self._drain(stx, now)
            if first_final:
                answered(self._metrics, ctx, stx, response.status, now)
            if response.status >= 200:
                self._answered(ctx, stx)
        elif response.status // 100 == 2 and (reply_to := ctx.source.reply_to) is not None:
            self._stateless(response.to_bytes(), reply_to, ctx.request.method, response.status)

    def _start_timer_c(self, branch: Branch[StateT], now: float) -> None:
        branch.timer_c = now + self.config.timer_c
        self._proxy_timers.set(branch, branch.timer_c)

    def _stop_timer_c(self, branch: Branch[StateT]) -> None:
        if branch.timer_c is not None:
            branch.timer_c = None
            self._proxy_timers.discard(branch)  # lets go of the branch (and its context) now

    def _timer_c_fired(self, branch: Branch[StateT], now: float) -> None:
        """§16.8: CANCEL a branch that had a provisional response (without a final
        response its transaction times out 64*T1 later: a 408), else treat it as a 408
        at once, and CANCEL it should a provisional response still come."""
        if not branch.provisional:
            self._branch_failed(branch, 408, now)
        self._cancel_branch(branch, now)  # now, or when a provisional response comes

    def _answer_if_abandoned(self, ctx: RequestContext[StateT], now: float) -> bool:
        """A request's time is up (its non-INVITE guard, Timer C's length for an
        INVITE): answer it unless a branch still awaits a response (then False). 500, not
        408: the fault is ours, and RFC 4320 §4.2 forbids a 408 to a non-INVITE."""
        if ctx.final_sent:
            return True
        if any(b.final is None for b in ctx.branches):
            return False
        _log.error("proxy.request_left_open", method=ctx.request.method,
                   call_id=ctx.request.headers.get("call-id"), peer=str(ctx.source),
                   seconds=round(now - ctx.created, 1))
        self.respond(ctx, 500, now)
        return True

    def _branch_failed(self, branch: Branch[StateT], status: int, now: float) -> None:
        """§16.7 step 10 (timeout → 408) and §16.9 (transport error → 503)."""
        if branch.is_cancel or branch.final is not None:
            return
        _log.info("proxy.branch_failed", status=status, dest=str(branch.dest),
                  call_id=branch.ctx.request.headers.get("call-id"))
        self._on_branch_final(branch, self.make_response(branch.ctx, status), now)

    # -- transaction outputs -------------------------------------------------------------
    def _drain(self, tx: Transaction, now: float) -> None:
        if tx.has_output and isinstance(dest := tx.flow, Destination):
            for data in tx.data_to_send():  # mostly one: a loop, not a comprehension
                self._out.append(Send(data, dest, tx))
        if isinstance(tx, ClientTransaction):
            while (event := tx.next_event()) is not None:
                self._client_event(tx, event, now)
        else:
            while (event := tx.next_event()) is not None:
                self._server_event(tx, event, now)

    def _client_event(self, tx: ClientTransaction, event: object, now: float) -> None:
        branch = self._branches.get(tx)
        if branch is None:
            if (out := self._outgoing.get(tx)) is not None and out.event(event, now):
                del self._outgoing[tx]  # answered or ended: the rest is absorbed
            return
        if isinstance(event, ResponseReceived):
            self._on_branch_response(branch, event.response, now)
            if tx.state is State.COMPLETED:  # only absorbs retransmissions from now on
                del self._branches[tx]
                release(branch.ctx, self._contexts, self._branches)
        elif isinstance(event, TimedOut):
            self._branch_failed(branch, 408, now)
        elif isinstance(event, TransportFailed):
            self._branch_failed(branch, 503, now)
        elif isinstance(event, TransactionTerminated):
            self._branches.pop(tx, None)
            self._stop_timer_c(branch)
            release(branch.ctx, self._contexts, self._branches)

    def _server_event(self, tx: Transaction, event: object, now: float) -> None:
        assert isinstance(tx, ServerTransaction)
        if isinstance(event, AckReceived):
            if (ctx := self._contexts.get(tx)) is not None:
                self._forward_ack(event.request, ctx.source, now)
        elif isinstance(event, TimedOut):
            ctx = self._contexts.get(tx)
            if event.timer == "guard" and ctx is not None:  # 64*T1 without an answer
                self._answer_if_abandoned(ctx, now)
        elif isinstance(event, TransactionTerminated):
            ctx = self._contexts.pop(tx, None)
            if ctx is not None:
                self._proxy_timers.discard(ctx)
                release(ctx, self._contexts, self._branches)

    def _answered(self, ctx: RequestContext[StateT], stx: ServerTransaction) -> None:
        """The final response went upstream: see `RequestContext` on what is kept."""
        self._proxy_timers.discard(ctx)
        if ctx.request.method != "INVITE":
            self._contexts.pop(stx, None)
            release(ctx, self._contexts, self._branches)
