"""Typed TOML config loading."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ims_core.config import ConfigError, LogConfig, from_dict, load


@dataclasses.dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 5060
    transports: tuple[str, ...] = ("udp", "tcp")


@dataclasses.dataclass(frozen=True)
class Node:
    name: str
    listen: Listen = dataclasses.field(default_factory=Listen)
    t1: float = 0.5
    peers: list[str] = dataclasses.field(default_factory=list)
    log: LogConfig = dataclasses.field(default_factory=LogConfig)
    next_hop: str | None = None


def test_load_nested(tmp_path: Path) -> None:
    f = tmp_path / "node.toml"
    f.write_text(
        'name = "pcscf"\nt1 = 1\npeers = ["a", "b"]\n'
        '[listen]\nport = 5070\ntransports = ["udp"]\n[log]\nformat = "json"\n'
    )
    cfg = load(Node, f)
    assert cfg == Node(name="pcscf", listen=Listen(port=5070, transports=("udp",)), t1=1.0,
                       peers=["a", "b"], log=LogConfig(format="json"))
    assert isinstance(cfg.t1, float)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "nmae": 1}, "unknown key(s): nmae"),
        ({"name": 5}, "config.name: expected str, got int"),
        ({"name": "x", "listen": {"port": "5060"}}, "config.listen.port: expected int"),
        ({"name": "x", "listen": {"port": True}}, "expected int, got bool"),
        ({"name": "x", "listen": 3}, "config.listen: expected a table"),
        ({"name": "x", "peers": "a"}, "config.peers: expected an array"),
        ({"name": "x", "peers": ["a", 1]}, "config.peers[1]: expected str"),
        ({"name": "x", "log": {"format": "xml"}}, "log.format must be"),
        ({}, "missing 1 required"),
    ],
)
def test_errors_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_dict(Node, data)


def test_optional_and_missing_file(tmp_path: Path) -> None:
    assert from_dict(Node, {"name": "x", "next_hop": "127.0.0.2:5060"}).next_hop == "127.0.0.2:5060"
    with pytest.raises(ConfigError, match="not found"):
        load(Node, tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load(Node, bad)
