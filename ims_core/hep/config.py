"""The ``[hep]`` table every node has: a copy of each SIP and Diameter message it sends
or receives, as HEP3 over UDP to a Homer (heplify-server) collector."""

from __future__ import annotations

import dataclasses

from ims_core.config import ConfigError


@dataclasses.dataclass(frozen=True, slots=True)
class HepConfig:
    """Off unless configured. ``capture_id`` identifies this node to the collector (HEP3
    chunk 0x000c); ``password`` is the collector's authentication key (chunk 0x000e),
    empty for none."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9060
    capture_id: int = 2001
    password: str = ""

    def __post_init__(self) -> None:
        if not 0 < self.port <= 65535:
            raise ConfigError(f"hep.port must be 1-65535, not {self.port}")
        if not 0 <= self.capture_id < 1 << 32:
            raise ConfigError("hep.capture_id must fit 32 bits")
