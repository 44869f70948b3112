"""The `monitoring` side of docker/: the metric names the nodes expose (from
ims_core/metrics/groups.py, where they live), the Prometheus scrape targets of
docker/prometheus/prometheus.yml, the expressions of the Grafana dashboard, and a plain
HTTP GET for probing a node's /metrics and /readyz. No I/O but the file reads and
:func:`http_get`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ims_core.metrics.families import Counter, Gauge, Registry
from ims_core.metrics.groups import DiameterMetrics, HssMetrics, SipMetrics

__all__ = ["DASHBOARD", "DOCKER", "EXPORTER_METRICS", "GRAFANA_PROVISIONING",
           "PROMETHEUS_CONFIG", "TARGET_LABELS", "Exposed", "HttpAnswer", "Target",
           "catalogue", "dashboard_queries", "http_get", "load_dashboard",
           "load_prometheus_config", "node_registry", "scrape_targets"]

DOCKER = Path(__file__).resolve().parents[2] / "docker"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "ims-core.json"
PROMETHEUS_CONFIG = DOCKER / "prometheus" / "prometheus.yml"
GRAFANA_PROVISIONING = DOCKER / "grafana" / "provisioning"

# Labels Prometheus adds to every scraped series: job and instance, and the target label
# node of docker/prometheus/prometheus.yml.
TARGET_LABELS = frozenset(("job", "instance", "node"))


@dataclass(frozen=True)
class Exposed:
    """A series name as the exposition writes it, the kind of its family and its labels."""

    kind: str  # counter, gauge, histogram (its _bucket, _sum and _count series)
    labels: frozenset[str]


# Beside the groups, every node's exporter writes these (ims_core/metrics/exporter.py):
# the process metrics of prometheus_client and the node's name and version.
EXPORTER_METRICS = {
    "process_cpu_seconds_total": Exposed("counter", frozenset()),
    "process_resident_memory_bytes": Exposed("gauge", frozenset()),
    "ims_node_info": Exposed("gauge", frozenset(("node", "version"))),
}


def node_registry() -> Registry:
    """Every group of every node on one registry: all the families any node has."""
    registry = Registry()
    SipMetrics.create(registry)
    DiameterMetrics.create(registry)
    HssMetrics.create(registry)
    return registry


def catalogue() -> dict[str, Exposed]:
    """Every series name a node can expose: a counter as ``<name>_total``, a histogram as
    ``<name>_bucket`` (with ``le``), ``_sum`` and ``_count``."""
    names = dict(EXPORTER_METRICS)
    for family in node_registry().families():
        labels = frozenset(family.labelnames)
        if isinstance(family, Counter):
            names[f"{family.name}_total"] = Exposed("counter", labels)
        elif isinstance(family, Gauge):
            names[family.name] = Exposed("gauge", labels)
        else:
            names[f"{family.name}_bucket"] = Exposed("histogram", labels | {"le"})
            names[f"{family.name}_sum"] = Exposed("histogram", labels)
            names[f"{family.name}_count"] = Exposed("histogram", labels)
    return names


# -- Prometheus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    job: str
    host: str
    port: int
    path: str
    labels: Mapping[str, str]


def scrape_targets(config: Mapping[str, Any]) -> list[Target]:
    """The static targets of a parsed prometheus.yml, one per address."""
    targets: list[Target] = []
    for job in config.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            for address in static.get("targets") or []:
                host, _, port = str(address).rpartition(":")
                targets.append(Target(job["job_name"], host, int(port),
                                      job.get("metrics_path", "/metrics"),
                                      dict(static.get("labels") or {})))
    return targets


def load_prometheus_config(path: Path = PROMETHEUS_CONFIG) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


# -- Grafana ---------------------------------------------------------------------------------


def load_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def dashboard_queries(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target, nested row panels included."""
    stack = list(dashboard.get("panels") or [])
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels") or [])
        for target in panel.get("targets") or []:
            yield f"panel {panel.get('id')} {panel.get('title')!r} {target.get('refId')}", \
                target.get("expr", "")


# -- HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    content_type: str
    body: str


def http_get(url: str, timeout: float = 3.0,
             headers: Mapping[str, str] | None = None) -> HttpAnswer:
    """GET ``url`` directly (no proxy from the environment); an HTTP error status is an
    answer, not an exception."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with opener.open(request, timeout=timeout) as reply:
            return HttpAnswer(reply.status, reply.headers.get("Content-Type", ""),
                              reply.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        return HttpAnswer(exc.code, exc.headers.get("Content-Type", ""), body)
