"""config/icscf.toml, the pool's name handling and the app's config errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ims_core.config import ConfigError
from ims_core.cscf import DOMAIN
from ims_core.icscf import IcscfCore, ScscfEntry, ScscfPool
from ims_core.icscf.app import load_config, main
from ims_core.sip.addressing import Destination

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_matches_the_lab_layout() -> None:
    cfg = load_config(str(ROOT / "config" / "icscf.toml"))
    assert (cfg.sip.host, cfg.sip.port) == ("127.0.0.2", 5060)
    assert cfg.diameter is not None
    assert cfg.diameter.origin_host == f"icscf.{DOMAIN}"
    assert (cfg.diameter.hss_host, cfg.diameter.hss_port) == ("127.0.0.4", 3868)
    core = IcscfCore.from_config(cfg)
    assert core.pool.resolve(f"sip:scscf.{DOMAIN}:5060") == Destination("", "127.0.0.3", 5060)
    assert not core.config.record_route


def test_pool_resolution_rules() -> None:
    pool = ScscfPool([
        ScscfEntry("sip:a.example.net", "10.0.0.1:5070", transport="tcp"),
        ScscfEntry("sip:10.0.0.2:5080"),
        ScscfEntry("sip:b.example.net:5060", "10.0.0.3"),
    ])
    assert pool.resolve("sip:A.example.net:5060") == Destination("TCP", "10.0.0.1", 5070)
    assert pool.resolve("sip:10.0.0.2:5080") == Destination("", "10.0.0.2", 5080)
    assert pool.resolve("sip:b.example.net") == Destination("", "10.0.0.3", 5060)
    assert pool.resolve("sip:a.example.net:5061") is None  # other port, not an IP
    assert pool.resolve("sip:10.9.9.9;transport=tcp") == Destination("TCP", "10.9.9.9", 5060)
    assert pool.resolve("not a uri") is None
    assert pool.lookup("sip:b.example.net:5060;lr") is not None


def test_pool_entry_needs_an_address() -> None:
    with pytest.raises(ValueError, match="no usable address"):
        ScscfPool([ScscfEntry("sip:scscf.example.net")])
    with pytest.raises(ConfigError):
        ScscfEntry("scscf.example.net")
    with pytest.raises(ConfigError):
        ScscfEntry("sip:x@1.2.3.4", transport="sctp")


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "icscf.toml"
    p.write_text(text)
    return str(p)


def test_app_refuses_configs_without_hss_or_pool(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(write(tmp_path, '[[scscf]]\nname = "sip:127.0.0.3"\n')) == 2
    assert "[diameter]" in capsys.readouterr().err
    assert main(write(tmp_path, '[diameter]\norigin_host = "i"\n')) == 2
    assert "[[scscf]]" in capsys.readouterr().err
    assert main(write(tmp_path, "hss_failure_status = 404\n")) == 2
    assert main(str(tmp_path / "missing.toml")) == 2
    unresolvable = '[diameter]\norigin_host = "i"\n[[scscf]]\nname = "sip:x.y"\n'
    assert main(write(tmp_path, unresolvable)) == 2
    assert "no usable address" in capsys.readouterr().err
