"""P-CSCF settings: the CSCF basics plus the home networks we serve (domain → I-CSCF),
the visited network name we announce, the user part of our Path URI and our
subscriptions to the reg event package (`[regevent]`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from ims_core.config import ConfigError
from ims_core.cscf import DOMAIN, CscfConfig
from ims_core.cscf.overload import EdgeOverloadConfig
from ims_core.ipsec.alloc import parse_port_range
from ims_core.proxy import ProxyConfig
from ims_core.sip import SipParseError, SipUri, parse_uri
from ims_core.sip.addressing import Destination, uri_destination


def _lab_home_networks() -> dict[str, str | tuple[str, ...]]:
    return {DOMAIN: "127.0.0.2:5060"}


@dataclass(frozen=True, slots=True)
class RegEventConfig:
    """`[regevent]` (TS 24.229 §5.2.3, RFC 3680): after the 200 (OK) to a UE's initial
    REGISTER, subscribe to the reg event of its public identity when `subscribe`.
    `expires`: the duration asked for (seconds; the notifier may grant less).
    `retry_min` / `retry_max`: a failed SUBSCRIBE is tried again after `retry_min`
    seconds, doubling on each failure in a row up to `retry_max` (a Retry-After the
    notifier sends counts as a floor, within `retry_max`)."""

    subscribe: bool = True
    expires: int = 600000
    retry_min: float = 30.0
    retry_max: float = 1800.0

    def __post_init__(self) -> None:
        if self.expires <= 0:
            raise ConfigError(f"regevent.expires must be positive, not {self.expires}")
        if not 0 < self.retry_min <= self.retry_max:
            raise ConfigError("regevent: 0 < retry_min <= retry_max is needed")


_INTEGRITY = ("hmac-sha-1-96", "hmac-md5-96")  # TS 33.203 Annex H
_ENCRYPTION = ("aes-cbc", "des-ede3-cbc", "null")


@dataclass(frozen=True, slots=True)
class IpsecConfig:
    """`[ipsec]`: IPsec security agreement with UEs (TS 33.203 §7, RFC 3329). `enabled`
    needs CAP_NET_ADMIN and a kernel with ESP (the node refuses to start otherwise).
    `integrity` / `encryption`: the algorithms we accept, most preferred first.
    `port_s`: our protected server port (UDP and TCP); `client_ports`: the pool our
    protected client port comes from, `"first-last"` (a new one per SA set, §7.4).
    `spi_min`/`spi_max`: our SPIs. `max_sas`: kernel SAs at most (4 per UE set).
    `pending_seconds`: how long SAs set up with a 401 wait for the protected REGISTER.
    `retire_seconds`: how long a set outlives its use (replaced by a re-registration, or
    its registration gone) so transactions under way can finish.
    `unprotected`: what a request from a protected UE's address that did not come over
    its SAs gets: "403" or "drop"."""

    enabled: bool = False
    integrity: tuple[str, ...] = _INTEGRITY
    encryption: tuple[str, ...] = _ENCRYPTION
    port_s: int = 5064
    client_ports: str = "5066-5073"
    spi_min: int = 4096
    spi_max: int = 65535
    max_sas: int = 4000
    pending_seconds: float = 60.0
    retire_seconds: float = 4.0
    unprotected: str = "403"

    def __post_init__(self) -> None:
        for name, values, known in (("integrity", self.integrity, _INTEGRITY),
                                    ("encryption", self.encryption, _ENCRYPTION)):
            if not values or any(v not in known for v in values):
                raise ConfigError(f"ipsec.{name}: a non-empty list of {', '.join(known)}")
        ports = self.client_port_range()
        if not 0 < self.port_s < 65536 or self.port_s in ports:
            raise ConfigError("ipsec.port_s: a port outside ipsec.client_ports")
        if not 0 < self.spi_min <= self.spi_max < 1 << 32 or self.spi_min < 256:
            raise ConfigError("ipsec: 256 <= spi_min <= spi_max < 2**32 is needed "
                              "(SPIs below 256 are reserved, RFC 4303 §2.1)")
        if self.max_sas < 4:
            raise ConfigError("ipsec.max_sas: at least 4 (one UE's set)")
        if not (self.pending_seconds > 0 and self.retire_seconds >= 0):
            raise ConfigError("ipsec: pending_seconds > 0 and retire_seconds >= 0")
        if self.unprotected not in ("403", "drop"):
            raise ConfigError('ipsec.unprotected: "403" or "drop"')

    def client_port_range(self) -> range:
        try:
            ports = parse_port_range(self.client_ports)
        except ValueError as exc:
            raise ConfigError(f"ipsec.client_ports: {exc}") from None
        if not 2 <= len(ports) <= 1024:  # §7.4: a re-registration takes a new one
            raise ConfigError("ipsec.client_ports: 2 to 1024 ports")
        return ports


@dataclass(frozen=True, slots=True)
class PcscfConfig(CscfConfig):
    """`home_networks`: home domain → its I-CSCF as `host[:port]` or a SIP URI (a
    `transport` parameter picks the transport; without one the request's own is used),
    or a list of them tried in turn (`ims_core.cscf.failover`). `icscf_timeout`: seconds an
    I-CSCF may leave a REGISTER unanswered before the next one is tried (0: Timer F).
    `visited_network_id`: the P-Visited-Network-ID value (RFC 3455 §4.3).
    `path_user`: user part of our Path URI, which marks requests towards UEs (RFC 3327).
    `regevent`: our reg event subscriptions (`RegEventConfig`); `ipsec`: IPsec with UEs
    (`IpsecConfig`). A `visited_network_id` left out (empty) is `domain`."""

    node: ClassVar[str] = "pcscf"

    home_networks: dict[str, str | tuple[str, ...]] = field(default_factory=_lab_home_networks)
    icscf_timeout: float = 3.0  # above the I-CSCF's own scscf_timeout: it fails over first
    visited_network_id: str = ""
    path_user: str = "term"
    default_expires: int = 3600  # a 200 that names no expiry for a binding (RFC 3261 §10.2.1.1)
    regevent: RegEventConfig = field(default_factory=RegEventConfig)
    ipsec: IpsecConfig = field(default_factory=IpsecConfig)
    overload: EdgeOverloadConfig = field(default_factory=EdgeOverloadConfig)  # on: the edge

    def __post_init__(self) -> None:
        CscfConfig.__post_init__(self)  # slots dataclass: no zero-argument super()
        if not self.visited_network_id:  # frozen: derived once, here
            object.__setattr__(self, "visited_network_id", self.domain)
        if not self.home_networks:
            raise ConfigError("home_networks: at least one home domain is needed")
        for domain, addresses in self.home_networks.items():
            if not addresses:
                raise ConfigError(f"home_networks.{domain}: at least one I-CSCF is needed")
            for address in _listed(addresses):
                parse_next_hop(address, where=f"home_networks.{domain}")
        if self.icscf_timeout < 0:
            raise ConfigError("icscf_timeout must be >= 0")
        if not self.visited_network_id or '"' in self.visited_network_id:
            raise ConfigError("visited_network_id (else domain) must be non-empty and hold "
                              "no '\"'")
        if not self.path_user.isalnum():
            raise ConfigError("path_user must be alphanumeric")

    def proxy_config(self, *, record_route: bool = False) -> ProxyConfig:
        """Our protected server port names us too (Routes of UEs behind SAs)."""
        cfg = CscfConfig.proxy_config(self, record_route=record_route)
        if not self.ipsec.enabled:
            return cfg
        extra = tuple(f"{h}:{self.ipsec.port_s}" for h in (cfg.host, *cfg.aliases)
                      if ":" not in h)
        return replace(cfg, aliases=cfg.aliases + extra)

    def extra_ports(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if not self.ipsec.enabled:
            return (), ()
        return (self.ipsec.port_s,), tuple(self.ipsec.client_port_range())

    def i_cscfs(self) -> dict[str, Destination]:
        """Home domain (lower case) → where its REGISTERs go first."""
        return {d: dests[0] for d, dests in self.i_cscf_lists().items()}

    def i_cscf_lists(self) -> dict[str, tuple[Destination, ...]]:
        """Home domain (lower case) → its I-CSCFs in the order they are tried."""
        return {d.lower(): tuple(parse_next_hop(a) for a in _listed(addresses))
                for d, addresses in self.home_networks.items()}


def _listed(addresses: str | tuple[str, ...]) -> tuple[str, ...]:
    """One I-CSCF or a list of them (`home_networks`), as a tuple."""
    return (addresses,) if isinstance(addresses, str) else addresses


def parse_next_hop(address: str, where: str = "address") -> Destination:
    """`host`, `host:port`, `[v6]:port` or `sip:host[:port][;transport=…]` → a Destination
    whose transport is "" (as received) unless the URI names one (RFC 3263 §4.1). A host
    name is resolved when sending (A/AAAA through the system resolver, no NAPTR/SRV)."""
    text = address.strip()
    if not text.lower().startswith(("sip:", "sips:")):
        text = f"sip:{text}"
    try:
        uri = parse_uri(text)
    except SipParseError as exc:
        raise ConfigError(f"{where}: {address!r} is not host[:port] or a SIP URI ({exc})") from None
    if not isinstance(uri, SipUri) or uri.user is not None:
        raise ConfigError(f"{where}: {address!r} is not host[:port] or a SIP URI")
    return uri_destination(uri, "")
