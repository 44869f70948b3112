"""The address plan of a four-node lab: each node's own IP, the SIP and Diameter ports,
the home domain. Light on purpose (``ims-core lab`` reads it with its config); the node
configs a plan implies are in :mod:`ims_lab.plan`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hss.config import DOMAIN
from ims_core.config import ConfigError

__all__ = ["DIAMETER_PORT", "DOMAIN", "METRICS_PORT", "NODES", "SIP_PORT", "Addresses"]

SIP_PORT, DIAMETER_PORT, METRICS_PORT = 5060, 3868, 9090
NODES = ("hss", "scscf", "icscf", "pcscf")  # start order (each next hop is up first)


@dataclass(frozen=True, slots=True)
class Addresses:
    """Each node's own IP: SIP on ``sip_port`` (UDP and TCP) for the CSCFs, Diameter on
    ``diameter_port`` for the HSS, and every node's metrics listener (``/metrics``,
    ``/healthz``, ``/readyz``) on ``metrics_port``. The defaults are ``make run``'s lab."""

    pcscf: str = "127.0.0.1"
    icscf: str = "127.0.0.2"
    scscf: str = "127.0.0.3"
    hss: str = "127.0.0.4"
    sip_port: int = SIP_PORT
    diameter_port: int = DIAMETER_PORT
    domain: str = DOMAIN
    metrics_port: int = METRICS_PORT

    def __post_init__(self) -> None:
        for node in NODES:
            try:
                ipaddress.ip_address(getattr(self, node))
            except ValueError:
                raise ConfigError(f"addresses.{node}: {getattr(self, node)!r} is not an IP "
                                  "address") from None
        for name in ("sip_port", "diameter_port", "metrics_port"):
            if not 0 < getattr(self, name) < 65536:
                raise ConfigError(f"addresses.{name} must be 1..65535")
        if not self.domain or '"' in self.domain:
            raise ConfigError("addresses.domain must be non-empty and hold no '\"'")

    def probe(self, node: str) -> tuple[str, int]:
        """Where ``node`` accepts TCP once it is up (Diameter for the HSS, SIP else)."""
        if node == "hss":
            return self.hss, self.diameter_port
        return str(getattr(self, node)), self.sip_port

    def metrics(self, node: str) -> tuple[str, int]:
        """Where ``node``'s metrics listener binds (its own IP)."""
        return str(getattr(self, node)), self.metrics_port

    def sip(self, node: str) -> str:
        """``host:port`` of a CSCF (IPv6 in brackets)."""
        host = str(getattr(self, node))
        return f"[{host}]:{self.sip_port}" if ":" in host else f"{host}:{self.sip_port}"

    def identity(self, node: str) -> str:
        """A node's Diameter identity (Origin-Host, RFC 6733 §6.3): ``<node>.<domain>``."""
        return f"{node}.{self.domain}"

    @property
    def server_name(self) -> str:
        """The S-CSCF's Server-Name (TS 29.228 §7.4), which the HSS hands out."""
        return f"sip:scscf.{self.domain}:{self.sip_port}"
