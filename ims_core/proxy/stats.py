"""What a proxy core counts (:class:`~ims_core.metrics.SipMetrics`) and the one line it
logs per server transaction, apart from the engine (core.py). Each count is a dict
update; labels come from ``method_label`` and ``status_class`` only.

- ``requests_received{method}``, ``responses_received{method,class}``: every message the
  transport hands the core (``ProxyCore.receive``), ACKs, CANCELs and retransmissions
  included; a response's method is its CSeq method (its transaction's when it matches
  one, "other" when unreadable).
- ``requests_sent{method}``: each request sent for the first time: a client
  transaction's (the table counts it as it creates one: forwarded copies, our CANCELs,
  our own requests), the ACK a client transaction sends for a non-2xx final response,
  and each request relayed without a transaction (a 2xx ACK, a CANCEL matching nothing).
- ``responses_sent{method,class}``: each response given to a server transaction (100
  Trying included), and each sent without one (a response matching no transaction, a
  2xx after its transaction ended, our answer to a stray CANCEL).
- ``retransmissions{direction}``: never in the four above when sent; see the transaction
  classes (``ims_core.transaction``) for what counts.
- ``transaction_seconds{method}``: a server transaction's request arrival to its first
  final response, observed as that response goes.
- ``transactions_active{kind}``: read from the transaction table at scrape time.

With exchange lines on (``log.exchanges_enabled()``), each server transaction's first
final response also logs ``sip_transaction`` (call_id, method, status, peer,
latency_ms, branch).
"""

from __future__ import annotations

from typing import Any

from ims_core import log
from ims_core.metrics import SipMetrics, method_label, status_class
from ims_core.sip import Request, Response, SipParseError
from ims_core.sip.addressing import Destination
from ims_core.transaction import ServerTransaction, Transaction, TransactionTable

from .context import RequestContext, Send

_log = log.get("sip")


class SipCounting:
    """The ``metrics`` of a proxy core. Assigning it (before the node's server is built)
    makes it the transaction table's too and points its gauges at the core's live state
    (:meth:`bind_metrics`, which subclasses extend)."""

    table: TransactionTable
    _metrics: SipMetrics
    _out: list[Send]

    @property
    def metrics(self) -> SipMetrics:
        return self._metrics

    @metrics.setter
    def metrics(self, metrics: SipMetrics) -> None:
        self._metrics = self.table.metrics = metrics
        self.bind_metrics(metrics)

    def bind_metrics(self, metrics: SipMetrics) -> None:
        """Set the ``read`` of the gauges this core owns the state of (called again on
        each assignment of ``metrics``; the state may not exist yet: read lazily)."""
        metrics.transactions_active.read = self.table.active

    def _stateless(self, data: bytes, dest: Destination, method: str, status: int = 0) -> None:
        """Send without a transaction (§16.11, §16.7 step 1): a request (``status`` 0) or
        a response to ``method``, counted here."""
        self._out.append(Send(data, dest))
        if status:
            self._metrics.responses_sent.inc(method_label(method), status_class(status))
        else:
            self._metrics.requests_sent.inc(method_label(method))


def response_received(metrics: SipMetrics, response: Response, tx: Transaction | None) -> str:
    """Count a response that reached the core (``tx``: the transaction it matched);
    returns its method label."""
    if tx is not None:
        method = method_label(tx.method)
    else:
        try:
            method = method_label(response.cseq.method)
        except SipParseError:
            method = "other"
    metrics.responses_received.inc(method, status_class(response.status))
    return method


def answered(metrics: SipMetrics, ctx: RequestContext[Any], stx: ServerTransaction,
             status: int, now: float) -> None:
    """A server transaction's first final response (``status``) went at ``now``."""
    request = ctx.request
    seconds = now - ctx.created
    metrics.transaction_seconds.observe(seconds, method_label(request.method))
    if log.exchanges_enabled():
        log.exchange(_log, "sip_transaction", call_id=request.headers.get("call-id"),
                     method=request.method, status=status, peer=str(ctx.source),
                     latency_ms=round(seconds * 1000, 1), branch=_branch(stx, request))


def _branch(stx: ServerTransaction, request: Request) -> str:
    """The branch the request came with (its transaction's key holds it)."""
    key = stx.key
    if key is not None and isinstance(key[0], str) and key[0] != "rfc2543":
        return key[0]
    try:
        return request.top_via_view().branch or ""
    except SipParseError:
        return ""
