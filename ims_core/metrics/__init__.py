"""Metrics: cheap sans-I/O families (:mod:`.families`), the groups each node exposes
(:mod:`.groups`), and the HTTP listener serving them with the health endpoints."""

from .families import (
    LATENCY_BUCKETS,
    Counter,
    Gauge,
    Histogram,
    Registry,
    method_label,
    status_class,
)
from .groups import DiameterMetrics, HssMetrics, SipMetrics, command_label

__all__ = [
    "LATENCY_BUCKETS",
    "Counter",
    "DiameterMetrics",
    "Gauge",
    "Histogram",
    "HssMetrics",
    "Registry",
    "SipMetrics",
    "command_label",
    "method_label",
    "status_class",
]
