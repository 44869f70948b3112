"""Proxy settings: who we are (for Via, Record-Route and "is this URI me?") and where
out-of-dialog requests go."""

from __future__ import annotations

from dataclasses import dataclass, field

from ims_core.sip.addressing import UDP_SIZE_LIMIT, Destination


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """`host`/`port`: the address we listen on and put in Via and Record-Route.
    `aliases`: further `host` or `host:port` names that mean this proxy (§16.4).
    `next_hop`: where out-of-dialog requests go (transport "" = the one they came in on).
    `record_route`: insert Record-Route (§16.6 step 4). `udp_size_limit`: §18.1.1.
    `timer_c`: seconds an INVITE branch may stay without a final response (§16.8); more
    than 3 minutes says §16.6 step 11 (node configs enforce it; tests use less)."""

    host: str = "127.0.0.1"
    port: int = 5060
    aliases: tuple[str, ...] = ()
    next_hop: Destination | None = None
    record_route: bool = False
    udp_size_limit: int = UDP_SIZE_LIMIT
    timer_c: float = 185.0
    names: frozenset[tuple[str, int]] = field(init=False)

    def __post_init__(self) -> None:
        names = {(self.host.lower(), self.port)}
        for alias in self.aliases:
            host, _, port = alias.rpartition(":") if alias.count(":") == 1 else (alias, "", "")
            names.add((host.lower(), int(port) if port else self.port))
        object.__setattr__(self, "names", frozenset(names))
