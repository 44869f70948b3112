"""The S-CSCF pool: how Server-Names compare and where they lead (no DNS)."""

from __future__ import annotations

import pytest

from ims_core.icscf import ScscfEntry, ScscfPool, pool
from ims_core.icscf.pool import name_key, server_destination
from ims_core.sip.addressing import Destination


@pytest.mark.parametrize(("a", "b"), [
    ("sip:scscf.example.net:5060", "sip:scscf.example.net"),  # absent port reads 5060
    ("sip:scscf.example.net:5060", "SIP:SCSCF.Example.NET:5060;transport=tcp"),
    ("sips:scscf.example.net", "sips:scscf.example.net:5061"),
    ("sip:[2001:db8::1]:5060", "sip:[2001:DB8:0::1]"),
    (" sip:scscf.example.net ", "sip:scscf.example.net"),
])
def test_names_of_the_same_server(a: str, b: str) -> None:
    assert name_key(a) is not None and name_key(a) == name_key(b)


@pytest.mark.parametrize(("a", "b"), [
    ("sip:scscf.example.net:5070", "sip:scscf.example.net"),
    ("sip:scscf.example.net", "sips:scscf.example.net"),
    ("sip:scscf@scscf.example.net", "sip:scscf.example.net"),
    ("sip:scscf1.example.net", "sip:scscf2.example.net"),
])
def test_names_of_different_servers(a: str, b: str) -> None:
    assert name_key(a) != name_key(b)


@pytest.mark.parametrize("name", ["tel:+15550000001", "scscf.example.net", "sip:", ""])
def test_no_sip_uri_no_key(name: str) -> None:
    assert name_key(name) is None
    assert server_destination(name) is None


@pytest.mark.parametrize(("name", "transport", "expected"), [
    ("sip:127.0.0.3", "", Destination("", "127.0.0.3", 5060)),
    ("sip:127.0.0.3:5070;transport=tcp", "udp", Destination("TCP", "127.0.0.3", 5070)),
    ("sip:127.0.0.3", "tcp", Destination("TCP", "127.0.0.3", 5060)),
    ("sip:[::1]:5062", "", Destination("", "[::1]", 5062)),
    # maddr wins over the host (RFC 3263 §4 via the shared addressing rules).
    ("sip:scscf.example.net;maddr=127.0.0.7", "", Destination("", "127.0.0.7", 5060)),
])
def test_server_destination_of_ip_literals(name: str, transport: str,
                                           expected: Destination) -> None:
    assert server_destination(name, transport) == expected


def test_a_host_name_needs_dns_so_it_has_no_destination() -> None:
    assert server_destination("sip:scscf.example.net:5060") is None


def test_pool_resolves_by_key_and_falls_back_to_ip_literals() -> None:
    pool = ScscfPool((
        ScscfEntry("sip:scscf.example.net", "127.0.0.3:5080", "tcp"),
        ScscfEntry("sip:127.0.0.5:5090;transport=udp"),
    ))
    assert pool.resolve("sip:SCSCF.example.net:5060") == Destination("TCP", "127.0.0.3", 5080)
    assert pool.resolve("sip:127.0.0.5:5090") == Destination("UDP", "127.0.0.5", 5090)
    assert pool.resolve("sip:127.0.0.6") == Destination("", "127.0.0.6", 5060)
    assert pool.resolve("sip:scscf.other.net") is None
    entry = pool.lookup("sip:scscf.example.net:5060;lr")
    assert entry is not None and entry.address == "127.0.0.3:5080"


def test_a_pool_entry_without_any_address_is_refused() -> None:
    with pytest.raises(ValueError, match="no usable address"):
        ScscfPool((ScscfEntry("sip:scscf.example.net"),))


def test_name_keys_are_kept_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert name_key("sip:SCSCF.example") == name_key("sip:scscf.example:5060")
    assert name_key("tel:+1") is None and pool._NAME_KEYS["tel:+1"] is None  # kept too
    monkeypatch.setattr(pool, "_NAME_KEYS_MAX", 20)
    for i in range(pool._NAME_KEYS_MAX + 5):
        assert name_key(f"sip:s{i}.example") == f"sip:s{i}.example:5060"
    assert len(pool._NAME_KEYS) <= pool._NAME_KEYS_MAX
