"""Next hops tried in turn: a CSCF core that sends a request to its first candidate and,
when that one does not serve it, to the next (RFC 3261 §16.6: targets may be tried
sequentially; TS 24.229 §5.3.1.3: the I-CSCF tries another S-CSCF; the P-CSCF across
the I-CSCFs of a home network).

"Does not serve it" is a final 408 or 503 on the branch (§16.7 step 6, §16.9: a
transport failure and Timer F/B read as those), or no response at all within the
attempt's ``timeout`` (the next hop timeout: Timer F is 32 s, longer than a UE or SIPp
waits). A next hop that sent a provisional response is alive: only Timer F/B bounds it.
A hop given up on may still answer: a 2xx goes upstream as any 2xx does (§16.7 step 5),
any other final answer is dropped. When no candidate is left the request gets 504
(Server Time-out, RFC 3261 §21.5.5; TS 24.229 §5.3.1.3) with a Reason header.

A subclass starts an attempt with :meth:`FailoverCore.try_in_turn` from ``route_request``
and may override :meth:`FailoverCore.next_target` (e.g. to ask the HSS for more
candidates: it returns :data:`WAIT` and forwards later).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar, Final

from ims_core import log
from ims_core.deadlines import DeadlineHeap
from ims_core.proxy import ProxyConfig, RequestContext, Target
from ims_core.proxy.context import Branch, StateT
from ims_core.proxy.routing import Attempt as Attempt  # re-exported: the I-CSCF extends it
from ims_core.sip import Response
from ims_core.sip.ids import unique_bytes
from ims_core.transaction import TimerConfig

from .config import DiameterClient
from .core import CscfCore
from .overload import OverloadConfig

_log = log.get("cscf")

# What next_target returns when the next candidate comes later (it forwards then).
WAIT: Final = "wait"


class FailoverCore(CscfCore[StateT]):
    """See the module docstring."""

    failover_statuses: ClassVar[frozenset[int]] = frozenset({408, 503})

    def __init__(self, config: ProxyConfig, diameter: DiameterClient | None = None,
                 timers: TimerConfig | None = None, *, rng: Callable[[int], bytes] = unique_bytes,
                 overload: OverloadConfig | None = None) -> None:
        super().__init__(config, diameter, timers, rng=rng, overload=overload)
        self._hop_deadlines: DeadlineHeap[Branch[StateT]] = DeadlineHeap()
        self._timer_heaps.append(self._hop_deadlines)  # in `get_timer`

    def try_in_turn(self, ctx: RequestContext[StateT], targets: Sequence[Target],
                    timeout: float = 0.0) -> Target:
        """The first of *targets*, to return from ``route_request``; the rest follow it
        one by one should it not serve the request."""
        if not targets:
            raise ValueError("no target to try")
        attempt = Attempt(list(targets[1:]), timeout)
        earlier = ctx.attempt
        if earlier is not None:  # more candidates for the same request: one count
            attempt.tried, attempt.failed = earlier.tried + 1, earlier.failed
        ctx.attempt = attempt
        return targets[0]

    def first_of(self, ctx: RequestContext[StateT], targets: Sequence[Target],
                 timeout: float = 0.0) -> Target:
        """:meth:`try_in_turn` when there is more than one target; a lone one goes as a
        plain target (its failure is answered as any branch's, RFC 3261 §16.7)."""
        return targets[0] if len(targets) == 1 else self.try_in_turn(ctx, targets, timeout)

    def next_target(self, ctx: RequestContext[StateT], attempt: Attempt,
                    now: float) -> Target | str | None:
        """The candidate after a failed one: a Target, :data:`WAIT`, or None (none left)."""
        return attempt.remaining.pop(0) if attempt.remaining else None

    def exhausted(self, ctx: RequestContext[StateT], attempt: Attempt, now: float) -> None:
        """No candidate served the request: 504 (RFC 3261 §21.5.5)."""
        _log.warning("cscf.no_next_hop_answered", method=ctx.request.method,
                     call_id=ctx.request.headers.get("call-id"), tried=attempt.tried,
                     failed=",".join(attempt.failed))
        self.respond(ctx, self.failure_response(
            ctx, 504, f"no next hop answered ({attempt.tried} tried)", "Server Time-out"), now)

    # -- proxy core hooks ---------------------------------------------------------------
    def forward(self, ctx: RequestContext[StateT], targets: Target | Sequence[Target],
                now: float) -> None:
        before = len(ctx.branches)
        super().forward(ctx, targets, now)
        attempt = ctx.attempt
        if attempt is not None and attempt.timeout > 0:
            for branch in ctx.branches[before:]:
                if branch.final is None:
                    self._hop_deadlines.set(branch, now + attempt.timeout)

    def on_branch_final(self, ctx: RequestContext[StateT], branch: Branch[StateT],
                        response: Response, now: float) -> bool:
        attempt = ctx.attempt
        if attempt is None:
            return super().on_branch_final(ctx, branch, response, now)
        self._hop_deadlines.discard(branch)
        if branch.final is not response:
            return True  # a late answer from a hop given up on (module docstring)
        if response.status not in self.failover_statuses:
            return super().on_branch_final(ctx, branch, response, now)
        attempt.failed.append(f"{branch.dest}:{response.status}")
        target = self.next_target(ctx, attempt, now)
        if target == WAIT:
            return True
        if isinstance(target, Target):
            attempt.tried += 1
            _log.info("cscf.next_hop_failover", method=ctx.request.method,
                      call_id=ctx.request.headers.get("call-id"), failed=str(branch.dest),
                      status=response.status, attempt=attempt.tried)
            self.forward(ctx, target, now)
            return True
        if any(b is not branch and b.final is None for b in ctx.branches):
            return False  # others still out: best-response selection as usual
        self.exhausted(ctx, attempt, now)
        return True

    def on_final(self, ctx: RequestContext[StateT], response: Response, now: float) -> None:
        super().on_final(ctx, response, now)
        if ctx.attempt is not None:  # answered: its branches need no watching (lets them go)
            for branch in ctx.branches:
                self._hop_deadlines.discard(branch)

    # -- timers -------------------------------------------------------------------------
    def handle_timer(self, now: float) -> None:
        super().handle_timer(now)
        for branch in self._hop_deadlines.pop_due(now):
            if branch.final is None and not branch.provisional and not branch.ctx.final_sent:
                self._branch_failed(branch, 408, now)  # silent: as if Timer F fired
