"""The SA set of one sec-agree registration (TS 33.203 §7.1): four ESP transport SAs
and one policy for each, built by one rule that serves the UE and the P-CSCF alike —
each side passes itself as ``local`` and its peer as ``remote``.

Each side has a protected client port (port_c) and server port (port_s) and chose the
SPIs of its two inbound SAs: spi_c for the SA into its port_c, spi_s for the SA into its
port_s. For ``local`` and ``remote``:

=========  ===============================  ==============  =============================
direction  ports                            SPI             carries
=========  ===============================  ==============  =============================
in         remote.port_c -> local.port_s    local.spi_s     the peer's requests
out        local.port_s  -> remote.port_c   remote.spi_c    our responses to them
out        local.port_c  -> remote.port_s   remote.spi_s    our requests
in         remote.port_s -> local.port_c    local.spi_c     the responses to ours
=========  ===============================  ==============  =============================

Selectors name both addresses and both ports with protocol "any": UDP and TCP both ride
the same pairs (TS 33.203 §7.1).
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from ..sip.secagree import MAX_SPI, MIN_USABLE_SPI
from .algorithms import encryption, encryption_key, integrity, integrity_key

__all__ = [
    "Direction",
    "Endpoint",
    "Policy",
    "SaSet",
    "SecurityAssociation",
    "build_sa_set",
]


def _address(host: str) -> str:
    """``host`` as an IP address in its canonical text form (ValueError otherwise)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(f"not an IP address: {host!r}") from None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side's address, its protected ports and the SPIs it chose for its inbound
    SAs."""

    host: str
    port_c: int
    port_s: int
    spi_c: int
    spi_s: int

    def __post_init__(self) -> None:
        _address(self.host)
        for name in ("port_c", "port_s"):
            port = getattr(self, name)
            if not 1 <= port <= 0xFFFF:
                raise ValueError(f"{name} {port} is not a port (1..65535)")
        for name in ("spi_c", "spi_s"):
            spi = getattr(self, name)
            if not MIN_USABLE_SPI <= spi <= MAX_SPI:
                raise ValueError(f"{name} {spi} is not a usable SPI "
                                 f"({MIN_USABLE_SPI}..{MAX_SPI})")
        # Equal ports would give two SAs the same selector, equal SPIs two inbound SAs the
        # same identity (destination, SPI, ESP).
        if self.port_c == self.port_s:
            raise ValueError(f"port_c and port_s are both {self.port_c}")
        if self.spi_c == self.spi_s:
            raise ValueError(f"spi_c and spi_s are both {self.spi_c}")


class Direction(enum.Enum):
    IN = 0  # XFRM_POLICY_IN
    OUT = 1  # XFRM_POLICY_OUT


@dataclass(frozen=True, slots=True)
class SecurityAssociation:
    """One ESP SA in transport mode; its selector is (src, dst, sport, dport, any
    protocol). ``auth`` and ``enc`` are kernel algorithm names, the keys already expanded
    (TS 33.203 Annex I)."""

    src: str
    dst: str
    sport: int
    dport: int
    spi: int
    auth: str
    auth_key: bytes
    auth_trunc_bits: int
    enc: str
    enc_key: bytes


@dataclass(frozen=True, slots=True)
class Policy:
    """The policy that sends (OUT) or admits (IN) the traffic of one SA: selector
    (src, dst, sport, dport, any protocol), one ESP transport template with the SA's
    addresses and ``spi``."""

    src: str
    dst: str
    sport: int
    dport: int
    direction: Direction
    spi: int


@dataclass(frozen=True, slots=True)
class SaSet:
    """What one side installs for one registration: SAs before policies, removed in the
    reverse order."""

    sas: tuple[SecurityAssociation, ...]
    policies: tuple[Policy, ...]


def build_sa_set(local: Endpoint, remote: Endpoint, *, alg: str, ealg: str,
                 ck: bytes, ik: bytes) -> SaSet:
    """The four SAs and policies of TS 33.203 §7.1 as seen from ``local`` (the table in
    the module's docstring). Raises AlgorithmError for an unknown algorithm or a bad
    IK/CK, ValueError when the two addresses are not of one family."""
    auth, enc = integrity(alg), encryption(ealg)
    auth_key, enc_key = integrity_key(alg, ik), encryption_key(ealg, ck)
    here, there = _address(local.host), _address(remote.host)
    if ipaddress.ip_address(here).version != ipaddress.ip_address(there).version:
        raise ValueError(f"{here} and {there} are not of one address family")
    flows = (
        (there, here, remote.port_c, local.port_s, local.spi_s, Direction.IN),
        (here, there, local.port_s, remote.port_c, remote.spi_c, Direction.OUT),
        (here, there, local.port_c, remote.port_s, remote.spi_s, Direction.OUT),
        (there, here, remote.port_s, local.port_c, local.spi_c, Direction.IN),
    )
    sas = tuple(SecurityAssociation(src, dst, sport, dport, spi, auth.kernel, auth_key,
                                    auth.trunc_bits, enc.kernel, enc_key)
                for src, dst, sport, dport, spi, _ in flows)
    policies = tuple(Policy(src, dst, sport, dport, direction, spi)
                     for src, dst, sport, dport, spi, direction in flows)
    return SaSet(sas, policies)
