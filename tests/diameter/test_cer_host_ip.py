"""A CER without Host-IP-Address (RFC 6733 §5.3.1 makes it mandatory; Kamailio 5.6's cdp
leaves it out in many of its starts): accepted with a warning and the connection's address
by default, refused 5005 DIAMETER_MISSING_AVP in strict mode. Sans-I/O, fake clock."""

from __future__ import annotations

import random
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from ims_core.diameter import (
    CX_APPLICATION_ID,
    VENDOR_3GPP,
    DiameterConfig,
    Message,
    Peer,
    ResultCode,
    Role,
    State,
    decode,
    events,
)
from ims_core.diameter.capabilities import build_cer, build_dwr
from ims_core.diameter.ids import EndToEnd

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
HSS = f"hss.{DOMAIN}"
SCSCF = f"scscf.{DOMAIN}"
NOW = 100.0
HOST_IP_ADDRESS = 257
VENDOR_ID = 266


def hss_peer(*, strict: bool = False, remote: str | None = "192.0.2.7") -> Peer:
    cfg = DiameterConfig(HSS, DOMAIN, watchdog_jitter=0.0, require_host_ip_address=strict)
    peer = Peer(cfg, Role.RESPONDER, end_to_end=EndToEnd(1.0), rng=random.Random(7))
    peer.connection_made(NOW, remote)
    return peer


def cer(*, host_ips: tuple[str, ...] = ()) -> Message:
    """The CER a client sends; with no addresses configured it has no Host-IP-Address."""
    msg = build_cer(DiameterConfig(SCSCF, DOMAIN, host_ip_addresses=host_ips))
    msg.hop_by_hop, msg.end_to_end = 0x1234, 0x5678
    return msg


def drain(peer: Peer) -> list[events.Event]:
    out = []
    while (ev := peer.next_event()) is not None:
        out.append(ev)
    return out


def exchange(peer: Peer, data: bytes) -> tuple[Message, list[events.Event]]:
    peer.receive_data(data, NOW)
    return decode(peer.data_to_send()), drain(peer)


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    with capture_logs() as captured:
        yield captured


def test_the_cer_really_lacks_host_ip_address() -> None:
    assert cer().find_code(HOST_IP_ADDRESS) is None
    assert cer(host_ips=("10.0.0.1",)).find_code(HOST_IP_ADDRESS) is not None


def test_accepted_with_the_connection_address_and_a_warning(
    logs: list[MutableMapping[str, Any]],
) -> None:
    peer = hss_peer()
    cea, evs = exchange(peer, cer().encode())
    assert cea.name == "CEA" and cea.result_code == ResultCode.SUCCESS
    assert cea.hop_by_hop == 0x1234 and cea.end_to_end == 0x5678
    assert peer.state is State.OPEN and peer.is_usable
    assert peer.assumed_host_ip == "192.0.2.7"
    assert peer.capabilities is not None
    assert peer.capabilities.origin_host == SCSCF
    assert peer.capabilities.host_ip_addresses == ("192.0.2.7",)
    [up] = [e for e in evs if isinstance(e, events.PeerUp)]
    assert isinstance(up, events.PeerUp)
    assert up.capabilities.host_ip_addresses == ("192.0.2.7",)
    assert up.applications == {CX_APPLICATION_ID}
    assert not [e for e in evs if isinstance(e, events.CloseRequested)]
    [warning] = [e for e in logs if e["event"] == "diameter_cer_without_host_ip"]
    assert warning["log_level"] == "warning"
    assert (warning["peer"], warning["assumed_address"]) == (SCSCF, "192.0.2.7")


def test_the_open_peer_then_works_as_any_other() -> None:
    peer = hss_peer()
    exchange(peer, cer().encode())
    dwr = build_dwr(DiameterConfig(SCSCF, DOMAIN))
    dwr.hop_by_hop, dwr.end_to_end = 0x99, 0x98
    dwa, _ = exchange(peer, dwr.encode())
    assert dwa.name == "DWA" and dwa.result_code == ResultCode.SUCCESS
    # A second CER in R-Open (RFC 6733 §5.6) is answered the same way.
    again, evs = exchange(peer, cer().encode())
    assert again.name == "CEA" and again.result_code == ResultCode.SUCCESS
    assert peer.state is State.OPEN and evs == []


def test_without_a_known_address_the_cer_is_still_accepted(
    logs: list[MutableMapping[str, Any]],
) -> None:
    peer = hss_peer(remote=None)
    cea, _ = exchange(peer, cer().encode())
    assert cea.result_code == ResultCode.SUCCESS and peer.state is State.OPEN
    assert peer.capabilities is not None and peer.capabilities.host_ip_addresses == ()
    assert peer.assumed_host_ip is None
    [warning] = [e for e in logs if e["event"] == "diameter_cer_without_host_ip"]
    assert warning["assumed_address"] == "unknown"


