"""Local Diameter node settings (RFC 6733 §5.3 capabilities, RFC 3539 watchdog, timers).

A frozen dataclass, loadable from TOML with :func:`ims_core.config.from_dict` (all fields are
plain types). Times are in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dictionary import CX_APPLICATION_ID, VENDOR_3GPP


@dataclass(frozen=True, slots=True)
class DiameterConfig:
    """Who we are and how we treat peers.

    ``allowed_peers``: Origin-Host values accepted in CER (empty: any peer). ``watchdog_jitter``
    spreads Tw by up to ± that many seconds (RFC 3539 §3.4.1 wants jitter; tests set 0).
    ``reconnect_min``/``reconnect_max`` bound the initiator's exponential backoff (Tc).
    ``require_host_ip_address``: answer a CER without Host-IP-Address 5005
    DIAMETER_MISSING_AVP and close, as RFC 6733 §5.3.1 allows. Off by default: such a CER
    (Kamailio 5.6's cdp sends one in a third to a half of its starts) is accepted with a
    warning, the connection's address standing in for the missing AVP; refusing it makes
    that peer wait 30 s before it tries again. ``source_address``: the local address our
    connections to peers are made from (empty: the one the system picks); set it to the
    advertised Host-IP-Address so the peer sees the connection come from it.
    """

    origin_host: str
    origin_realm: str
    host_ip_addresses: tuple[str, ...] = ("127.0.0.1",)
    product_name: str = "ims-core"
    vendor_id: int = 0
    firmware_revision: int = 1
    origin_state_id: int = 0
    # Advertised applications (RFC 6733 §6.11; Cx as {10415, 16777216}, TS 29.229 §5.6).
    vendor_specific_applications: tuple[tuple[int, int], ...] = ((VENDOR_3GPP, CX_APPLICATION_ID),)
    auth_application_ids: tuple[int, ...] = ()
    supported_vendor_ids: tuple[int, ...] = (VENDOR_3GPP,)
    allowed_peers: tuple[str, ...] = ()
    require_host_ip_address: bool = False
    source_address: str = ""
    # Timers.
    watchdog_interval: float = 30.0  # Tw (RFC 3539 §3.4.1: default 30 s, minimum 6 s)
    watchdog_jitter: float = 2.0
    cer_timeout: float = 10.0  # waiting for CER (responder) or CEA (initiator)
    dpa_timeout: float = 5.0
    request_timeout: float = 5.0
    reconnect_min: float = 1.0
    reconnect_max: float = 30.0
    max_message_length: int = 1 << 20

    @property
    def applications(self) -> frozenset[int]:
        """The application ids we support (auth, plain or vendor-specific)."""
        return frozenset(self.auth_application_ids) | {
            a for _, a in self.vendor_specific_applications
        }

    def allows(self, origin_host: str) -> bool:
        return not self.allowed_peers or origin_host.lower() in {
            p.lower() for p in self.allowed_peers
        }
