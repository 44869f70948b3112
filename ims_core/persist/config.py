"""The ``[persist]`` table of a CSCF config."""

from __future__ import annotations

from dataclasses import dataclass

from ims_core.config import ConfigError

BACKENDS = ("none", "sqlite", "redis")


@dataclass(frozen=True, slots=True)
class PersistConfig:
    """Where a node keeps the state that must survive a restart.

    ``backend`` "none" keeps it in memory only. ``path`` is the SQLite file (empty:
    ``<node>-state.sqlite`` in the working directory); ``prefix`` namespaces the Redis keys
    (empty: the node name). ``max_delay_ms`` bounds both the write-behind delay and what a
    crash loses.
    """

    backend: str = "none"
    path: str = ""
    url: str = "redis://127.0.0.1:6379/0"
    prefix: str = ""
    max_delay_ms: int = 200

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"persist.backend must be one of {', '.join(BACKENDS)}")
        if self.max_delay_ms <= 0:
            raise ConfigError("persist.max_delay_ms must be positive")

    @property
    def enabled(self) -> bool:
        return self.backend != "none"

    @property
    def max_delay(self) -> float:
        return self.max_delay_ms / 1000.0

    def sqlite_path(self, node: str) -> str:
        return self.path or f"{node}-state.sqlite"

    def redis_prefix(self, node: str) -> str:
        return self.prefix or node
