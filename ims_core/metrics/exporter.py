"""A :class:`~ims_core.metrics.families.Registry` as the Prometheus text format 0.0.4.

Our families become ``prometheus_client`` metric families at scrape time (the hot path
never touches ``prometheus_client``): a Counter is exposed as ``<name>_total``, a Gauge
with the value of its ``read`` callback if it has one, a Histogram with cumulative
``le`` buckets, ``+Inf``, ``_sum`` and ``_count``. Next to them: the process and Python
platform metrics of ``prometheus_client``, the collector's pauses
(:mod:`.process`) and ``ims_node_info{node,version} 1``.

A family that fails to collect (a ``read`` callback raising, returning a wrong label
count or a value that is no number) is left out of that scrape, counted in
``ims_metrics_collect_errors_total{family}`` and logged once per family: one broken
gauge never costs the whole scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.utils import floatToGoString

import ims_core
from ims_core import log

from .families import Counter, Family, Gauge, Histogram, Labels, Registry
from .process import GC_PAUSES

__all__ = ["COLLECT_ERRORS", "CONTENT_TYPE", "render"]

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # text/plain; version=0.0.4; charset=utf-8
COLLECT_ERRORS = "ims_metrics_collect_errors"  # the exporter's own: families left out
NODE_INFO = "ims_node_info"

# Built once: they read /proc/self and the interpreter at collect time only.
_PROCESS = ProcessCollector(registry=None)
_PLATFORM = PlatformCollector(registry=None)
# How prometheus_client writes an ``le`` bound (its own histograms' spelling: 0.5, 1.0, +Inf).
_le: Callable[[float], str] = floatToGoString
_logged: set[str] = set()  # families whose collect failure was logged already
_log = log.get("metrics")


class CollectError(Exception):
    """A family's samples do not fit it (label count, value type)."""


def _check(labelnames: Labels, labels: Labels) -> list[str]:
    if len(labels) != len(labelnames):
        raise CollectError(f"{len(labels)} label value(s) for {len(labelnames)} name(s)")
    return [str(v) for v in labels]


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CollectError(f"sample value {value!r} is not a number")
    return float(value)


def _scalar(family: Counter | Gauge, metric: CounterMetricFamily | GaugeMetricFamily
            ) -> Metric:
    samples = family.samples()
    if not samples and not family.labelnames:
        samples = [((), 0)]  # an unlabelled family is always there: 0 until counted
    for labels, value in samples:
        metric.add_metric(_check(family.labelnames, labels), _number(value))
    return metric


def _buckets(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, float]]:
    """Per-slot counts (the last slot is +Inf) as Prometheus's cumulative ``le`` buckets:
    ``le`` is an inclusive upper bound, as :meth:`Histogram.observe` counts."""
    out: list[tuple[str, float]] = []
    total = 0
    for bound, n in zip((*bounds, float("inf")), counts, strict=True):
        total += n
        out.append((_le(bound), float(total)))
    return out


def _histogram(family: Histogram) -> Metric:
    metric = HistogramMetricFamily(family.name, family.help, labels=family.labelnames)
    values = list(family.values.items())
    if not values and not family.labelnames:
        metric.add_metric([], _buckets(family.bounds, [0] * (len(family.bounds) + 1)), 0.0)
    for labels, h in values:
        metric.add_metric(_check(family.labelnames, labels), _buckets(family.bounds, h.buckets),
                          h.sum)
    return metric


def _family(family: Family) -> Metric:
    if isinstance(family, Counter):
        return _scalar(family, CounterMetricFamily(family.name, family.help,
                                                   labels=family.labelnames))
    if isinstance(family, Gauge):
        return _scalar(family, GaugeMetricFamily(family.name, family.help,
                                                 labels=family.labelnames))
    return _histogram(family)


def _errors_counter(registry: Registry) -> Counter:
    found = registry.get(COLLECT_ERRORS)
    if isinstance(found, Counter):
        return found
    return registry.counter(COLLECT_ERRORS, "Metric families left out of a scrape because "
                            "collecting them failed", ("family",))


class _Scrape:
    """One scrape of a registry: what ``generate_latest`` collects."""

    def __init__(self, registry: Registry, node: str) -> None:
        self.registry = registry
        self.node = node

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(NODE_INFO, "This node: its kind and the ims-core version",
                                 labels=("node", "version"))
        info.add_metric([self.node, ims_core.__version__], 1)
        yield info
        errors = _errors_counter(self.registry)
        for family in self.registry.families():
            if family is errors:
                continue
            try:
                metric = _family(family)
            except Exception as exc:  # a read callback is other code: anything may come
                errors.inc(family.name)
                if family.name not in _logged:
                    _logged.add(family.name)
                    _log.warning("metrics.collect_failed", family=family.name,
                                 error=f"{type(exc).__name__}: {exc}")
                continue
            yield metric
        yield _family(errors)
        yield _family(GC_PAUSES)
        yield from _PROCESS.collect()
        yield from _PLATFORM.collect()


def render(registry: Registry, node: str) -> bytes:
    """The whole registry, the process metrics and ``ims_node_info`` as the Prometheus
    text exposition format 0.0.4 (serve it with :data:`CONTENT_TYPE`)."""
    return generate_latest(_Scrape(registry, node))
