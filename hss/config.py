"""The HSS configuration (``config/hss.toml``), as typed dataclasses.

The home domain is ``cx.domain`` (or the top-level ``domain``, which sets it). Identities
left out of the config are derived from it: Origin-Host ``hss.<domain>``, realm
``<domain>``, the accepted peers ``icscf.<domain>`` and ``scscf.<domain>``, the Server-Name
``sip:scscf.<domain>:5060`` in Server-Capabilities. A value written is kept as written.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from pathlib import Path

from hss.provision import DEMO_FIRST_IMSI
from ims_core.config import ConfigError, LogConfig, from_dict, load, with_overrides
from ims_core.hep.config import HepConfig
from ims_core.metrics.config import MetricsConfig

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
DEFAULT_CONFIG = Path("config/hss.toml")


class _FromDomain(tuple[str, ...]):
    """The default of a list of names left out of the config, which :class:`HssConfig`
    derives from its domain. Told apart by identity: an empty list written in a config
    means "none" or "any" and is never taken for it, and readers still get a tuple."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "FROM_DOMAIN"


FROM_DOMAIN: tuple[str, ...] = _FromDomain()


@dataclasses.dataclass(frozen=True, slots=True)
class DiameterConfig:
    """The Diameter node: listen address, identity and the peers allowed to connect.
    Left out, ``origin_host``, ``origin_realm`` and ``peers`` are derived from the domain
    (see the module doc) when :class:`HssConfig` is built."""

    listen_host: str = "127.0.0.4"
    listen_port: int = 3868
    origin_host: str = ""
    origin_realm: str = ""
    # Origin-Host values accepted in CER (RFC 6733 §5.3); others get 3010 UNKNOWN_PEER.
    # Empty: any peer.
    peers: tuple[str, ...] = FROM_DOMAIN
    watchdog_seconds: float = 30.0
    request_timeout: float = 5.0
    # RFC 6733 §5.3.1 makes Host-IP-Address mandatory in CER. false: a CER without it is
    # accepted with a warning (the connection's address stands in; Kamailio 5.6's cdp
    # leaves it out in many of its starts); true: it is answered 5005 MISSING_AVP.
    require_host_ip_address: bool = False
    # Our CER/CEA Host-IP-Address (RFC 6733 §5.3.1); empty: listen_host, which must then
    # be an IP address other than the wildcard.
    host_ip: str = ""

    def advertised_ip(self) -> str:
        """The Host-IP-Address we send: ``host_ip``, else ``listen_host``."""
        text = self.host_ip or self.listen_host
        try:
            ip = ipaddress.ip_address(text.strip("[]"))
        except ValueError:
            ip = None
        if ip is None or ip.is_unspecified:
            raise ConfigError(f"diameter.host_ip is needed: {text!r} is not an address to "
                              "advertise in Host-IP-Address")
        return str(ip)


@dataclasses.dataclass(frozen=True, slots=True)
class StoreConfig:
    """``backend`` is ``sqlite`` (``path``, relative to ``data_dir``) or ``postgres`` (``dsn``)."""

    backend: str = "sqlite"
    path: str = "hss.sqlite"
    dsn: str = ""
    # SQLite PRAGMA synchronous: "normal" survives process crashes; "full" also power loss
    # (one fsync per SQN update, so far fewer MAR/s).
    synchronous: str = "normal"

    def __post_init__(self) -> None:
        if self.backend not in ("sqlite", "postgres"):
            raise ConfigError(f"store.backend must be 'sqlite' or 'postgres', not {self.backend!r}")
        if self.synchronous not in ("normal", "full"):
            raise ConfigError("store.synchronous must be 'normal' or 'full'")
        if self.backend == "postgres" and not self.dsn:
            raise ConfigError("store.dsn is required with backend 'postgres'")

    def sqlite_path(self, data_dir: str | Path) -> Path:
        """The SQLite file: ``path``, relative to ``data_dir`` unless absolute."""
        path = Path(self.path)
        return path if path.is_absolute() else Path(data_dir) / path


@dataclasses.dataclass(frozen=True, slots=True)
class CapabilitiesConfig:
    """Server-Capabilities for UAA/LIA when no S-CSCF is assigned (TS 29.228 §6.7)."""

    mandatory: tuple[int, ...] = ()
    optional: tuple[int, ...] = ()
    # Full SIP URIs; left out: derived from the domain by HssConfig. With all three empty
    # the AVP is sent empty (I-CSCFs need one of Server-Name / Server-Capabilities;
    # Wireshark flags an empty group as a warning).
    server_names: tuple[str, ...] = FROM_DOMAIN


@dataclasses.dataclass(frozen=True, slots=True)
class CxConfig:
    """Cx behaviour: home domain, vectors per MAR, SQN layout, interop switches."""

    domain: str = DOMAIN
    max_vectors: int = 5  # cap on SIP-Number-Auth-Items per MAR
    ind_bits: int = 5  # TS 33.102 C.1.1: SQN = SEQ ‖ IND
    # SIPp 3.6.1 hashes RES with strlen(): draw another RAND while XRES has a 0x00 octet.
    avoid_res_zero_octet: bool = False
    # Visited-Network-Identifier values allowed in UAR; empty means any (TS 29.228 §6.1.1.1).
    allowed_visited_networks: tuple[str, ...] = ()
    capabilities: CapabilitiesConfig = dataclasses.field(default_factory=CapabilitiesConfig)

    def __post_init__(self) -> None:
        if not 1 <= self.max_vectors <= 32:
            raise ConfigError("cx.max_vectors must be 1..32")
        if not 0 <= self.ind_bits <= 10:
            raise ConfigError("cx.ind_bits must be 0..10")


