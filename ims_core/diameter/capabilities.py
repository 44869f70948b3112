"""Capabilities exchange contents (RFC 6733 §5.3) and the base DWR/DPR messages (§5.4, §5.5).

Builders for our CER/CEA/DWR/DWA/DPR/DPA, and :func:`read_capabilities` for the peer's CER or
CEA. Pure functions over :class:`DiameterConfig`; the state machine in :mod:`.peer` calls them.
:func:`decode_cer_without_host_ip` reads a CER that lacks Host-IP-Address (see there).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from .codec import check_required, decode
from .config import DiameterConfig
from .dictionary import BASE_APPLICATION_ID, DEFAULT, RELAY_APPLICATION_ID, Dictionary
from .errors import DiameterError, ResultCode
from .header import FLAG_R, parse_header
from .message import Message, make_answer

CER = 257
DWR = 280
DPR = 282


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a peer advertised in its CER or CEA."""

    origin_host: str
    origin_realm: str
    applications: frozenset[int]
    supported_vendor_ids: frozenset[int]
    product_name: str
    origin_state_id: int | None
    # Host-IP-Address values (RFC 6733 §5.3.1); for a CER that had none, the address the
    # connection came from (see DiameterConfig.require_host_ip_address).
    host_ip_addresses: tuple[str, ...] = ()


def _add_identity(msg: Message, cfg: DiameterConfig) -> None:
    msg.add("Origin-Host", cfg.origin_host)
    msg.add("Origin-Realm", cfg.origin_realm)


def add_capabilities(msg: Message, cfg: DiameterConfig, identity: bool = True) -> None:
    """Origin-Host/Realm (unless *identity* is False), Host-IP-Address, Vendor-Id,
    Product-Name, Origin-State-Id, applications and Firmware-Revision (§5.3.1)."""
    if identity:
        _add_identity(msg, cfg)
    for ip in cfg.host_ip_addresses:
        msg.add("Host-IP-Address", ip)
    msg.add("Vendor-Id", cfg.vendor_id)
    msg.add("Product-Name", cfg.product_name)
    msg.add("Origin-State-Id", cfg.origin_state_id)
    for vid in cfg.supported_vendor_ids:
        msg.add("Supported-Vendor-Id", vid)
    for app in cfg.auth_application_ids:
        msg.add("Auth-Application-Id", app)
    for vendor, app in cfg.vendor_specific_applications:
        msg.add("Vendor-Specific-Application-Id", {"Vendor-Id": vendor, "Auth-Application-Id": app})
    msg.add("Firmware-Revision", cfg.firmware_revision)


def build_cer(cfg: DiameterConfig, dictionary: Dictionary = DEFAULT) -> Message:
    msg = Message(CER, BASE_APPLICATION_ID, FLAG_R, dictionary=dictionary)
    add_capabilities(msg, cfg)
    return msg


def build_cea(
    cfg: DiameterConfig, cer: Message, result_code: int, error_message: str | None = None
) -> Message:
    """CEA (§5.3.2); the capability AVPs are required even in a failed CEA without E bit."""
    ans = make_answer(cer, result_code, error_message=error_message)
    if ans.is_error:
        _add_identity(ans, cfg)
    else:
        add_capabilities(ans, cfg)
    return ans


def build_dwr(cfg: DiameterConfig, dictionary: Dictionary = DEFAULT) -> Message:
    msg = Message(DWR, BASE_APPLICATION_ID, FLAG_R, dictionary=dictionary)
    _add_identity(msg, cfg)
    msg.add("Origin-State-Id", cfg.origin_state_id)
    return msg


def build_dwa(cfg: DiameterConfig, dwr: Message) -> Message:
    ans = make_answer(dwr, ResultCode.SUCCESS)
    _add_identity(ans, cfg)
    ans.add("Origin-State-Id", cfg.origin_state_id)
    return ans


def build_dpr(cfg: DiameterConfig, cause: int, dictionary: Dictionary = DEFAULT) -> Message:
    msg = Message(DPR, BASE_APPLICATION_ID, FLAG_R, dictionary=dictionary)
    _add_identity(msg, cfg)
    msg.add("Disconnect-Cause", cause)
    return msg


def build_dpa(cfg: DiameterConfig, dpr: Message) -> Message:
    ans = make_answer(dpr, ResultCode.SUCCESS)
    _add_identity(ans, cfg)
    return ans


def read_capabilities(msg: Message) -> Capabilities:
    """The peer's identity and applications from a (rule-checked) CER or CEA."""
    apps: set[int] = set()
    apps.update(msg.get_all("Auth-Application-Id"))
    apps.update(msg.get_all("Acct-Application-Id"))
    for g in msg.get_all("Vendor-Specific-Application-Id"):
        apps.update(g.get_all("Auth-Application-Id"))
        apps.update(g.get_all("Acct-Application-Id"))
    return Capabilities(
        origin_host=msg.get_str("Origin-Host") or "",
        origin_realm=msg.get_str("Origin-Realm") or "",
        applications=frozenset(apps),
        supported_vendor_ids=frozenset(msg.get_all("Supported-Vendor-Id")),
        product_name=msg.get_str("Product-Name") or "",
        origin_state_id=msg.get_int("Origin-State-Id"),
        host_ip_addresses=tuple(
            str(ip) for ip in msg.get_all("Host-IP-Address")
            if isinstance(ip, IPv4Address | IPv6Address)
        ),
    )


HOST_IP_ADDRESS = "Host-IP-Address"


def decode_cer_without_host_ip(frame: bytes, dictionary: Dictionary = DEFAULT) -> Message:
    """A CER held to every required AVP of RFC 6733 §5.3.1 except Host-IP-Address, for
    peers that leave it out (Kamailio 5.6's cdp does in many of its starts). Raises
    :class:`DiameterError` with ``header`` set, as :func:`decode` does."""
    msg = decode(frame, dictionary, check_rules=False)
    cer = dictionary.command(CER)
    rules = cer.request_rules if cer is not None else ()
    try:
        check_required(msg, tuple(r for r in rules if r != HOST_IP_ADDRESS))
    except DiameterError as err:
        err.header = parse_header(frame)
        raise
    return msg


def common_applications(local: frozenset[int], remote: frozenset[int]) -> frozenset[int]:
    """Applications both sides support; a relay (0xffffffff) on either side supports all."""
    if RELAY_APPLICATION_ID in remote:
        return local
    if RELAY_APPLICATION_ID in local:
        return remote
    return local & remote
