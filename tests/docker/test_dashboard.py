"""docker/grafana: the dashboard JSON is a Grafana dashboard model (a JSON Schema of its
essentials, checked with jsonschema_rs; unique panel ids, panels that do not overlap on
the 24-column grid), every PromQL expression lexes and reads only series the nodes expose
(the names and labels of ims_core/metrics/groups.py, so renaming a metric there fails
here), and the provisioning files point Grafana at the compose Prometheus and at the
dashboard's directory."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from ims_core.metrics.exporter import render
from tests.docker.monitoring import (
    DASHBOARD,
    GRAFANA_PROVISIONING,
    TARGET_LABELS,
    catalogue,
    dashboard_queries,
    load_dashboard,
    node_registry,
)
from tests.docker.promql import Parsed, PromQLError, parse

GRID_COLUMNS = 24
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

_DATASOURCE_REF = {
    "type": "object",
    "required": ["type", "uid"],
    "properties": {"type": {"const": "prometheus"}, "uid": {"type": "string", "minLength": 1}},
}
_GRID_POS = {
    "type": "object",
    "required": ["h", "w", "x", "y"],
    "properties": {
        "h": {"type": "integer", "minimum": 1},
        "w": {"type": "integer", "minimum": 1, "maximum": GRID_COLUMNS},
        "x": {"type": "integer", "minimum": 0, "maximum": GRID_COLUMNS - 1},
        "y": {"type": "integer", "minimum": 0},
    },
}
_TARGET = {
    "type": "object",
    "required": ["refId", "expr", "datasource"],
    "properties": {
        "refId": {"type": "string", "pattern": "^[A-Z]$"},
        "expr": {"type": "string", "minLength": 1},
        "datasource": _DATASOURCE_REF,
        "legendFormat": {"type": "string"},
    },
}
_PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"enum": ["row", "timeseries", "stat", "gauge", "table", "bargauge",
                          "state-timeline", "heatmap", "text"]},
        "title": {"type": "string", "minLength": 1},
        "gridPos": _GRID_POS,
    },
    "if": {"properties": {"type": {"const": "row"}}},
    "then": {"properties": {"gridPos": {"properties": {"h": {"const": 1},
                                                       "w": {"const": GRID_COLUMNS}}},
                            "panels": {"type": "array"}}},
    "else": {
        "required": ["datasource", "targets", "fieldConfig"],
        "properties": {
            "datasource": _DATASOURCE_REF,
            "targets": {"type": "array", "minItems": 1, "items": _TARGET},
            "fieldConfig": {"type": "object", "required": ["defaults", "overrides"]},
        },
    },
}
_VARIABLE = {
    "type": "object",
    "required": ["name", "type"],
    "properties": {"name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                   "type": {"enum": ["query", "datasource", "custom", "constant",
                                     "interval", "textbox", "adhoc"]}},
}
DASHBOARD_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "time",
                 "refresh", "tags"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 39},
        "panels": {"type": "array", "minItems": 1, "items": _PANEL},
        "templating": {"type": "object", "required": ["list"],
                       "properties": {"list": {"type": "array", "items": _VARIABLE}}},
        "time": {"type": "object", "required": ["from", "to"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "id": {"type": ["integer", "null"]},
    },
}


def schema_errors(instance: Any) -> list[str]:
    """What ``instance`` breaks of :data:`DASHBOARD_SCHEMA` (jsonschema_rs comes with
    schemathesis, a dev dependency)."""
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    jsonschema_rs.meta.validate(DASHBOARD_SCHEMA)  # the schema itself is valid
    validator = jsonschema_rs.validator_for(DASHBOARD_SCHEMA)
    return [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(instance)]


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = list(dashboard["panels"])
    for panel in dashboard["panels"]:
        panels += panel.get("panels") or []
    return panels


def overlaps(a: dict[str, int], b: dict[str, int]) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def unknown_series(parsed: Parsed) -> list[str]:
    """What ``parsed`` reads that no node exposes: metric names, label names in matchers or
    grouping, counter functions over gauges, quantiles of non-histograms."""
    names = catalogue()
    problems: list[str] = []
    labels_in_reach = set(TARGET_LABELS)
    for sel in parsed.selectors:
        exposed = names.get(sel.metric)
        if exposed is None:
            problems.append(f"metric {sel.metric!r} is not exposed")
            continue
        labels_in_reach |= exposed.labels
        problems += [f"{sel.metric} has no label {label!r}" for label in sel.matchers
                     if label not in exposed.labels | TARGET_LABELS]
        if {"rate", "irate", "increase"} & set(sel.functions) and exposed.kind == "gauge":
            problems.append(f"rate/increase of the gauge {sel.metric}")
        if "histogram_quantile" in sel.functions and not sel.metric.endswith("_bucket"):
            problems.append(f"histogram_quantile over {sel.metric}, not a _bucket series")
    problems += [f"grouping by {label!r}, which no series here has"
                 for label in sorted(parsed.grouping - labels_in_reach)]
    if "histogram_quantile" in parsed.functions and "le" not in parsed.grouping:
        problems.append("histogram_quantile without 'le' in its grouping")
    return problems


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_dashboard()


# -- the checks themselves fail on bad input -------------------------------------------------


def test_schema_refuses_what_grafana_cannot_load() -> None:
    good = {"uid": "x", "title": "t", "schemaVersion": 39, "time": {"from": "now-1h",
            "to": "now"}, "refresh": "", "tags": [], "templating": {"list": []},
            "panels": [{"id": 1, "type": "timeseries", "title": "p", "datasource": DATASOURCE,
                        "fieldConfig": {"defaults": {}, "overrides": []},
                        "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
                        "targets": [{"refId": "A", "expr": "up", "datasource": DATASOURCE}]}]}
    assert schema_errors(good) == []
    old = {**good, "schemaVersion": 36}
    no_uid = {k: v for k, v in good.items() if k != "uid"}
    panel = good["panels"][0]
    no_expr = {**good, "panels": [{**panel, "targets": [{"refId": "A",
                                                         "datasource": DATASOURCE}]}]}
    wide = {**good, "panels": [{**panel, "gridPos": {"h": 8, "w": 25, "x": 0, "y": 0}}]}
    for bad in (old, no_uid, no_expr, wide):
        assert schema_errors(bad), bad


@pytest.mark.parametrize(("expr", "error"), [
    ("rate(ims_sip_requests_received_total[5m]", "unclosed"),
    ("sum(x))", "unbalanced"),
    ('ims_calls_active{node="a"', "expected"),
    ('ims_calls_active{node=="a"}', "no label match operator"),
    ("ims_calls_active[]", "expected a duration"),
    ("rte(ims_calls_active)", "unknown function"),
    ('ims_calls_active{node="a}', "cannot lex"),
    ("5m", "outside a range"),
    ("{}", "empty selector"),
    ("", "empty"),
])
def test_malformed_promql_is_refused(expr: str, error: str) -> None:
    with pytest.raises(PromQLError, match=error):
        parse(expr)


def test_parse_finds_selectors_functions_and_grouping() -> None:
    parsed = parse('histogram_quantile(0.99, sum by (node, le) (rate(ims_cx_latency_seconds_'
                   'bucket{node=~"$node", command!="other"}[$__rate_interval] offset 1m)))'
                   " / on (node) group_left ims_node_info")
    assert [s.metric for s in parsed.selectors] == ["ims_cx_latency_seconds_bucket",
                                                    "ims_node_info"]
    first = parsed.selectors[0]
    assert first.matchers == {"node": ("=~", "$node"), "command": ("!=", "other")}
    assert first.functions == ("histogram_quantile", "sum", "rate") and first.ranged
    assert parsed.grouping == {"node", "le"}
    assert parsed.functions == ["histogram_quantile", "sum", "rate"]


@pytest.mark.parametrize(("expr", "problem"), [
    ("rate(ims_sip_requests_total[1m])", "not exposed"),  # the name lacks _received
    ("ims_sip_requests_received", "not exposed"),  # a counter is exposed with _total
    ('ims_calls_active{method="INVITE"}', "no label 'method'"),
    ("sum by (peer) (ims_calls_active)", "grouping by 'peer'"),
    ("rate(ims_calls_active[1m])", "gauge"),
    ("histogram_quantile(0.5, sum by (le) (ims_cx_latency_seconds_sum))", "not a _bucket"),
    ("histogram_quantile(0.5, sum (rate(ims_cx_latency_seconds_bucket[1m])))", "'le'"),
])
def test_series_check_catches_renamed_or_misused_metrics(expr: str, problem: str) -> None:
    assert any(problem in p for p in unknown_series(parse(expr))), unknown_series(parse(expr))


def test_catalogue_is_what_the_exporter_writes() -> None:
    """Every series name the checks accept is declared by a node's exposition (its # TYPE
    lines: a counter with _total, a histogram under its base name), with that kind."""
    text = render(node_registry(), "hss").decode()
    declared = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    for name, exposed in catalogue().items():
        family = re.sub(r"_(bucket|sum|count)$", "", name) if exposed.kind == "histogram" \
            else name
        assert declared.get(family) == exposed.kind, (name, declared.get(family))


# -- the dashboard -------------------------------------------------------------------------


def test_dashboard_is_a_grafana_dashboard_model(dashboard: dict[str, Any]) -> None:
    assert schema_errors(dashboard) == []
    assert dashboard["uid"] == "ims-core"
    assert dashboard["schemaVersion"] >= 39
    assert DASHBOARD.read_text().endswith("\n")
    json.loads(DASHBOARD.read_text())  # plain JSON: no comments, no trailing commas


def test_panel_ids_unique_and_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    panels = all_panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), sorted(ids)
    grid = dashboard["panels"]  # rows are expanded: their panels are on the one grid
    for i, a in enumerate(grid):
        assert a["gridPos"]["x"] + a["gridPos"]["w"] <= GRID_COLUMNS, a["title"]
        for b in grid[i + 1:]:
            assert not overlaps(a["gridPos"], b["gridPos"]), (a["title"], b["title"])


def test_every_panel_uses_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    for panel in all_panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert all(t["datasource"] == DATASOURCE for t in panel["targets"]), panel["title"]


def test_templating_has_datasource_and_node_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    node = variables["node"]
    assert node["type"] == "query" and node["datasource"] == DATASOURCE
    assert node["multi"] and node["includeAll"]
    query = node["query"]["query"] if isinstance(node["query"], dict) else node["query"]
    assert query == node["definition"]
    m = re.fullmatch(r"label_values\((\w+), *(\w+)\)", query)
    assert m is not None, query
    assert m.group(1) in catalogue() and m.group(2) == "node"


def test_every_expression_parses_and_reads_exposed_series(dashboard: dict[str, Any]) -> None:
    queries = list(dashboard_queries(dashboard))
    assert len(queries) >= 20
    problems = {}
    for where, expr in queries:
        try:
            found = unknown_series(parse(expr))
        except PromQLError as exc:
            found = [str(exc)]
        if found:
            problems[where] = found
    assert problems == {}


def test_node_panels_follow_the_node_variable(dashboard: dict[str, Any]) -> None:
    for where, expr in dashboard_queries(dashboard):
        for sel in parse(expr).selectors:
            assert sel.matchers.get("node") == ("=~", "$node"), (where, expr)


def test_the_dashboard_shows_every_family(dashboard: dict[str, Any]) -> None:
    """Each family of the groups is on some panel but the few left out on purpose."""
    shown = {sel.metric for _, expr in dashboard_queries(dashboard)
             for sel in parse(expr).selectors}
    # Requests we send and responses we receive: the other side's panels show them.
    left_out = {"ims_sip_requests_sent_total", "ims_sip_responses_received_total"}
    for family in node_registry().families():
        exposed = {n for n in catalogue() if n == family.name or n.startswith(family.name + "_")}
        if not exposed & left_out:
            assert exposed & shown, family.name
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes",
            "ims_node_info"} <= shown


@pytest.mark.parametrize("method", ["REGISTER", "INVITE"])
def test_transaction_latency_p50_and_p99(dashboard: dict[str, Any], method: str) -> None:
    quantiles = set()
    for _, expr in dashboard_queries(dashboard):
        parsed = parse(expr)
        for sel in parsed.selectors:
            if (sel.metric == "ims_sip_transaction_seconds_bucket"
                    and sel.matchers.get("method") == ("=", method)):
                m = re.match(r"histogram_quantile\((0\.\d+),", expr)
                assert m is not None, expr
                quantiles.add(m.group(1))
    assert quantiles == {"0.5", "0.99"}


# -- provisioning ----------------------------------------------------------------------------


def test_grafana_provisioning_points_at_prometheus_and_the_dashboards() -> None:
    datasources = yaml.safe_load((GRAFANA_PROVISIONING / "datasources" /
                                  "prometheus.yaml").read_text())
    ds, = datasources["datasources"]
    assert (ds["type"], ds["url"], ds["isDefault"]) == ("prometheus", "http://prometheus:9090",
                                                        True)
    providers = yaml.safe_load((GRAFANA_PROVISIONING / "dashboards" /
                                "ims-core.yaml").read_text())
    provider, = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
