"""A proxy core that can consult the HSS without doing I/O.

A CSCF hook that needs Cx (UAR, MAR, SAR, LIR) calls :meth:`CscfCore.query` with the
request and a callback, and returns ``None`` from ``route_request`` to defer the decision.
The adapter (:class:`ims_core.cscf.server.CscfServer`) drains :meth:`queries_to_send`,
sends each over Diameter, and calls the callback with the answer — or with the
``DiameterUnavailable``/``DiameterTimeout`` error — and the time; the callback then calls
``forward()`` or ``respond()``. Tests drive the same core with a fake HSS and a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ims_core import log
from ims_core.diameter import DiameterError, Message, make_request
from ims_core.proxy import ProxyConfig, ProxyCore, RequestContext
from ims_core.transaction import TimerConfig

from .config import DiameterClient

_log = log.get("cscf")

# What a Cx callback receives: the answer, or the error that stood in for one.
CxOutcome = Message | DiameterError | Exception


@dataclass(frozen=True, slots=True)
class DiameterQuery:
    """A Cx request the core wants sent; ``on_answer(outcome, now)`` gets the result.
    ``ctx``: the SIP request waiting on it, answered 500 if the callback fails."""

    request: Message
    on_answer: Callable[[CxOutcome, float], None]
    timeout: float | None = None
    ctx: RequestContext | None = None


class CscfCore(ProxyCore):
    def __init__(
        self,
        config: ProxyConfig,
        diameter: DiameterClient | None = None,
        timers: TimerConfig | None = None,
    ) -> None:
        super().__init__(config, timers)
        self.diameter = diameter
        self._queries: list[DiameterQuery] = []

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
        return make_request(command, origin_host=d.origin_host, origin_realm=d.origin_realm,
                            destination_realm=d.origin_realm, avps=avps or None)

    def query(self, request: Message, on_answer: Callable[[CxOutcome, float], None],
              timeout: float | None = None, *, ctx: RequestContext | None = None) -> None:
        self._queries.append(DiameterQuery(request, on_answer, timeout, ctx))

    def queries_to_send(self) -> list[DiameterQuery]:
        out, self._queries = self._queries, []
        return out

    def answer_query(self, query: DiameterQuery, outcome: CxOutcome, now: float) -> None:
        """Deliver a query's outcome (the adapter calls this). A callback that raises is a
        bug of ours: log it and answer the waiting request 500 rather than leave it open."""
        try:
            query.on_answer(outcome, now)
        except Exception:
            _log.exception("cscf.cx_callback_failed", command=query.request.name)
            ctx = query.ctx
            if ctx is not None and not ctx.final_sent:
                self.respond(ctx, self.make_response(ctx, 500, "Server Internal Error"), now)
