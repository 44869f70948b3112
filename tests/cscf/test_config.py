"""CscfConfig: loading from TOML and the derived proxy/transport/timer/Diameter settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from ims_core.config import ConfigError, load
from ims_core.cscf import DOMAIN, CscfConfig, CscfCore
from ims_core.cscf.server import transport_config


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
