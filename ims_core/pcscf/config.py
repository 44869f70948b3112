"""P-CSCF settings: the CSCF basics plus the home networks we serve (domain → I-CSCF),
the visited network name we announce, the user part of our Path URI and our
subscriptions to the reg event package (`[regevent]`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ims_core.config import ConfigError
from ims_core.cscf import DOMAIN, CscfConfig
from ims_core.sip import SipParseError, SipUri, parse_uri
from ims_core.sip.addressing import Destination, uri_destination


def _lab_home_networks() -> dict[str, str]:
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


@dataclass(frozen=True, slots=True)
class PcscfConfig(CscfConfig):
    """`home_networks`: home domain → its I-CSCF as `host[:port]` or a SIP URI (a
    `transport` parameter picks the transport; without one the request's own is used).
    `visited_network_id`: the P-Visited-Network-ID value (RFC 3455 §4.3).
    `path_user`: user part of our Path URI, which marks requests towards UEs (RFC 3327).
    `regevent`: our reg event subscriptions (`RegEventConfig`). A `visited_network_id`
    left out (empty) is `domain`."""

    node: ClassVar[str] = "pcscf"

    home_networks: dict[str, str] = field(default_factory=_lab_home_networks)
    visited_network_id: str = ""
    path_user: str = "term"
    default_expires: int = 3600  # a 200 that names no expiry for a binding (RFC 3261 §10.2.1.1)
    regevent: RegEventConfig = field(default_factory=RegEventConfig)

    def __post_init__(self) -> None:
        CscfConfig.__post_init__(self)  # slots dataclass: no zero-argument super()
        if not self.visited_network_id:  # frozen: derived once, here
            object.__setattr__(self, "visited_network_id", self.domain)
        if not self.home_networks:
            raise ConfigError("home_networks: at least one home domain is needed")
        for domain, address in self.home_networks.items():
            parse_next_hop(address, where=f"home_networks.{domain}")
        if not self.visited_network_id or '"' in self.visited_network_id:
            raise ConfigError("visited_network_id (else domain) must be non-empty and hold "
                              "no '\"'")
        if not self.path_user.isalnum():
            raise ConfigError("path_user must be alphanumeric")

    def i_cscfs(self) -> dict[str, Destination]:
        """Home domain (lower case) → where its REGISTERs go."""
        return {d.lower(): parse_next_hop(a) for d, a in self.home_networks.items()}


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
