"""Scrape a topology stood up by :mod:`tests.docker.netns` as the compose file's Prometheus
would: each target of docker/prometheus/prometheus.yml, its host (a compose service name)
at that service's address, from the host side of the bridge. Also GETs each node's
``/readyz`` on the same listener. Used by the test and by ``run_topology``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from tests.docker.monitoring import (
    HttpAnswer,
    Target,
    http_get,
    load_prometheus_config,
    scrape_targets,
)
from tests.docker.netns import Topology, TopologyError

__all__ = ["NodeScrape", "scrape_nodes"]

Samples = dict[str, list[tuple[dict[str, str], float]]]  # series name -> (labels, value)


@dataclass(frozen=True)
class NodeScrape:
    target: Target
    base: str  # http://address:port
    ready: HttpAnswer
    metrics: HttpAnswer
    samples: Samples = field(default_factory=dict)

    @property
    def node(self) -> str:
        return self.target.labels["node"]

    def value(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels``."""
        return sum(v for got, v in self.samples.get(name, [])
                   if all(got.get(k) == want for k, want in labels.items()))

    def summary(self) -> str:
        return (f"{self.node} {self.base}: /readyz {self.ready.status}, /metrics "
                f"{self.metrics.status} ({sum(map(len, self.samples.values()))} samples)")


def parse_samples(text: str) -> Samples:
    """The samples of a Prometheus text exposition (prometheus_client's parser: it raises
    on what does not follow the format)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def scrape_nodes(topology: Topology, timeout: float = 3.0,
                 config: Mapping[str, object] | None = None) -> list[NodeScrape]:
    """GET /readyz and the metrics path of every Prometheus target; a target whose host
    is no service of the topology is a :class:`TopologyError`."""
    scrapes = []
    for target in scrape_targets(config or load_prometheus_config()):
        service = topology.project.services.get(target.host)
        if service is None:
            raise TopologyError(f"prometheus target {target.host}:{target.port} names no "
                                "service of the compose project")
        base = f"http://{service.ipv4_address}:{target.port}"
        ready = http_get(f"{base}/readyz", timeout)
        metrics = http_get(f"{base}{target.path}", timeout)
        samples = parse_samples(metrics.body) if metrics.status == 200 else {}
        scrapes.append(NodeScrape(target, base, ready, metrics, samples))
    return scrapes
