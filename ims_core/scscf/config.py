"""S-CSCF settings (``config/scscf.toml``): the shared CSCF ones plus the registrar's and
the reg event notifier's.

Lab defaults: SIP on 127.0.0.3:5060, Diameter Origin-Host ``scscf.<domain>`` towards the
HSS at 127.0.0.4:3868, Server-Name ``sip:scscf.<domain>:5060`` and Service-Route
``<sip:orig@HOST:PORT;lr>`` through our own advertised SIP address (TS 24.229 §5.4.1.2.2,
RFC 3608).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from ims_core.config import ConfigError
from ims_core.cscf import CscfConfig, DiameterClient, SipListen
from ims_core.proxy import ProxyConfig
from ims_core.sip import SipParseError, SipUri, parse_name_addr, parse_uri
from ims_core.sip.addressing import Destination


def hostport(text: str) -> tuple[str, int] | None:
    """``host:port`` (port 5060 when absent) or None when malformed."""
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = text.strip(), "5060"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


@dataclass(frozen=True, slots=True)
class RegistrarSettings:
    """Registration behaviour (RFC 3261 §10.3, TS 24.229 §5.4.1).

    ``min_expires``/``max_expires``/``default_expires``: bounds on a binding's lifetime
    (below the minimum → 423 with Min-Expires; above the maximum → clamped).
    ``nonce_lifetime``: seconds a challenge may be answered; afterwards the answer gets
    ``stale=true``. ``stale_window``: how long an expired challenge is remembered so it
    can be recognised as stale (then it is forgotten and treated as unknown).
    ``max_challenges_per_user``: pending challenges kept per IMPI (oldest dropped).
    Every REGISTER is authenticated: integrity-protected is not trusted (the lab has no
    IPsec, TS 33.203 §7).
    """

    min_expires: int = 60
    max_expires: int = 7200
    default_expires: int = 3600
    nonce_lifetime: float = 60.0
    stale_window: float = 300.0
    max_challenges_per_user: int = 8

    def __post_init__(self) -> None:
        if not 0 < self.min_expires <= self.default_expires <= self.max_expires:
            raise ConfigError("registrar: need 0 < min_expires <= default_expires <= max_expires")
        if self.nonce_lifetime <= 0 or self.stale_window < 0:
            raise ConfigError("registrar: nonce_lifetime must be > 0, stale_window >= 0")
        if self.max_challenges_per_user < 1:
            raise ConfigError("registrar: max_challenges_per_user must be >= 1")


@dataclass(frozen=True, slots=True)
class RegEventSettings:
    """The reg event package notifier (RFC 3680; RFC 6665 §4.2; TS 24.229 §5.4.2.1).

    ``min_expires``/``max_expires``: bounds on a subscription's lifetime (below the
    minimum → 423 with Min-Expires, RFC 6665 §4.2.1.1; above the maximum → shortened, never
    lengthened). ``default_expires``: the lifetime of a SUBSCRIBE without Expires (RFC 3680
    §4.4 says 3761 s). ``trusted_as``: hosts of Application Servers allowed to subscribe to
    any user's registration state (besides the hosts of the user's own iFC ServerNames,
    TS 24.229 §5.4.2.1.1). ``max_subscriptions``: subscriptions kept per registration
    (a SUBSCRIBE beyond that → 403), so no subscriber can grow the state without bound.
    """

    min_expires: int = 60
    max_expires: int = 600000
    default_expires: int = 3761
    trusted_as: tuple[str, ...] = ()
    max_subscriptions: int = 16

    def __post_init__(self) -> None:
        if not 0 < self.min_expires <= self.default_expires <= self.max_expires:
            raise ConfigError("regevent: need 0 < min_expires <= default_expires <= max_expires")
        if self.max_subscriptions < 1:
            raise ConfigError("regevent: max_subscriptions must be >= 1")
        for host in self.trusted_as:  # a host:port would silently never match
            if not host or host != host.strip() or (":" in host and not host.startswith("[")):
                raise ConfigError(f"regevent: trusted_as takes hosts ([v6] in brackets), "
                                  f"not {host!r}")


@dataclass(frozen=True, slots=True)
class ScscfConfig(CscfConfig):
    """``server_name``: our Server-Name in MAR/SAR (a full SIP URI; the I-CSCF routes to
    it; left out (empty): ``sip:scscf.<domain>:5060``). ``service_route``: the Service-Route
    value returned in the 200 OK (empty: ``<sip:orig@HOST:PORT;lr>``, our advertised SIP
    address).
    ``icscf``: ``host:port`` of the I-CSCF that originating requests for home users go to
    (TS 24.229 §5.4.3.2). ``static_routes``: domain → ``host:port`` for other domains
    (the domain is not looked up: one not listed is answered 404). A host in these may be
    a name, resolved when sending (A/AAAA, system resolver). ``regevent``: the reg event
    notifier (:class:`RegEventSettings`)."""

    node: ClassVar[str] = "scscf"

    sip: SipListen = field(default_factory=lambda: SipListen(host="127.0.0.3"))
    diameter: DiameterClient | None = field(default_factory=DiameterClient)
    server_name: str = ""
    service_route: str = ""
    record_route: bool = True
    registrar: RegistrarSettings = field(default_factory=RegistrarSettings)
    regevent: RegEventSettings = field(default_factory=RegEventSettings)
    icscf: str = "127.0.0.2:5060"
    static_routes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        CscfConfig.__post_init__(self)  # slots dataclass: no zero-argument super()
        if not self.server_name:  # frozen: derived once, here
            object.__setattr__(self, "server_name", f"sip:scscf.{self.domain}:5060")
        if not self.service_route:
            host = self.sip.public_host
            host = f"[{host}]" if ":" in host and not host.startswith("[") else host
            object.__setattr__(self, "service_route", f"<sip:orig@{host}:{self.sip.port};lr>")
        for where, value in (("icscf", self.icscf), *self.static_routes.items()):
            if value and hostport(value) is None:
                raise ConfigError(f"scscf: {where} must be host:port, not {value!r}")
        try:
            uri = parse_uri(self.server_name)
            parse_name_addr(self.service_route)
        except SipParseError as exc:
            raise ConfigError(f"scscf: bad server_name or service_route: {exc}") from None
        if not isinstance(uri, SipUri):
            raise ConfigError("scscf: server_name must be a sip: URI")

    def icscf_destination(self) -> Destination | None:
        hp = hostport(self.icscf) if self.icscf else None
        return Destination("", *hp) if hp is not None else None

    def static_route(self, domain: str) -> Destination | None:
        """The configured next hop for *domain* (case-insensitive), if any."""
        for name, value in self.static_routes.items():
            if name.lower() == domain.lower():
                hp = hostport(value)
                return Destination("", *hp) if hp is not None else None
        return None

    def scscf_proxy_config(self) -> ProxyConfig:
        """The proxy settings, with the Server-Name's host:port as an alias so a Route
        to it (as an I-CSCF may add, TS 24.229 §5.3.1.2) is recognised as ours."""
        base = self.proxy_config(record_route=self.record_route)
        uri = parse_uri(self.server_name)
        assert isinstance(uri, SipUri)
        alias = f"{uri.host}:{uri.port or 5060}"
        return replace(base, aliases=(*base.aliases, alias))
