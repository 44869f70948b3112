"""A transaction-stateful proxy core (RFC 3261 §16), sans-I/O.

Theory of operation: `receive(message, source, now)` takes each parsed message from the
transport. A new request gets a server transaction and a `RequestContext`, is checked
(§16.3: Max-Forwards, loops, Proxy-Require), has our Route values removed (§16.4), and
is routed by `route_request(ctx)`: to one or more `Target`s (forked in parallel, each
with its own client transaction and a unique branch), to a local response, or to
`None` when the decision comes later (the subclass then calls `forward()` or
`respond()`). Responses from the client transactions are forwarded upstream as §16.7
says: provisional at once (not 100), every 2xx at once, otherwise the best final
response once every branch has one. CANCEL is answered and propagated hop by hop
(§16.10). ACK for a 2xx and responses that match no transaction are forwarded
statelessly (§16.11, §16.7).

Outputs are `Send` items drained with `data_to_send()`; `get_timer()` says when to call
`handle_timer(now)`; a failed `Send` goes back through `send_failed(item, now)`.

Subclasses (the CSCFs) override the hooks: `check_request`, `route_request`,
`should_record_route`, `on_forward`, `on_response`, `on_branch_final` and `on_final`,
and keep what they learn about a request in a typed per-request state object
(`RequestContext.state`, made by `new_state`).
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar, cast

from ims_core import log
from ims_core.sip import (
    Request,
    Response,
    SipParseError,
    SipUri,
    make_cancel,
    make_response,
)
from ims_core.sip.addressing import Destination, Source, choose_transport, via_destination
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

from .branch import is_looped, loop_hash, new_branch, new_salt, stateless_branch
from .config import ProxyConfig
from .routing import (
    Target,
    apply_strict_route,
    is_local,
    preprocess_routes,
    record_route_value,
    request_destination,
)
from .selection import best_response

_log = log.get("proxy")

StateT = TypeVar("StateT")


@dataclass(frozen=True, slots=True)
class Send:
    """Bytes for the transport. `tx` is the transaction to tell if sending fails."""

    data: bytes
    dest: Destination
    tx: Transaction | None = None


@dataclass(slots=True, eq=False)
class Branch(Generic[StateT]):
    """One forwarded copy of a request (§16.6), the target it went to and its client
    transaction."""

    ctx: RequestContext[StateT]
    tx: ClientTransaction
    request: Request
    dest: Destination
    target: Target | None = None
    final: Response | None = None
    provisional: bool = False
    cancel_pending: bool = False
    cancelled: bool = False
    is_cancel: bool = False  # our own CANCEL (§16.10): its responses stop here
    timer_c: float | None = None  # §16.6 step 11 / §16.8 deadline (INVITE only)


@dataclass(slots=True, eq=False)
class RequestContext(Generic[StateT]):
    """A request being proxied: the request as received (after §16.4), where it came
    from, its server transaction and branches. `state` is the subclass's typed record of
    the request (what `ProxyCore.new_state` made). `to_tag` is our To tag for the
    responses we generate (§8.2.6.2), drawn by the core when the context is made."""

    request: Request
    source: Source
    server_tx: ServerTransaction | None
    created: float
    state: StateT
    to_tag: str
    loop: str = ""
    branches: list[Branch[StateT]] = field(default_factory=list)
    final_sent: bool = False
    cancelled: bool = False
    waiting: int = 0  # answers from outside (e.g. Cx queries) the decision waits for

    @property
    def in_dialog(self) -> bool:
        """§12.2: a request with a To tag belongs to a dialog."""
        to = self.request.headers.get("to") or ""
        return ";tag=" in to.replace(" ", "").lower()


class ProxyCore(Generic[StateT]):
    """The stateful proxy engine; see the module docstring. `StateT` is the type of the
    per-request state a subclass keeps (None for the plain proxy)."""

    log_transactions = False  # one debug event per transaction (costs ~10 µs each)

    def __init__(self, config: ProxyConfig, timers: TimerConfig | None = None, *,
                 rng: Callable[[int], bytes] = os.urandom) -> None:
        self.config = config
        self.rng = rng  # tags, branch salt: every random choice of this core
        self.salt = new_salt(rng)  # marks our branches for loop detection (§16.3 step 4)
        self._branch_seq = itertools.count(1)
        self.table = TransactionTable(timers)
        self._out: list[Send] = []
        self._contexts: dict[ServerTransaction, RequestContext[StateT]] = {}
        self._branches: dict[ClientTransaction, Branch[StateT]] = {}
        self._timer_c: list[tuple[float, int, Branch[StateT]]] = []  # heap; stale entries skipped
        self._seq = itertools.count()

    # -- outputs -------------------------------------------------------------------------
    def data_to_send(self) -> list[Send]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        deadline = self.table.get_timer()
        heap = self._timer_c
        while heap and heap[0][2].timer_c != heap[0][0]:
            heapq.heappop(heap)
        if heap and (deadline is None or heap[0][0] < deadline):
            return heap[0][0]
        return deadline

    # -- inputs --------------------------------------------------------------------------
    def receive(self, message: Request | Response, source: Source, now: float) -> None:
        """A message from the transport. Raises SipParseError for a request whose
        essential headers are malformed (the transport answers 400)."""
        if isinstance(message, Response):
            self._receive_response(message, now)
        elif message.method == "ACK":
            self._receive_ack(message, source, now)
        elif message.method == "CANCEL":
            self._receive_cancel(message, source, now)
        else:
            stx = self.table.match_request(message)
            if stx is not None:  # a retransmission (§17.2.1, §17.2.2)
                stx.receive(message, now)
                self._drain(stx, now)
            else:
                self._new_request(message, source, now)

    def handle_timer(self, now: float) -> None:
        for tx in self.table.handle_timer(now):
            self._drain(tx, now)
        heap = self._timer_c
        while heap and heap[0][0] <= now:
            deadline, _, branch = heapq.heappop(heap)
            if branch.timer_c == deadline and branch.final is None:
                self._timer_c_fired(branch, now)

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

    def check_request(self, ctx: RequestContext[StateT]) -> Response | None:
        """§16.3 steps 3-5 (step 1-2 are the parser's); return a response to reject."""
        request = ctx.request
        if request.max_forwards == 0:
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
        return (
            self.config.record_route and not ctx.in_dialog and ctx.request.method != "REGISTER"
        )

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
        """A final response went upstream: one log event per transaction."""
        if self.log_transactions:
            _log.debug(
                "sip.transaction", method=ctx.request.method, status=response.status,
                call_id=ctx.request.headers.get("call-id"), peer=str(ctx.source),
                latency_ms=round((now - ctx.created) * 1000, 1),
            )

    # -- helpers for subclasses ----------------------------------------------------------
    def is_local(self, uri: object) -> bool:
        return isinstance(uri, SipUri) and is_local(uri, self.config.names)

    def make_response(self, ctx: RequestContext[StateT], status: int,
                      reason: str | None = None) -> Response:
        """A response of our own to the request (marked `generated`, §16.7 step 6)."""
        response = make_response(ctx.request, status, reason, to_tag=ctx.to_tag)
        response.generated = True
        return response

    def new_context(self, request: Request, source: Source, server_tx: ServerTransaction | None,
                    now: float, loop: str = "") -> RequestContext[StateT]:
        return RequestContext(request, source, server_tx, now, self.new_state(request),
                              self.rng(6).hex(), loop)

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

    # -- requests ------------------------------------------------------------------------
    def _new_request(self, request: Request, source: Source, now: float) -> None:
        stx = self.table.create_server(request, reliable=source.reliable, now=now)
        stx.flow = source.reply_to or Destination(source.transport, source.host, source.port,
                                                  source.conn)
        ctx = self.new_context(request, source, stx, now, loop_hash(request))
        self._contexts[stx] = ctx
        try:
            rejection = self.check_request(ctx)
            if rejection is not None:
                self.respond(ctx, rejection, now)
                return
            if request.method == "INVITE":  # §16.2: 100 Trying at once
                self._send_upstream(ctx, make_response(request, 100), now)
            preprocess_routes(request, self.config.names)
            self._route(ctx, now)
        except SipParseError as exc:  # a header we needed is malformed (§16.3 step 1)
            if ctx.final_sent:
                raise
            try:
                response = self.make_response(ctx, exc.status, exc.reason)
            except SipParseError:  # even To is bad: answer without a tag
                response = make_response(request, exc.status, exc.reason)
            self.respond(ctx, response, now)

    def _route(self, ctx: RequestContext[StateT], now: float) -> None:
        decision = self.route_request(ctx)
        if decision is None:
            return  # the subclass calls forward() or respond() later
        if isinstance(decision, Response):
            self.respond(ctx, decision, now)
        else:
            self.forward(ctx, decision, now)

    def _forward_one(self, ctx: RequestContext[StateT], target: Target, now: float) -> None:
        request = ctx.request.copy()  # §16.6 step 1
        if target.uri is not None:
            request.uri = target.uri  # step 2
        request.decrement_max_forwards()  # step 3
        inbound = ctx.source.transport
        if self.should_record_route(ctx):  # step 4
            request.push_address("Record-Route",
                                 record_route_value(self.config.host, self.config.port, inbound))
        for value in reversed(target.route):  # a Route set the target brings (e.g. Path)
            request.push_address("Route", value)
        self.on_forward(ctx, request, target)  # step 5
        # Step 7 before step 6: a strict router's address is the top Route either way.
        dest = target.next_hop or request_destination(request, inbound)
        apply_strict_route(request)  # step 6
        if dest is None:
            if not ctx.final_sent and not ctx.branches:
                self.respond(ctx, 416, now)
            return
        if not dest.transport:
            dest = replace(dest, transport=inbound)
        transport = dest.transport
        cfg = self.config
        branch = new_branch(ctx.loop, self.salt, next(self._branch_seq))
        request.push_via(f"SIP/2.0/{transport} {cfg.host}:{cfg.port};branch={branch}")  # step 8
        data = request.to_bytes()
        bigger = transport if target.flow else choose_transport(  # §18.1.1
            transport, len(data), limit=cfg.udp_size_limit)
        if bigger != transport:
            request.headers.replace_first_value(
                "via", f"SIP/2.0/{bigger} {cfg.host}:{cfg.port};branch={branch}")
            dest = replace(dest, transport=bigger)
            data = request.to_bytes()
        tx = self.table.create_client(request, reliable=dest.reliable, now=now,
                                      data=data)  # step 10
        tx.flow = dest
        entry = Branch(ctx, tx, request, dest, target)
        ctx.branches.append(entry)
        self._branches[tx] = entry
        if request.method == "INVITE":
            self._start_timer_c(entry, cfg.timer_c, now)  # §16.6 step 11
        self._drain(tx, now)

    def _receive_ack(self, ack: Request, source: Source, now: float) -> None:
        stx = self.table.match_request(ack)
        if stx is not None:  # ACK for our non-2xx, or a 2xx ACK in Accepted (RFC 6026)
            stx.receive(ack, now)
            self._drain(stx, now)
        else:
            self._forward_stateless(ack, source, now)

    def _forward_stateless(self, request: Request, source: Source, now: float) -> None:
        """§16.11: forward an ACK for a 2xx without a transaction."""
        if request.max_forwards == 0:
            return
        preprocess_routes(request, self.config.names)
        ctx = self.new_context(request, source, None, now)
        decision = self.route_request(ctx)
        if decision is None or isinstance(decision, Response):
            return
        target = decision if isinstance(decision, Target) else decision[0]
        out = request.copy()
        if target.uri is not None:
            out.uri = target.uri
        out.decrement_max_forwards()
        self.on_forward(ctx, out, target)
        dest = target.next_hop or request_destination(out, source.transport)
        apply_strict_route(out)
        if dest is None or (dest.host.lower(), dest.port) in self.config.names:
            return  # nowhere to go, or back to ourselves: no state to catch a loop
        if not dest.transport:
            dest = replace(dest, transport=source.transport)
        cfg = self.config
        out.push_via(f"SIP/2.0/{dest.transport} {cfg.host}:{cfg.port};"
                     f"branch={stateless_branch(request)}")
        self._out.append(Send(out.to_bytes(), dest))

    def _receive_cancel(self, cancel: Request, source: Source, now: float) -> None:
        """§16.10: answer a CANCEL that matches an INVITE we are proxying and cancel its
        branches; any other CANCEL is proxied like a normal request."""
        stx = self.table.match_request(cancel)
        if stx is not None:
            stx.receive(cancel, now)
            self._drain(stx, now)
            return
        invite_tx = self.table.match_cancel(cancel)
        ctx = self._contexts.get(invite_tx) if invite_tx is not None else None
        if ctx is None:
            self._new_request(cancel, source, now)
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
        branch.timer_c = None  # §16.8: the transaction's CANCEL guard bounds it now
        cancel = make_cancel(branch.request)
        tx = self.table.create_client(cancel, reliable=branch.dest.reliable, now=now)
        tx.flow = branch.dest
        self._branches[tx] = Branch(branch.ctx, tx, cancel, branch.dest, is_cancel=True)
        invite_tx.cancel_sent(now)
        self._drain(tx, now)

    # -- responses -----------------------------------------------------------------------
    def _receive_response(self, response: Response, now: float) -> None:
        ctx_tx = self.table.match_response(response)
        if ctx_tx is not None:
            ctx_tx.receive(response, now)
            self._drain(ctx_tx, now)
            return
        # §16.7 / RFC 6026: no transaction (e.g. a late 2xx): forward statelessly if
        # the top Via is ours.
        via = response.top_via()
        if (via.host.lower(), via.port or 5060) not in self.config.names:
            return
        response.headers.pop_first_value("via")
        if "via" in response.headers and response.status // 100 == 2:
            self._out.append(Send(response.to_bytes(), via_destination(response.top_via())))

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
                self._start_timer_c(branch, self.config.timer_c, now)  # §16.7 step 2
            if branch.cancel_pending:
                branch.cancel_pending = False
                self._cancel_branch(branch, now)
            if status == 100 or ctx.final_sent:
                return
            self.on_response(ctx, response)
            self._send_upstream(ctx, response, now)
        elif status < 300:  # §16.7 step 5: every 2xx goes upstream at once
            branch.timer_c = None
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
        branch.timer_c = None
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
        if ctx.final_sent or any(b.final is None for b in ctx.branches):
            return
        finals = [b.final for b in ctx.branches if b.final is not None]
        best = best_response(finals)
        if best.status == 503 and not best.generated:
            best = self.make_response(ctx, 500)  # §16.7 step 6
        elif not best.generated:
            self.on_response(ctx, best)
        ctx.final_sent = True
        self._send_upstream(ctx, best, now)
        self.on_final(ctx, best, now)

    def _send_upstream(self, ctx: RequestContext[StateT], response: Response, now: float) -> None:
        stx = ctx.server_tx
        if stx is not None and not stx.terminated:
            try:
                stx.send_response(response, now)
            except TransactionError:
                return  # e.g. a late 1xx after the final response
            self._drain(stx, now)
        elif response.status // 100 == 2 and ctx.source.reply_to is not None:
            self._out.append(Send(response.to_bytes(), ctx.source.reply_to))

    def _start_timer_c(self, branch: Branch[StateT], duration: float, now: float) -> None:
        branch.timer_c = now + duration
        heapq.heappush(self._timer_c, (branch.timer_c, next(self._seq), branch))

    def _timer_c_fired(self, branch: Branch[StateT], now: float) -> None:
        """§16.8: CANCEL a branch that had a provisional response (without a final
        response its transaction times out 64*T1 later: a 408), else treat it as a 408
        at once, and CANCEL it should a provisional response still come."""
        branch.timer_c = None
        if not branch.provisional:
            self._branch_failed(branch, 408, now)
        self._cancel_branch(branch, now)  # now, or when a provisional response comes

    def _branch_failed(self, branch: Branch[StateT], status: int, now: float) -> None:
        """§16.7 step 10 (timeout → 408) and §16.9 (transport error → 503)."""
        if branch.is_cancel or branch.final is not None:
            return
        _log.info("proxy.branch_failed", status=status, dest=str(branch.dest),
                  call_id=branch.ctx.request.headers.get("call-id"))
        self._on_branch_final(branch, self.make_response(branch.ctx, status), now)

    # -- transaction outputs -------------------------------------------------------------
    def _drain(self, tx: Transaction, now: float) -> None:
        dest = tx.flow
        if isinstance(dest, Destination):
            for data in tx.data_to_send():
                self._out.append(Send(data, dest, tx))
        while (event := tx.next_event()) is not None:
            if isinstance(tx, ClientTransaction):
                self._client_event(tx, event, now)
            else:
                self._server_event(tx, event, now)

    def _client_event(self, tx: ClientTransaction, event: object, now: float) -> None:
        branch = self._branches.get(tx)
        if branch is None:
            return
        if isinstance(event, ResponseReceived):
            self._on_branch_response(branch, event.response, now)
        elif isinstance(event, TimedOut):
            self._branch_failed(branch, 408, now)
        elif isinstance(event, TransportFailed):
            self._branch_failed(branch, 503, now)
        elif isinstance(event, TransactionTerminated):
            del self._branches[tx]

    def _server_event(self, tx: Transaction, event: object, now: float) -> None:
        assert isinstance(tx, ServerTransaction)
        if isinstance(event, AckReceived):
            ctx = self._contexts.get(tx)
            if ctx is not None:
                self._forward_stateless(event.request, ctx.source, now)
        elif isinstance(event, TransactionTerminated):
            self._contexts.pop(tx, None)
