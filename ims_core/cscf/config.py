"""Settings every CSCF has; each node's own dataclass extends :class:`CscfConfig`.

Node URIs (Via, Record-Route, Path, Service-Route) use the advertised ``host:port``, so a
lab works without DNS; identities (Server-Name, realms) use the home domain's names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ims_core.config import ConfigError, LogConfig
from ims_core.diameter import DiameterConfig
from ims_core.proxy import ProxyConfig
from ims_core.transaction import TimerConfig

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"


@dataclass(frozen=True, slots=True)
class SipListen:
    """UDP and TCP on ``host:port``; ``advertise`` is the host written into our URIs
    (default: ``host``)."""

    host: str = "127.0.0.1"
    port: int = 5060
    advertise: str = ""
    tcp_idle_timeout: float = 300.0

    @property
    def public_host(self) -> str:
        return self.advertise or self.host


@dataclass(frozen=True, slots=True)
class DiameterClient:
    """Our Diameter identity and the HSS we talk Cx to (TS 29.229)."""

    origin_host: str = ""
    origin_realm: str = DOMAIN
    hss_host: str = "127.0.0.4"
    hss_port: int = 3868
    request_timeout: float = 2.0
    watchdog_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class CscfConfig:
    domain: str = DOMAIN
    sip: SipListen = field(default_factory=SipListen)
    diameter: DiameterClient | None = None
    t1: float = 0.5  # RFC 3261 T1; T2/T4 keep their defaults
    timer_c: float = 185.0  # RFC 3261 §16.6 step 11: Timer C MUST be over 3 minutes
    log: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        if not self.timer_c > 180:
            raise ConfigError(f"timer_c must be more than 180 seconds (RFC 3261 §16.6 "
                              f"step 11), not {self.timer_c:g}")

    def proxy_config(self, *, record_route: bool = False) -> ProxyConfig:
        host = self.sip.public_host
        aliases = (self.sip.host,) if self.sip.host != host else ()
        return ProxyConfig(host=host, port=self.sip.port, aliases=aliases,
                           record_route=record_route, timer_c=self.timer_c)

    def timer_config(self) -> TimerConfig:
        return TimerConfig(t1=self.t1)

    def _host_ip(self) -> str:
        """CER's Host-IP-Address (RFC 6733 §5.3): our address, never the bind wildcard."""
        if self.sip.host in ("0.0.0.0", "::"):
            return self.sip.advertise or "127.0.0.1"
        return self.sip.host

    def diameter_config(self) -> DiameterConfig | None:
        d = self.diameter
        if d is None:
            return None
        return DiameterConfig(
            origin_host=d.origin_host, origin_realm=d.origin_realm,
            host_ip_addresses=(self._host_ip(),), product_name="ims-core",
            watchdog_interval=d.watchdog_seconds, request_timeout=d.request_timeout,
        )
