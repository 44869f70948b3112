"""The I-CSCF's settings (``config/icscf.toml``): the shared CSCF settings plus the
S-CSCF pool it selects from (TS 29.228 §6.7) and how it answers when the HSS fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ims_core.config import ConfigError
from ims_core.cscf import CscfConfig


@dataclass(frozen=True, slots=True)
class ScscfEntry:
    """One S-CSCF the I-CSCF may route to.

    ``name``: its Server-Name, the full SIP URI the HSS hands out (TS 29.228 §7.4).
    ``address``: ``host:port`` to send to, the host an IP address or a name (resolved when
    sending, A/AAAA); empty = the host and port of ``name``, which must then be an IP
    literal (a Server-Name is an identity: its host is not looked up). ``transport``:
    ``udp``/``tcp``, empty = as the request came in. ``capabilities``: the capability
    numbers it offers (TS 29.228 §6.7: operator-defined meanings, matched against
    Mandatory-/Optional-Capability).
    """

    name: str
    address: str = ""
    transport: str = ""
    capabilities: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.lower().startswith(("sip:", "sips:")):
            raise ConfigError(f"scscf.name must be a SIP URI, not {self.name!r}")
        if self.transport.lower() not in ("", "udp", "tcp"):
            raise ConfigError(f"scscf.transport must be udp or tcp, not {self.transport!r}")


@dataclass(frozen=True, slots=True)
class IcscfConfig(CscfConfig):
    """``scscf``: the pool (``[[scscf]]`` tables). ``hss_failure_status``: the SIP status
    for a REGISTER whose UAR got no usable answer (HSS unreachable, timeout, 3xxx/4xxx):
    480 as TS 24.229 §5.3.1.2 says, or 504 (Server Time-out) for operators who prefer it.
    ``lir_failure_status``: the same for an initial request whose LIR got no usable
    answer (TS 24.229 §5.3.2.1; 504 Server Time-out by default).
    ``uar_timeout``: seconds to wait for a UAA or LIA (0 = the Diameter
    request_timeout). ``scscf_timeout``: seconds an S-CSCF may leave a REGISTER
    unanswered before the next candidate is tried (TS 24.229 §5.3.1.3; 0 = Timer F)."""

    node: ClassVar[str] = "icscf"

    scscf: tuple[ScscfEntry, ...] = ()
    hss_failure_status: int = 480
    lir_failure_status: int = 504
    uar_timeout: float = 0.0
    scscf_timeout: float = 2.0

    def __post_init__(self) -> None:
        CscfConfig.__post_init__(self)  # slots dataclass: no zero-argument super()
        for name in ("hss_failure_status", "lir_failure_status"):
            if getattr(self, name) not in (480, 500, 503, 504):
                raise ConfigError(f"{name} must be one of 480, 500, 503, 504")
        for name in ("uar_timeout", "scscf_timeout"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")
