"""The sans-I/O metric families: values, labels, histogram buckets, registry rules."""

from __future__ import annotations

import pytest

from ims_core.metrics import (
    DiameterMetrics,
    HssMetrics,
    Registry,
    SipMetrics,
    command_label,
    method_label,
    status_class,
)
from ims_core.metrics.families import Counter, Gauge, Histogram
from ims_core.metrics.groups import hep_packets


def test_counter_counts_per_label_tuple() -> None:
    c = Counter("x", "help", ("method",))
    c.inc("REGISTER")
    c.inc("REGISTER")
    c.add(3, "INVITE")
    assert c.value("REGISTER") == 2
    assert c.value("INVITE") == 3
    assert c.value("BYE") == 0
    assert sorted(c.samples()) == [(("INVITE",), 3), (("REGISTER",), 2)]


def test_gauge_kept_or_read_at_scrape() -> None:
    g = Gauge("g", "help")
    g.inc()
    g.inc()
    g.dec()
    assert g.value() == 1
    g.set(7)
    assert g.samples() == [((), 7)]
    table = {"a": 1, "b": 2}
    live = Gauge("live", "help", read=lambda: [((), float(len(table)))])
    assert live.value() == 2
    table["c"] = 3
    assert live.value() == 3  # read again: nothing to keep in step


def test_histogram_buckets_are_upper_bounds() -> None:
    h = Histogram("h", "help", ("cmd",), buckets=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 1.0, 7.0):
        h.observe(v, "MAR")
    got = h.values[("MAR",)]
    assert got.buckets == [2, 2, 1]  # <=0.1, <=1.0, +Inf (not cumulative here)
    assert got.count == 5 == h.count("MAR")
    assert got.sum == pytest.approx(8.65)
    assert h.count("SAR") == 0
    with pytest.raises(ValueError):
        Histogram("bad", "help", buckets=(1.0, 0.5))


def test_registry_refuses_a_name_twice() -> None:
    r = Registry()
    SipMetrics.create(r)
    DiameterMetrics.create(r)
    HssMetrics.create(r)
    names = [f.name for f in r.families()]
    assert len(names) == len(set(names))
    assert all(n.startswith("ims_") for n in names)
    assert not any(n.endswith("_total") for n in names)  # the exposition adds it
    with pytest.raises(ValueError, match="twice"):
        SipMetrics.create(r)


def test_groups_without_registry_are_private() -> None:
    a, b = SipMetrics.create(), SipMetrics.create()
    a.requests_received.inc("INVITE")
    assert b.requests_received.value("INVITE") == 0


def test_label_values_are_bounded() -> None:
    assert method_label("REGISTER") == "REGISTER"
    assert method_label("FOO") == "other"
    assert method_label("register") == "other"  # methods are case-sensitive (RFC 3261 §7.1)
    assert [status_class(s) for s in (100, 183, 200, 401, 503, 606)] == [
        "1xx", "1xx", "2xx", "4xx", "5xx", "6xx"]
    assert command_label("MAR") == "MAR"
    assert command_label("MAA") == "MAR"
    assert command_label("CER") == "other"
    assert command_label("DWA") == "other"


def test_counter_read_from_another_object() -> None:
    totals = {"sent": 3}
    r = Registry()
    c = hep_packets(r, lambda: [((k,), float(v)) for k, v in totals.items()])
    assert r.get("ims_hep_packets") is c
    assert c.value("sent") == 3
    totals["sent"] = 5
    assert c.samples() == [(("sent",), 5.0)]
