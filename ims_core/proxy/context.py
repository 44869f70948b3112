"""What the proxy core keeps per request (RFC 3261 §16): the request's context, its
branches (one per forwarded copy), and the bytes it hands the transport."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from ims_core.sip import Request, Response
from ims_core.sip.addressing import Destination, Source
from ims_core.transaction import ClientTransaction, ServerTransaction, Transaction

from .branch import stateless_tag
from .routing import Attempt, Target

StateT = TypeVar("StateT")


@dataclass(slots=True, init=False)  # not frozen: one per message sent, and frozen costs 4x to build
class Send:
    """Bytes for the transport. `tx` is the transaction to tell if sending fails."""

    data: bytes
    dest: Destination
    tx: Transaction | None = None

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, data: bytes, dest: Destination, tx: Transaction | None = None) -> None:
        self.data = data
        self.dest = dest
        self.tx = tx


class Branch(Generic[StateT]):
    """One forwarded copy of a request (§16.6), the target it went to and its client
    transaction. A plain slotted class, not a generic dataclass: mypyc compiles these."""

    __slots__ = ("cancel_pending", "cancelled", "ctx", "dest", "final", "is_cancel",
                 "provisional", "request", "target", "timer_c", "tx")

    def __init__(self, ctx: RequestContext[StateT], tx: ClientTransaction, request: Request,
                 dest: Destination, target: Target | None = None, *,
                 is_cancel: bool = False) -> None:
        self.ctx = ctx
        self.tx = tx
        self.request = request
        self.dest = dest
        self.target = target
        self.final: Response | None = None
        self.provisional = False
        self.cancel_pending = False
        self.cancelled = False
        self.is_cancel = is_cancel  # our own CANCEL (§16.10): its responses stop here
        self.timer_c: float | None = None  # §16.6 step 11 / §16.8 deadline (INVITE only)


class RequestContext(Generic[StateT]):
    """A request being proxied: the request as received (after §16.4), where it came
    from, its server transaction and branches. `state` is the subclass's typed record of
    the request (what `ProxyCore.new_state` made). `to_tag` is our To tag for the
    responses we generate (§8.2.6.2), drawn from the core's `rng` the first time one is
    needed (most requests are only forwarded).

    The core forgets a non-INVITE context once its final response is sent (the server
    transaction resends that by itself, §17.2.2) and a branch once its client
    transaction completes; an INVITE context stays until its server transaction ends:
    the ACK of a 2xx and a CANCEL find it."""

    __slots__ = ("__weakref__", "_in_dialog", "_to_tag", "attempt", "branches", "cancelled",
                 "created", "final_sent", "loop", "request", "rng", "server_tx", "source",
                 "state", "waiting")

    def __init__(self, request: Request, source: Source, server_tx: ServerTransaction | None,
                 created: float, state: StateT, rng: Callable[[int], bytes],
                 loop: str = "") -> None:
        self.request = request
        self.source = source
        self.server_tx = server_tx
        self.created = created
        self.state = state
        self.rng = rng
        self.loop = loop
        self.branches: list[Branch[StateT]] = []
        self.final_sent = False
        self.cancelled = False
        self.waiting = 0  # answers from outside (e.g. Cx queries) the decision waits for
        self.attempt: Attempt | None = None  # targets tried in turn (cscf/failover.py)
        self._in_dialog: bool | None = None
        self._to_tag: str | None = None

    @property
    def to_tag(self) -> str:
        if self._to_tag is None:
            if self.server_tx is None:  # answered statelessly: the same request, the same tag
                self._to_tag = stateless_tag(self.request)
            else:
                self._to_tag = self.rng(6).hex()  # §19.3: at least 32 random bits
        return self._to_tag

    @property
    def in_dialog(self) -> bool:
        """§12.2: a request with a To tag belongs to a dialog (asked several times per
        request by the routing hooks: worked out once)."""
        if self._in_dialog is None:
            to = self.request.headers.get("to") or ""
            # Most To values of requests out of a dialog have no parameter at all.
            self._in_dialog = ";" in to and ";tag=" in to.replace(" ", "").lower()
        return self._in_dialog


def release(ctx: RequestContext[StateT],
            contexts: Mapping[ServerTransaction, RequestContext[StateT]],
            branches: Mapping[ClientTransaction, Branch[StateT]]) -> None:
    """Once neither `ctx` nor any of its branches is in the core's tables, nothing can
    reach it again: break the context <-> branch cycle so that reference counting frees
    them at once instead of the cyclic collector (which cost a quarter of a CSCF's CPU)."""
    stx = ctx.server_tx
    if stx is not None and contexts.get(stx) is ctx:
        return
    for b in ctx.branches:  # a loop, not any(): asked once per response
        if branches.get(b.tx) is b:
            return
    ctx.branches.clear()


def branch_finals(ctx: RequestContext[StateT]) -> list[Response] | None:
    """The final response of every branch of `ctx`, in order (what §16.7 step 6 chooses
    from), or None while a branch still awaits one. A loop, not any() and a
    comprehension: asked on every final response from a branch."""
    finals: list[Response] = []
    for b in ctx.branches:
        if b.final is None:
            return None
        finals.append(b.final)
    return finals