def test_a_cer_with_host_ip_address_assumes_nothing(logs: list[MutableMapping[str, Any]]) -> None:
    peer = hss_peer()
    cea, _ = exchange(peer, cer(host_ips=("10.0.0.1", "10.0.0.2")).encode())
    assert cea.result_code == ResultCode.SUCCESS
    assert peer.capabilities is not None
    assert peer.capabilities.host_ip_addresses == ("10.0.0.1", "10.0.0.2")
    assert peer.assumed_host_ip is None
    assert not [e for e in logs if e["event"] == "diameter_cer_without_host_ip"]


def test_strict_mode_answers_5005_and_closes() -> None:
    peer = hss_peer(strict=True)
    cea, evs = exchange(peer, cer().encode())
    assert cea.name == "CEA" and cea.result_code == ResultCode.MISSING_AVP
    assert not cea.is_error  # a permanent failure (RFC 6733 §7.1.5): no E bit
    failed = cea.get_grouped("Failed-AVP")
    assert failed is not None and failed.find_code(HOST_IP_ADDRESS) is not None
    assert peer.state is State.CLOSED and peer.capabilities is None
    assert [e for e in evs if isinstance(e, events.CloseRequested)]
    assert not [e for e in evs if isinstance(e, events.PeerUp)]


def test_other_missing_avps_are_still_refused() -> None:
    # Host-IP-Address and Vendor-Id both missing: the lenient read names Vendor-Id.
    msg = cer()
    msg.avps = [a for a in msg.avps if a.code != VENDOR_ID]
    peer = hss_peer()
    cea, evs = exchange(peer, msg.encode())
    assert cea.result_code == ResultCode.MISSING_AVP
    failed = cea.get_grouped("Failed-AVP")
    assert failed is not None and failed.find_code(VENDOR_ID) is not None
    assert peer.state is State.CLOSED
    assert [e for e in evs if isinstance(e, events.CloseRequested)]


def test_unknown_peers_are_refused_whatever_the_host_ip(
    logs: list[MutableMapping[str, Any]],
) -> None:
    cfg = DiameterConfig(HSS, DOMAIN, allowed_peers=(f"icscf.{DOMAIN}",))
    peer = Peer(cfg, Role.RESPONDER, end_to_end=EndToEnd(1.0), rng=random.Random(7))
    peer.connection_made(NOW, "192.0.2.7")
    cea, _ = exchange(peer, cer().encode())
    assert cea.result_code == ResultCode.UNKNOWN_PEER and peer.state is State.CLOSED
    assert peer.assumed_host_ip is None  # refused before anything was assumed
    assert not [e for e in logs if e["event"] == "diameter_cer_without_host_ip"]


def test_vendor_specific_cx_is_advertised_in_the_cea() -> None:
    cea, _ = exchange(hss_peer(), cer().encode())
    vsai = cea.get_grouped("Vendor-Specific-Application-Id")
    assert vsai is not None and vsai.get_int("Vendor-Id") == VENDOR_3GPP


REQUIRED_BUT_HOST_IP = {264, 296, VENDOR_ID, 269}  # Origin-Host/-Realm, Vendor-Id, Product-Name
VENDOR_SPECIFIC_APPLICATION_ID = 260


@settings(max_examples=150, deadline=None)
@given(keep=st.lists(st.booleans(), min_size=16, max_size=16), strict=st.booleans())
def test_any_subset_of_a_cer_gets_a_cea_and_never_raises(keep: list[bool],
                                                         strict: bool) -> None:
    msg = cer(host_ips=("10.0.0.1",))
    msg.avps = [a for a, k in zip(msg.avps, keep, strict=False) if k]
    codes = {a.code for a in msg.avps}
    peer = hss_peer(strict=strict)
    cea, _ = exchange(peer, msg.encode())
    assert cea.name == "CEA"
    complete = codes >= REQUIRED_BUT_HOST_IP and (HOST_IP_ADDRESS in codes or not strict)
    accepted = complete and VENDOR_SPECIFIC_APPLICATION_ID in codes  # Cx is all we share
    assert (cea.result_code == ResultCode.SUCCESS) is accepted
    assert (peer.state is State.OPEN) is accepted
    if not complete:
        assert cea.result_code == ResultCode.MISSING_AVP
    elif not accepted:
        assert cea.result_code == ResultCode.NO_COMMON_APPLICATION
