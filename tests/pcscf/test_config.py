"""config/pcscf.toml and the PcscfConfig checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ims_core.config import ConfigError, from_dict, load
from ims_core.pcscf import PcscfConfig, parse_next_hop
from ims_core.pcscf.app import main
from ims_core.pcscf.config import RegEventConfig
from ims_core.sip.addressing import Destination

REPO = Path(__file__).resolve().parents[2]


def test_lab_config_loads_with_the_documented_defaults() -> None:
    cfg = load(PcscfConfig, REPO / "config" / "pcscf.toml")
    assert (cfg.sip.host, cfg.sip.port, cfg.sip.public_host) == ("127.0.0.1", 5060, "127.0.0.1")
    assert cfg.i_cscfs() == {
        "ims.mnc001.mcc001.3gppnetwork.org": Destination("", "127.0.0.2", 5060)}
    assert cfg.path_user == "term"
    assert cfg.diameter is None
    assert cfg.visited_network_id == PcscfConfig().visited_network_id
    assert cfg.regevent == RegEventConfig(subscribe=True, expires=600000, retry_min=30.0,
                                          retry_max=1800.0)
    assert cfg.regevent == PcscfConfig().regevent


@pytest.mark.parametrize(("text", "dest"), [
    ("10.0.0.2", Destination("", "10.0.0.2", 5060)),
    ("10.0.0.2:5070", Destination("", "10.0.0.2", 5070)),
    ("[2001:db8::2]:5080", Destination("", "[2001:db8::2]", 5080)),
    ("sip:icscf.example:5060;transport=tcp", Destination("TCP", "icscf.example", 5060)),
])
def test_next_hop_forms(text: str, dest: Destination) -> None:
    assert parse_next_hop(text) == dest


@pytest.mark.parametrize("data", [
    {"home_networks": {}},
    {"home_networks": {"d": "not a host!"}},
    {"home_networks": {"d": "sip:user@host"}},
    {"visited_network_id": 'a"b'},
    {"domain": ""},  # nothing to derive visited_network_id from
    {"path_user": "te rm"},
    {"sip": {"port": True}},
    {"regevent": {"expires": 0}},
    {"regevent": {"retry_min": 0}},
    {"regevent": {"retry_min": 60, "retry_max": 30}},
    {"regevent": {"subscribe": "yes"}},
    {"regevent": {"refresh": 0.8}},
])
def test_bad_settings_are_config_errors(data: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        from_dict(PcscfConfig, data)


def test_main_reports_a_bad_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "pcscf.toml"
    bad.write_text('visited_network_id = "a\\"b"\n')
    assert main(str(bad)) == 2
    assert "visited_network_id" in capsys.readouterr().err
    assert main(str(tmp_path / "missing.toml")) == 2
