"""Timer C is more than 3 minutes (RFC 3261 §16.6 step 11): ProxyConfig's default, and a
node's TOML refusing anything less (tests still build ProxyConfig with small values)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ims_core.config import ConfigError, load
from ims_core.cscf.config import CscfConfig
from ims_core.proxy import ProxyConfig


def test_defaults_are_above_three_minutes() -> None:
    assert ProxyConfig().timer_c > 180 and CscfConfig().timer_c > 180
    assert CscfConfig().proxy_config().timer_c == CscfConfig().timer_c
    assert ProxyConfig(timer_c=2.0).timer_c == 2.0  # tests may shorten it


@pytest.mark.parametrize("value", ["180.0", "60", "0"])
def test_a_node_config_refuses_timer_c_of_three_minutes_or_less(
        tmp_path: Path, value: str) -> None:
    p = tmp_path / "node.toml"
    p.write_text(f"timer_c = {value}\n")
    with pytest.raises(ConfigError, match="timer_c"):
        load(CscfConfig, p)


def test_a_node_config_takes_timer_c_above_three_minutes(tmp_path: Path) -> None:
    p = tmp_path / "node.toml"
    p.write_text("timer_c = 181.5\n")
    cfg = load(CscfConfig, p)
    assert cfg.proxy_config().timer_c == 181.5


@pytest.mark.parametrize("node", ["pcscf", "icscf", "scscf"])
def test_every_node_config_checks_timer_c(tmp_path: Path, node: str) -> None:
    """Each CSCF's own config keeps the rule (and the shipped configs obey it)."""
    import importlib

    module = importlib.import_module(f"ims_core.{node}.config")
    cls = {"pcscf": "PcscfConfig", "icscf": "IcscfConfig", "scscf": "ScscfConfig"}[node]
    config_cls = getattr(module, cls)
    shipped = Path(__file__).resolve().parents[2] / "config" / f"{node}.toml"
    assert load(config_cls, shipped).timer_c > 180
    p = tmp_path / f"{node}.toml"
    p.write_text(shipped.read_text().replace("timer_c = 185.0", "timer_c = 180.0"))
    with pytest.raises(ConfigError, match="timer_c"):
        load(config_cls, p)
