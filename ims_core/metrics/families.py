"""Metric families that cost a dict update on the hot path (sans-I/O).

Cores and adapters count into these plain objects; nothing here knows Prometheus. The
exporter (:mod:`ims_core.metrics.exporter`) turns a :class:`Registry` into the text
format at scrape time. Counter names carry no ``_total``: the exposition adds it.
Label values are bounded by the callers (:func:`method_label`, :func:`status_class`):
never a user, a Call-ID or an address.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable

Labels = tuple[str, ...]
Reader = Callable[[], Iterable[tuple[Labels, float]]]

# Seconds: SIP transactions and Cx exchanges run from sub-millisecond (loopback) to the
# 32 s of Timer F/B; the HSS store from microseconds (SQLite in memory) up.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 32.0,
)  # fmt: skip

_METHODS = frozenset((
    "INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK", "UPDATE", "SUBSCRIBE",
    "NOTIFY", "MESSAGE", "REFER", "INFO", "PUBLISH",
))  # fmt: skip


def method_label(method: str) -> str:
    """A SIP method as a label value: the RFC 3261 and extension methods we know, else
    ``other`` (a method is any token on the wire; labels must stay few)."""
    return method if method in _METHODS else "other"


_CLASSES = tuple(f"{n}xx" for n in range(10))  # made once: a label per response


def status_class(status: int) -> str:
    """``1xx`` … ``6xx`` for a SIP status code."""
    n = status // 100
    return _CLASSES[n] if 0 <= n < 10 else f"{n}xx"


class _Scalar:
    """One number per label tuple, kept here (``values``) or, with ``read``, read from
    another object at scrape time."""

    __slots__ = ("help", "labelnames", "name", "read", "values")
    kind = ""

    def __init__(self, name: str, help: str, labelnames: Labels = (),
                 read: Reader | None = None) -> None:
        self.name = name
        self.help = help
        self.labelnames = labelnames
        self.values: dict[Labels, float] = {}
        self.read = read

    def inc(self, *labels: str) -> None:
        values = self.values
        values[labels] = values.get(labels, 0) + 1

    def value(self, *labels: str) -> float:
        if self.read is not None:
            return dict(self.read()).get(labels, 0)
        return self.values.get(labels, 0)

    def samples(self) -> list[tuple[Labels, float]]:
        if self.read is not None:
            return list(self.read())
        return list(self.values.items())


class Counter(_Scalar):
    """A monotonically increasing value per label tuple; or, with ``read``, totals another
    object keeps."""

    __slots__ = ()
    kind = "counter"

    def add(self, amount: float, *labels: str) -> None:
        values = self.values
        values[labels] = values.get(labels, 0) + amount


class Gauge(_Scalar):
    """A value that goes up and down, kept by set/inc/dec, or read from live state at
    scrape time through ``read`` (e.g. the size of a table: nothing to keep in step)."""

    __slots__ = ()
    kind = "gauge"

    def set(self, value: float, *labels: str) -> None:
        self.values[labels] = value

    def dec(self, *labels: str) -> None:
        values = self.values
        values[labels] = values.get(labels, 0) - 1


class HistogramValue:
    """Counts per bucket (not cumulative), the sum and the count of one label tuple."""

    __slots__ = ("buckets", "count", "sum")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * size  # the last slot is +Inf
        self.sum = 0.0
        self.count = 0


class Histogram:
    """Observations in fixed buckets (upper bounds, seconds by convention)."""

    __slots__ = ("bounds", "help", "labelnames", "name", "values")
    kind = "histogram"

    def __init__(self, name: str, help: str, labelnames: Labels = (),
                 buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        if list(buckets) != sorted(buckets) or not buckets:
            raise ValueError("histogram buckets must be a non-empty ascending sequence")
        self.name = name
        self.help = help
        self.labelnames = labelnames
        self.bounds = buckets
        self.values: dict[Labels, HistogramValue] = {}

    def observe(self, value: float, *labels: str) -> None:
        h = self.values.get(labels)
        if h is None:
            h = self.values[labels] = HistogramValue(len(self.bounds) + 1)
        h.buckets[bisect.bisect_left(self.bounds, value)] += 1
        h.sum += value
        h.count += 1

    def count(self, *labels: str) -> int:
        h = self.values.get(labels)
        return 0 if h is None else h.count


Family = Counter | Gauge | Histogram


class Registry:
    """The families of one process, in registration order; names are unique."""

    def __init__(self) -> None:
        self._families: dict[str, Family] = {}

    def add(self, family: Family) -> None:
        if family.name in self._families:
            raise ValueError(f"metric {family.name} registered twice")
        self._families[family.name] = family

    def counter(self, name: str, help: str, labelnames: Labels = (),
                read: Reader | None = None) -> Counter:
        c = Counter(name, help, labelnames, read)
        self.add(c)
        return c

    def gauge(self, name: str, help: str, labelnames: Labels = (),
              read: Reader | None = None) -> Gauge:
        g = Gauge(name, help, labelnames, read)
        self.add(g)
        return g

    def histogram(self, name: str, help: str, labelnames: Labels = (),
                  buckets: tuple[float, ...] = LATENCY_BUCKETS) -> Histogram:
        h = Histogram(name, help, labelnames, buckets)
        self.add(h)
        return h

    def get(self, name: str) -> Family | None:
        return self._families.get(name)

    def families(self) -> list[Family]:
        return list(self._families.values())
