"""CscfConfig: loading from TOML and the derived proxy/transport/timer/Diameter settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from ims_core.config import ConfigError, from_dict, load
from ims_core.cscf import DOMAIN, CscfConfig, CscfCore
from ims_core.cscf.server import transport_config
from ims_core.icscf.config import IcscfConfig
from ims_core.pcscf.config import PcscfConfig
from ims_core.scscf.config import ScscfConfig

REPO = Path(__file__).resolve().parents[2]
OTHER = "ims.mnc070.mcc999.3gppnetwork.org"


def test_defaults_and_derived_configs(tmp_path: Path) -> None:
    p = tmp_path / "n.toml"
    p.write_text('t1 = 0.25\n[sip]\nhost = "127.0.0.9"\nport = 5070\nadvertise = "10.1.1.1"\n'
                 '[diameter]\norigin_host = "x.example"\nhss_port = 3999\n')
    cfg = load(CscfConfig, p)
    assert cfg.domain == DOMAIN
    proxy = cfg.proxy_config(record_route=True)
    assert (proxy.host, proxy.port, proxy.record_route) == ("10.1.1.1", 5070, True)
    assert ("127.0.0.9", 5070) in proxy.names and ("10.1.1.1", 5070) in proxy.names
    assert (transport_config(cfg).host, transport_config(cfg).port) == ("127.0.0.9", 5070)
    assert cfg.timer_config().t1 == 0.25
    d = cfg.diameter_config()
    assert d is not None and d.origin_host == "x.example" and d.origin_realm == DOMAIN
    assert d.host_ip_addresses == ("127.0.0.9",)
    assert CscfConfig().diameter_config() is None


def test_unknown_keys_are_reported(tmp_path: Path) -> None:
    p = tmp_path / "n.toml"
    p.write_text("[sip]\nhots = \"x\"\n")
    with pytest.raises(ConfigError, match="hots"):
        load(CscfConfig, p)


def test_cx_request_has_our_identity_and_cx_boilerplate() -> None:
    cfg = load_cfg()
    core: CscfCore[None] = CscfCore(cfg.proxy_config(), cfg.diameter)
    req = core.cx_request("MAR", {"User-Name": "u@" + DOMAIN})
    assert req.origin_host == "cscf.test" and req.origin_realm == DOMAIN
    assert req.get_str("Destination-Realm") == DOMAIN and req.get_str("User-Name")
    assert req.get_int("Auth-Session-State") == 1 and req.session_id
    core.query(req, lambda outcome, now: None, ctx=None, now=10.0, timeout=1.5)
    [q] = core.queries_to_send()
    assert q.request is req and q.timeout == 1.5 and q.deadline == 11.5
    assert core.queries_to_send() == []


def load_cfg() -> CscfConfig:
    from ims_core.cscf import DiameterClient

    return CscfConfig(diameter=DiameterClient(origin_host="cscf.test"))


def test_diameter_identity_follows_the_domain(tmp_path: Path) -> None:
    p = tmp_path / "n.toml"
    p.write_text('[sip]\nhost = "10.1.1.3"\n[diameter]\nhss_host = "10.1.1.4"\n')
    env = {"IMS_CORE__DOMAIN": "ims.example.org"}
    for cls, node in ((ScscfConfig, "scscf"), (IcscfConfig, "icscf"), (CscfConfig, "cscf")):
        cfg = load(cls, p, environ=env)
        assert cfg.diameter is not None
        assert (cfg.diameter.origin_host, cfg.diameter.origin_realm) == (
            f"{node}.ims.example.org", "ims.example.org")
    # Left out, the lab's: <node>.<lab domain>. Given, kept.
    cfg = load(ScscfConfig, p)
    assert cfg.diameter is not None and cfg.diameter.origin_host == f"scscf.{DOMAIN}"
    cfg = load(ScscfConfig, p, environ=env, overrides=[
        "diameter.origin_host=s1.example.net", "diameter.origin_realm=example.net"])
    assert cfg.diameter is not None
    assert (cfg.diameter.origin_host, cfg.diameter.origin_realm) == (
        "s1.example.net", "example.net")


def test_scscf_names_follow_the_domain_and_its_sip_address(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text('[sip]\nhost = "172.22.0.30"\nport = 5070\n')
    cfg = load(ScscfConfig, p, environ={"IMS_CORE__DOMAIN": "ims.example.org"})
    assert cfg.server_name == "sip:scscf.ims.example.org:5060"
    assert cfg.service_route == "<sip:orig@172.22.0.30:5070;lr>"
    cfg = load(ScscfConfig, p, overrides=["sip.advertise=scscf.example.org",
                                          "service_route=<sip:orig@x.example;lr>"])
    assert cfg.service_route == "<sip:orig@x.example;lr>" and cfg.server_name.endswith(
        f"scscf.{DOMAIN}:5060")
    v6 = load(ScscfConfig, p, overrides=["sip.host=::1"])
    assert v6.service_route == "<sip:orig@[::1]:5070;lr>"


def test_visited_network_follows_the_domain(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text('[home_networks]\n"ims.example.org" = "172.22.0.20:5060"\n')
    cfg = load(PcscfConfig, p, environ={"IMS_CORE__DOMAIN": "ims.example.org"})
    assert cfg.visited_network_id == "ims.example.org"
    assert load(PcscfConfig, p).visited_network_id == DOMAIN


@pytest.mark.parametrize(
    ("sip", "host_ip", "expected"),
    [
        ('host = "172.22.0.30"', "", "172.22.0.30"),
        ('host = "172.22.0.30"\nadvertise = "10.9.9.9"', "", "172.22.0.30"),
        ('host = "0.0.0.0"\nadvertise = "10.9.9.9"', "", "10.9.9.9"),
        ('host = "0.0.0.0"', "172.22.0.31", "172.22.0.31"),
        ('host = "::"\nadvertise = "[2001:db8::1]"', "", "2001:db8::1"),
    ],
)
def test_the_diameter_client_binds_the_address_it_advertises(
        tmp_path: Path, sip: str, host_ip: str, expected: str) -> None:
    p = tmp_path / "n.toml"
    extra = f'host_ip = "{host_ip}"\n' if host_ip else ""
    p.write_text(f"[sip]\n{sip}\n[diameter]\n{extra}")
    d = load(CscfConfig, p).diameter_config()
    assert d is not None
    assert d.host_ip_addresses == (expected,) and d.source_address == expected


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[sip]\nhost = "0.0.0.0"\n[diameter]\n', "diameter.host_ip is needed"),
        ('[sip]\nhost = "scscf.example"\n[diameter]\n', "diameter.host_ip is needed"),
        ('[diameter]\nhost_ip = "scscf.example"\n', "diameter.host_ip must be an IP"),
    ],
)
def test_no_address_to_connect_from_is_a_config_error(tmp_path: Path, toml: str,
                                                      message: str) -> None:
    p = tmp_path / "n.toml"
    p.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load(CscfConfig, p)
    p.write_text(toml.replace("[diameter]\n", "").replace('host_ip = "scscf.example"\n', ""))
    load(CscfConfig, p)  # without Diameter nothing connects: no address needed


@pytest.mark.parametrize("domain", [DOMAIN, OTHER])
def test_identities_left_out_are_derived_from_the_domain(domain: str) -> None:
    scscf = from_dict(ScscfConfig, {"domain": domain})
    assert scscf.server_name == f"sip:scscf.{domain}:5060"
    assert scscf.diameter is not None
    assert (scscf.diameter.origin_host, scscf.diameter.origin_realm) == (
        f"scscf.{domain}", domain)
    icscf = from_dict(IcscfConfig, {"domain": domain, "diameter": {}})
    assert icscf.diameter is not None and icscf.diameter.origin_realm == domain
    pcscf = from_dict(PcscfConfig, {"domain": domain})
    assert pcscf.visited_network_id == domain


def test_identities_written_are_kept_even_the_lab_ones() -> None:
    """A value written on purpose is never replaced, also when it is the lab's."""
    lab_name = f"sip:scscf.{DOMAIN}:5060"
    scscf = from_dict(ScscfConfig, {"domain": OTHER, "server_name": lab_name,
                                    "diameter": {"origin_realm": DOMAIN}})
    assert scscf.server_name == lab_name
    assert scscf.diameter is not None and scscf.diameter.origin_realm == DOMAIN
    icscf = from_dict(IcscfConfig, {"domain": OTHER, "diameter": {"origin_realm": DOMAIN}})
    assert icscf.diameter is not None and icscf.diameter.origin_realm == DOMAIN
    pcscf = from_dict(PcscfConfig, {"domain": OTHER, "visited_network_id": DOMAIN})
    assert pcscf.visited_network_id == DOMAIN


@pytest.mark.parametrize("cls", [PcscfConfig, IcscfConfig, ScscfConfig])
def test_the_repository_configs_leave_derived_identities_out(
        cls: type[CscfConfig]) -> None:
    """config/<node>.toml moves to another domain with IMS_CORE__DOMAIN alone."""
    cfg = load(cls, REPO / "config" / f"{cls.node}.toml", environ={"IMS_CORE__DOMAIN": OTHER})
    if isinstance(cfg, PcscfConfig):
        assert cfg.visited_network_id == OTHER
    else:
        assert cfg.diameter is not None and cfg.diameter.origin_realm == OTHER
    if isinstance(cfg, ScscfConfig):
        assert cfg.server_name == f"sip:scscf.{OTHER}:5060"
