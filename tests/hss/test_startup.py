"""What the HSS does before it serves, and the config rules behind it: demo subscribers
seeded into an empty store only (``[seed] count``), identities that follow the home
domain, the Host-IP-Address it advertises, a store it cannot open reported as such."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hss.config import DOMAIN, HssConfig, SeedConfig, StoreConfig, load_config
from hss.config import DiameterConfig as HssDiameterConfig
from hss.server import HssServer, ListenError, diameter_config, open_hss_store, seed_if_empty
from hss.store import StoreError
from ims_core.config import ConfigError


def config(tmp_path: Path, *, count: int = 0, listen_host: str = "127.0.0.94",
           host_ip: str = "") -> HssConfig:
    return HssConfig(data_dir=str(tmp_path), workers=1, seed=SeedConfig(count=count),
                     diameter=HssDiameterConfig(listen_host=listen_host, listen_port=0,
                                                host_ip=host_ip))


async def test_an_empty_store_is_seeded_before_listening(tmp_path: Path) -> None:
    server = HssServer(config(tmp_path, count=5))
    try:
        await server.start()
        subs = server.store.subscribers()
        assert [s.imsi for s in subs] == [f"00101000000000{i}" for i in range(1, 6)]
        assert subs[0].impi == f"001010000000001@{DOMAIN}"
    finally:
        await server.stop()
    # A restart on the same store (a kept volume) adds nothing, whatever the count.
    again = HssServer(config(tmp_path, count=7))
    try:
        await again.start()
        assert again.store.count() == 5
    finally:
        await again.stop()


def test_seed_if_empty_leaves_a_provisioned_store_alone(tmp_path: Path) -> None:
    store = open_hss_store(config(tmp_path))
    try:
        assert seed_if_empty(store, 0, DOMAIN) == 0 and store.count() == 0
        assert seed_if_empty(store, 3, DOMAIN) == 3
        assert seed_if_empty(store, 10, DOMAIN) == 0 and store.count() == 3
    finally:
        store.close()


def test_seed_count_from_the_environment(tmp_path: Path) -> None:
    p = tmp_path / "hss.toml"
    p.write_text("[seed]\ncount = 2\n")
    assert load_config(p).seed.count == 2
    assert load_config(p, environ={"IMS_CORE__SEED__COUNT": "1000"}).seed.count == 1000
    assert HssConfig().seed.count == 0
    with pytest.raises(ConfigError, match=r"seed\.count must be >= 0"):
        load_config(p, overrides=["seed.count=-1"])


def test_identities_follow_the_home_domain(tmp_path: Path) -> None:
    p = tmp_path / "hss.toml"
    p.write_text('[diameter]\nlisten_host = "172.22.0.10"\n')
    for env in ({"IMS_CORE__DOMAIN": "ims.example.org"},
                {"IMS_CORE__CX__DOMAIN": "ims.example.org"}):
        cfg = load_config(p, environ=env)
        assert cfg.domain == cfg.cx.domain == "ims.example.org"
        d = cfg.diameter
        assert (d.origin_host, d.origin_realm) == ("hss.ims.example.org", "ims.example.org")
        assert d.peers == ("icscf.ims.example.org", "scscf.ims.example.org")
        assert cfg.cx.capabilities.server_names == ("sip:scscf.ims.example.org:5060",)
    lab = load_config(p)
    assert (lab.domain, lab.diameter.origin_host) == (DOMAIN, f"hss.{DOMAIN}")
    kept = load_config(p, environ={"IMS_CORE__DOMAIN": "ims.example.org"},
                       overrides=['diameter.peers=["s.example.net"]'])
    assert kept.diameter.peers == ("s.example.net",)
    with pytest.raises(ConfigError, match="differ"):
        load_config(p, overrides=["domain=a.example", "cx.domain=b.example"])


def test_the_config_files_domain_can_be_replaced() -> None:
    """The repository's config/hss.toml names the lab domain in [cx]; IMS_CORE__DOMAIN
    moves the HSS to another (what a container does with it)."""
    repo = Path(__file__).resolve().parents[2]
    cfg = load_config(repo / "config" / "hss.toml", environ={"IMS_CORE__DOMAIN": "x.example"})
    assert cfg.cx.domain == "x.example"


@pytest.mark.parametrize(
    ("host_ip", "expected"), [("", "127.0.0.94"), ("172.22.0.10", "172.22.0.10")])
def test_host_ip_address(tmp_path: Path, host_ip: str, expected: str) -> None:
    assert diameter_config(config(tmp_path, host_ip=host_ip)).host_ip_addresses == (expected,)


def test_a_wildcard_listen_address_needs_host_ip(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"diameter\.host_ip is needed"):
        config(tmp_path, listen_host="0.0.0.0")
    cfg = config(tmp_path, listen_host="0.0.0.0", host_ip="172.22.0.10")
    assert diameter_config(cfg).host_ip_addresses == ("172.22.0.10",)


def test_a_store_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cfg = dataclasses.replace(config(tmp_path), data_dir=str(blocker / "sub"))
    with pytest.raises(StoreError, match="cannot open the sqlite store"):
        open_hss_store(cfg)
    assert StoreConfig(path="/abs/hss.sqlite").sqlite_path("data") == Path("/abs/hss.sqlite")
    assert StoreConfig().sqlite_path("data") == Path("data/hss.sqlite")


async def test_an_address_in_use_is_a_listen_error(tmp_path: Path) -> None:
    first = HssServer(config(tmp_path))
    port = await first.start()
    second = HssServer(config(tmp_path))
    try:
        with pytest.raises(ListenError, match=f"cannot listen on 127.0.0.94:{port}"):
            await second.start(port=port)
    finally:
        await second.stop()
        await first.stop()
