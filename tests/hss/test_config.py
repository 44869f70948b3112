"""HssConfig: identities left out are derived from the home domain; written ones are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from hss.config import DOMAIN, CapabilitiesConfig, CxConfig, DiameterConfig, HssConfig, load_config
from ims_core.config import from_dict

REPO = Path(__file__).resolve().parents[2]
OTHER = "ims.mnc070.mcc999.3gppnetwork.org"


def assert_derived(cfg: HssConfig, domain: str) -> None:
    d = cfg.diameter
    assert (cfg.domain, cfg.cx.domain) == (domain, domain)
    assert (d.origin_host, d.origin_realm) == (f"hss.{domain}", domain)
    assert d.peers == (f"icscf.{domain}", f"scscf.{domain}")
    assert cfg.cx.capabilities.server_names == (f"sip:scscf.{domain}:5060",)
    # Readers get plain tuples, whatever the default is made of.
    assert type(d.peers) is tuple and type(cfg.cx.capabilities.server_names) is tuple


@pytest.mark.parametrize("domain", [DOMAIN, OTHER])
def test_identities_left_out_are_derived_from_the_domain(domain: str) -> None:
    assert_derived(from_dict(HssConfig, {"domain": domain}), domain)
    assert_derived(from_dict(HssConfig, {"cx": {"domain": domain}}), domain)
    assert_derived(HssConfig(domain=domain, diameter=DiameterConfig(listen_port=3870),
                             cx=CxConfig(max_vectors=3)), domain)


def test_identities_written_are_kept_even_the_lab_ones() -> None:
    lab = {"origin_host": f"hss.{DOMAIN}", "origin_realm": DOMAIN,
           "peers": [f"icscf.{DOMAIN}", f"scscf.{DOMAIN}"]}
    names = [f"sip:scscf.{DOMAIN}:5060"]
    cfg = from_dict(HssConfig, {"domain": OTHER, "diameter": lab,
                                "cx": {"capabilities": {"server_names": names}}})
    d = cfg.diameter
    assert (d.origin_host, d.origin_realm, d.peers) == (
        lab["origin_host"], lab["origin_realm"], tuple(lab["peers"]))
    assert cfg.cx.capabilities.server_names == tuple(names)


def test_empty_lists_written_keep_their_meaning() -> None:
    """``peers = []`` is any peer and ``server_names = []`` none: never derived."""
    cfg = from_dict(HssConfig, {"domain": OTHER, "diameter": {"peers": []},
                                "cx": {"capabilities": {"server_names": []}}})
    assert cfg.diameter.peers == () and cfg.cx.capabilities.server_names == ()
    built = HssConfig(domain=OTHER, diameter=DiameterConfig(peers=()),
                      cx=CxConfig(capabilities=CapabilitiesConfig(server_names=())))
    assert built.diameter.peers == () and built.cx.capabilities.server_names == ()


@pytest.mark.parametrize("domain", [None, OTHER])
def test_the_repository_config_derives_them(domain: str | None) -> None:
    """config/hss.toml moves to another domain with IMS_CORE__DOMAIN alone."""
    env = {"IMS_CORE__DOMAIN": domain} if domain else {}
    assert_derived(load_config(REPO / "config" / "hss.toml", environ=env), domain or DOMAIN)
