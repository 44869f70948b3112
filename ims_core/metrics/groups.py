"""The metric families each kind of node exposes, by name, in one place.

A node builds its groups on one :class:`~ims_core.metrics.families.Registry`; a core or
node built without one (tests, tools) gets a private registry nobody scrapes, so the
code that counts never asks whether metrics are on.
"""

from __future__ import annotations

import dataclasses

from .families import Counter, Gauge, Histogram, Reader, Registry


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class SipMetrics:
    """What every CSCF counts (labels: ``method`` from :func:`method_label`, ``class``
    from :func:`status_class`). The ``read`` of the gauges is set by whoever owns the
    live state (the proxy server, the P-/S-CSCF stores)."""

    requests_received: Counter  # {method}
    requests_sent: Counter  # {method}
    responses_received: Counter  # {method, class}
    responses_sent: Counter  # {method, class}
    transaction_seconds: Histogram  # {method}: request in -> final response out
    transactions_active: Gauge  # {kind}: invite_server, non_invite_server, invite_client, ...
    retransmissions: Counter  # {direction}: sent (our timers), received (absorbed)
    parse_errors: Counter  # {status}: the answer given ("400", ...) or "dropped"
    tcp_connections: Gauge
    registrations_active: Gauge  # P-CSCF: UE registrations; S-CSCF: registered IMPUs
    contacts_active: Gauge  # bindings
    reg_subscriptions_active: Gauge  # reg-event subscriptions (S-CSCF: served; P-CSCF: own)
    calls_active: Gauge  # S-CSCF: INVITE dialogs it Record-Routed and that are not over
    overload_rejected: Counter  # {method}: answered 503 by overload control

    @classmethod
    def create(cls, registry: Registry | None = None) -> SipMetrics:
        r = Registry() if registry is None else registry
        return cls(
            requests_received=r.counter(
                "ims_sip_requests_received", "SIP requests received", ("method",)),
            requests_sent=r.counter("ims_sip_requests_sent", "SIP requests sent", ("method",)),
            responses_received=r.counter(
                "ims_sip_responses_received", "SIP responses received", ("method", "class")),
            responses_sent=r.counter(
                "ims_sip_responses_sent", "SIP responses sent", ("method", "class")),
            transaction_seconds=r.histogram(
                "ims_sip_transaction_seconds",
                "Server transactions: request received to final response sent", ("method",)),
            transactions_active=r.gauge(
                "ims_sip_transactions_active", "SIP transactions in the tables", ("kind",)),
            retransmissions=r.counter(
                "ims_sip_retransmissions", "SIP retransmissions", ("direction",)),
            parse_errors=r.counter(
                "ims_sip_parse_errors", "Malformed SIP messages, by the answer given",
                ("status",)),
            tcp_connections=r.gauge("ims_sip_tcp_connections_open", "SIP TCP connections open"),
            registrations_active=r.gauge("ims_registrations_active", "Registrations held"),
            contacts_active=r.gauge("ims_contacts_active", "Registered contacts held"),
            reg_subscriptions_active=r.gauge(
                "ims_reg_subscriptions_active", "reg-event subscriptions held"),
            calls_active=r.gauge("ims_calls_active", "INVITE dialogs in progress"),
            overload_rejected=r.counter(
                "ims_overload_rejected", "Requests answered 503 by overload control",
                ("method",)),
        )  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class DiameterMetrics:
    """Cx exchanges as client (the CSCFs; the HSS's RTR/PPR) and as server (the HSS; the
    S-CSCF answering RTR/PPR). ``command``: UAR, MAR, SAR, LIR, RTR, PPR or ``other``.
    ``result_kind``: ``base`` (Result-Code), ``experimental`` (Experimental-Result-Code),
    ``timeout`` or ``error`` (no answer: peer down, transport failed); ``result`` is the
    code, empty without an answer."""

    requests: Counter  # {role, command, result_kind, result}
    latency: Histogram  # {role, command}
    peers_open: Gauge  # {peer}: 1 while the peer connection is open (RFC 6733 §5.6 I-Open/R-Open)

    @classmethod
    def create(cls, registry: Registry | None = None) -> DiameterMetrics:
        r = Registry() if registry is None else registry
        return cls(
            requests=r.counter(
                "ims_cx_requests", "Cx requests by outcome",
                ("role", "command", "result_kind", "result")),
            latency=r.histogram(
                "ims_cx_latency_seconds", "Cx request to answer", ("role", "command")),
            peers_open=r.gauge("ims_diameter_peer_open", "Diameter peer connection open",
                               ("peer",)),
        )  # fmt: skip


CX_COMMANDS = frozenset(("UAR", "MAR", "SAR", "LIR", "RTR", "PPR"))


def command_label(name: str) -> str:
    """A Cx command abbreviation as a label value (request or answer name both map to the
    request's), else ``other``."""
    if name.endswith("A") and name[:-1] + "R" in CX_COMMANDS:
        name = name[:-1] + "R"
    return name if name in CX_COMMANDS else "other"


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class HssMetrics:
    """The HSS's own: store latency per operation, SQN resynchronisations, sizes."""

    store_seconds: Histogram  # {operation}: e.g. batch, push_claim, count
    sqn_resyncs: Counter  # {outcome}: ok, mac_failure, ...
    subscribers: Gauge  # read at scrape time from the store
    push_requests: Counter  # {kind, outcome}: RTR/PPR from the outbox: done, failed

    @classmethod
    def create(cls, registry: Registry | None = None) -> HssMetrics:
        r = Registry() if registry is None else registry
        return cls(
            store_seconds=r.histogram(
                "ims_hss_store_operation_seconds", "HSS store operations", ("operation",)),
            sqn_resyncs=r.counter(
                "ims_hss_sqn_resyncs", "AUTS resynchronisations (TS 33.102 §6.3.5)",
                ("outcome",)),
            subscribers=r.gauge("ims_hss_subscribers", "Subscribers provisioned"),
            push_requests=r.counter(
                "ims_hss_push_requests", "RTR/PPR sent from the outbox", ("kind", "outcome")),
        )  # fmt: skip


def hep_packets(registry: Registry, read: Reader) -> Counter:
    """HEP3 copies by ``outcome`` (sent, dropped, error), totals the exporter keeps
    (:class:`ims_core.hep.exporter.HepExporter`)."""
    return registry.counter("ims_hep_packets", "HEP3 copies of SIP and Diameter messages",
                            ("outcome",), read=read)