@dataclasses.dataclass(frozen=True, slots=True)
class PushConfig:
    """The outbox of RTR/PPR that ``ims-core subscriber deregister|update|delete`` queue and
    the running HSS sends (TS 29.229 §6.1.9, §6.1.11)."""

    poll_seconds: float = 0.2  # how often the HSS looks for queued requests
    batch: int = 32  # the most it takes per look
    answer_timeout: float = 3.0  # RTA/PPA wait; below the CLI's default --wait of 5 s
    keep_seconds: float = 86_400.0  # finished entries are deleted after this long

    def __post_init__(self) -> None:
        if not 0.01 <= self.poll_seconds <= 60:
            raise ConfigError("push.poll_seconds must be 0.01..60")
        if not 1 <= self.batch <= 1000:
            raise ConfigError("push.batch must be 1..1000")
        if not 0 < self.answer_timeout <= 300:
            raise ConfigError("push.answer_timeout must be > 0 and <= 300")
        if self.keep_seconds < 0:
            raise ConfigError("push.keep_seconds must be >= 0")


@dataclasses.dataclass(frozen=True, slots=True)
class SeedConfig:
    """``count`` demo subscribers (as ``ims-core subscriber seed``) put into the store at
    start when it holds none; 0: none."""

    count: int = 0
    first: str = DEMO_FIRST_IMSI

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ConfigError("seed.count must be >= 0")
        if not (self.first.isdigit() and 6 <= len(self.first) <= 15):
            raise ConfigError(f"seed.first {self.first!r} is not an IMSI (6-15 digits)")


@dataclasses.dataclass(frozen=True, slots=True)
class ApiConfig:
    """The provisioning REST API (``ims-core hss-api``), a process of its own on the same
    store. Loopback by default: it changes credentials. ``api_key`` empty: a key is
    generated at its first start into ``<data_dir>/api-key`` (mode 0600) and used from
    there; every ``/api/v1`` request must carry it in ``X-API-Key``."""

    host: str = "127.0.0.1"
    port: int = 8080
    api_key: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"api.port must be 0-65535, not {self.port}")
        key = self.api_key
        if key and (len(key) < 16 or not (key.isascii() and key.isprintable())
                    or key != key.strip()):
            raise ConfigError("api.api_key must be at least 16 printable ASCII characters "
                              "without surrounding spaces (or empty: one is generated)")


@dataclasses.dataclass(frozen=True, slots=True)
class HssConfig:
    """``domain``: the home domain; when set it is also ``cx.domain`` (see the module doc)."""

    data_dir: str = "data"
    workers: int = 4  # store threads: the event loop never touches the database
    domain: str = ""
    diameter: DiameterConfig = dataclasses.field(default_factory=DiameterConfig)
    store: StoreConfig = dataclasses.field(default_factory=StoreConfig)
    cx: CxConfig = dataclasses.field(default_factory=CxConfig)
    push: PushConfig = dataclasses.field(default_factory=PushConfig)
    seed: SeedConfig = dataclasses.field(default_factory=SeedConfig)
    log: LogConfig = dataclasses.field(default_factory=LogConfig)
    metrics: MetricsConfig = dataclasses.field(default_factory=MetricsConfig)
    hep: HepConfig = dataclasses.field(default_factory=HepConfig)
    api: ApiConfig = dataclasses.field(default_factory=ApiConfig)

    def __post_init__(self) -> None:
        cx = self.cx
        home = self.domain or cx.domain
        if self.domain and cx.domain not in (DOMAIN, self.domain):
            raise ConfigError(f"domain {self.domain!r} and cx.domain {cx.domain!r} differ: "
                              "set one of them")
        d = self.diameter
        d.advertised_ip()  # checked at load
        diameter = dataclasses.replace(
            d, origin_host=d.origin_host or f"hss.{home}", origin_realm=d.origin_realm or home,
            peers=(f"icscf.{home}", f"scscf.{home}") if d.peers is FROM_DOMAIN else d.peers)
        caps = cx.capabilities
        cx = dataclasses.replace(cx, domain=home, capabilities=dataclasses.replace(
            caps, server_names=((f"sip:scscf.{home}:5060",) if caps.server_names is FROM_DOMAIN
                                else caps.server_names)))
        # frozen: the derived identities are completed once, here
        object.__setattr__(self, "domain", home)
        if diameter != self.diameter:
            object.__setattr__(self, "diameter", diameter)
        if cx != self.cx:
            object.__setattr__(self, "cx", cx)


def load_config(path: str | Path | None = None, *, overrides: Sequence[str] = (),
                environ: Mapping[str, str] | None = None) -> HssConfig:
    """Load ``path`` with the ``IMS_CORE__*`` variables of ``environ`` and ``overrides``
    (``--set``) applied; the default ``config/hss.toml`` falls back to built-in
    defaults."""
    p = Path(path) if path is not None else DEFAULT_CONFIG
    if path is None and not p.exists():
        return from_dict(HssConfig, with_overrides(HssConfig, {}, overrides, environ))
    return load(HssConfig, p, overrides=overrides, environ=environ)
