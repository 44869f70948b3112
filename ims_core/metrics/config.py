"""The ``[metrics]`` table every node has: where its HTTP listener serves ``/metrics``
(Prometheus text format), ``/healthz`` and ``/readyz``."""

from __future__ import annotations

import dataclasses

from ims_core.config import ConfigError


@dataclasses.dataclass(frozen=True, slots=True)
class MetricsConfig:
    """Off unless configured: the listener is an extra open port. The lab and the compose
    file turn it on."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9090

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"metrics.port must be 0-65535, not {self.port}")
