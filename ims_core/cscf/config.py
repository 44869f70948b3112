"""Settings every CSCF has; each node's own dataclass extends :class:`CscfConfig`.

Node URIs (Via, Record-Route, Path, Service-Route) use the advertised ``host:port``, so a
lab works without DNS; identities (Server-Name, realms) use the home domain's names: a
Diameter Origin-Host left out is ``<node>.<domain>`` and the realm ``<domain>``, whatever
the domain; a value written in the config is kept as written.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import ClassVar

from ims_core.config import ConfigError, LogConfig
from ims_core.diameter import DiameterConfig
from ims_core.hep.config import HepConfig
from ims_core.metrics.config import MetricsConfig
from ims_core.persist.config import PersistConfig
from ims_core.proxy import ProxyConfig
from ims_core.transaction import TimerConfig

from .overload import OverloadConfig

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
    """Our Diameter identity and the HSS we talk Cx to (TS 29.229). In a
    :class:`CscfConfig`, ``origin_host`` left out (empty) becomes ``<node>.<domain>`` and
    ``origin_realm`` left out becomes ``<domain>``. ``host_ip``: the address
    we connect to the HSS from and advertise in CER Host-IP-Address (RFC 6733 §5.3.1);
    empty: the ``[sip]`` host (else its ``advertise``) when that is an IP address."""

    origin_host: str = ""
    origin_realm: str = ""
    hss_host: str = "127.0.0.4"
    hss_port: int = 3868
    request_timeout: float = 2.0
    watchdog_seconds: float = 30.0
    host_ip: str = ""


def _address(host: str) -> str | None:
    """*host* when it is one IP address a socket can bind and a peer can reach, else None
    (a name, or the wildcard 0.0.0.0 / ::)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return None if ip.is_unspecified else str(ip)


@dataclass(frozen=True, slots=True)
class CscfConfig:
    node: ClassVar[str] = "cscf"  # Origin-Host <node>.<domain> when none is configured

    domain: str = DOMAIN
    sip: SipListen = field(default_factory=SipListen)
    diameter: DiameterClient | None = None
    t1: float = 0.5  # RFC 3261 T1; T2/T4 keep their defaults
    timer_c: float = 185.0  # RFC 3261 §16.6 step 11: Timer C MUST be over 3 minutes
    stop_grace: float = 5.0  # seconds a SIGTERM waits for what is under way (0: at once)
    log: LogConfig = field(default_factory=LogConfig)
    overload: OverloadConfig = field(default_factory=OverloadConfig)  # 503 when overloaded
    metrics: MetricsConfig = field(default_factory=MetricsConfig)  # /metrics, /healthz, /readyz
    hep: HepConfig = field(default_factory=HepConfig)  # HEP3 copies to a Homer collector
    persist: PersistConfig = field(default_factory=PersistConfig)  # state across restarts

    def __post_init__(self) -> None:
        if self.stop_grace < 0:
            raise ConfigError(f"stop_grace must be >= 0, not {self.stop_grace:g}")
        if not self.timer_c > 180:
            raise ConfigError(f"timer_c must be more than 180 seconds (RFC 3261 §16.6 "
                              f"step 11), not {self.timer_c:g}")
        d = self.diameter
        if d is not None:
            self.diameter_host_ip()  # checked at load; derived when used (sip may change)
            filled = replace(d, origin_host=d.origin_host or f"{self.node}.{self.domain}",
                             origin_realm=d.origin_realm or self.domain)
            if filled != d:  # frozen: complete the identity once, here
                object.__setattr__(self, "diameter", filled)

    def proxy_config(self, *, record_route: bool = False) -> ProxyConfig:
        host = self.sip.public_host
        aliases = (self.sip.host,) if self.sip.host != host else ()
        return ProxyConfig(host=host, port=self.sip.port, aliases=aliases,
                           record_route=record_route, timer_c=self.timer_c)

    def extra_ports(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Further (server, client) ports the SIP transport opens (none by default)."""
        return (), ()

    def timer_config(self) -> TimerConfig:
        return TimerConfig(t1=self.t1)

    def diameter_host_ip(self) -> str:
        """Where Cx connections come from, advertised in CER Host-IP-Address (RFC 6733
        §5.3.1): ``[diameter] host_ip``, else our SIP address, never a wildcard."""
        d = self.diameter or DiameterClient()
        if d.host_ip:
            ip = _address(d.host_ip)
            if ip is None:
                raise ConfigError(f"diameter.host_ip must be an IP address of this host, "
                                  f"not {d.host_ip!r}")
            return ip
        ip = _address(self.sip.host) or _address(self.sip.advertise)
        if ip is None:
            raise ConfigError(f"diameter.host_ip is needed: sip.host {self.sip.host!r} is "
                              "not an address to connect to the HSS from")
        return ip

    def diameter_config(self) -> DiameterConfig | None:
        d = self.diameter
        if d is None:
            return None
        ip = self.diameter_host_ip()
        return DiameterConfig(
            origin_host=d.origin_host, origin_realm=d.origin_realm,
            host_ip_addresses=(ip,), source_address=ip, product_name="ims-core",
            watchdog_interval=d.watchdog_seconds, request_timeout=d.request_timeout,
        )
