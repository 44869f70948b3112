"""Typed TOML config loading."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ims_core.config import ConfigError, LogConfig, from_dict, load, with_overrides


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


# -- settings from outside the file: IMS_CORE__* variables and --set ----------------------


@dataclasses.dataclass(frozen=True)
class Peer:
    name: str
    address: str = ""
    weights: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Site:
    domain: str = "example.org"
    listen: Listen = dataclasses.field(default_factory=Listen)
    peer: tuple[Peer, ...] = ()
    routes: dict[str, str] = dataclasses.field(default_factory=dict)
    upstream: Listen | None = None
    ratio: float = 1.0
    log: LogConfig = dataclasses.field(default_factory=LogConfig)


SITE_TOML = """
domain = "file.example"
[listen]
host = "10.0.0.1"
port = 5060
[[peer]]
name = "a"
address = "10.0.0.2:5060"
[routes]
"b.example" = "10.0.0.3"
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    p = tmp_path / "site.toml"
    p.write_text(SITE_TOML)
    return p


def test_precedence_file_then_environment_then_set(site: Path) -> None:
    env = {"IMS_CORE__LISTEN__PORT": "5070", "IMS_CORE__DOMAIN": "env.example",
           "IMS_CORE_PURE_AUTH": "1", "OTHER__LISTEN__PORT": "1"}  # not ours: ignored
    cfg = load(Site, site, environ=env)
    assert (cfg.domain, cfg.listen.port, cfg.listen.host) == ("env.example", 5070, "10.0.0.1")
    cfg = load(Site, site, overrides=["listen.port=5080"], environ=env)
    assert (cfg.domain, cfg.listen.port) == ("env.example", 5080)  # --set wins
    cfg = load(Site, site, overrides=["listen.port=1", "listen.port=2"])
    assert cfg.listen.port == 2  # the last --set of a key wins
    assert load(Site, site) == load(Site, site, environ={})  # no environment by default


def test_values_are_toml_when_they_parse_else_text(site: Path) -> None:
    cfg = load(Site, site, overrides=[
        "listen.transports=[\"udp\"]", "ratio=2", "upstream.port=5090", "log.level=debug",
        'domain="quoted.example"', "listen.host=172.22.0.20"])
    assert cfg.listen.transports == ("udp",) and cfg.ratio == 2.0
    assert isinstance(cfg.ratio, float)
    assert cfg.upstream == Listen(port=5090)  # an optional table is created
    assert (cfg.log.level, cfg.domain, cfg.listen.host) == (
        "debug", "quoted.example", "172.22.0.20")
    # A string key takes the text as written, even when it would parse as another type.
    assert load(Site, site, overrides=["domain=5060"]).domain == "5060"
    assert load(Site, site, overrides=["domain=true"]).domain == "true"
    assert load(Site, site, overrides=["domain="]).domain == ""


def test_arrays_of_tables_are_indexed(site: Path) -> None:
    env = {"IMS_CORE__PEER__0__ADDRESS": "172.22.0.30:5060",
           "IMS_CORE__PEER__1__NAME": "b", "IMS_CORE__PEER__1__WEIGHTS": "[1, 2]"}
    cfg = load(Site, site, environ=env)
    assert cfg.peer == (Peer("a", "172.22.0.30:5060"), Peer("b", "", (1, 2)))
    cfg = load(Site, site, overrides=['peer=[{name = "x"}]'])  # the whole array at once
    assert cfg.peer == (Peer("x"),)
    with pytest.raises(ConfigError, match=re.escape(
            "IMS_CORE__PEER__5__NAME: peer.5: index 5 is past the end (the array has 1)")):
        load(Site, site, environ={"IMS_CORE__PEER__5__NAME": "z"})
    with pytest.raises(ConfigError, match="an array takes a numeric index"):
        load(Site, site, overrides=["peer.first.name=z"])


def test_table_keys_with_dots_are_quoted(site: Path) -> None:
    cfg = load(Site, site, overrides=['routes."c.example"=10.0.0.4:5060'])
    assert cfg.routes == {"b.example": "10.0.0.3", "c.example": "10.0.0.4:5060"}
    cfg = load(Site, site, environ={"IMS_CORE__ROUTES": '{"d.example" = "10.0.0.5"}'})
    assert cfg.routes == {"d.example": "10.0.0.5"}  # an inline table replaces the table


@pytest.mark.parametrize(
    ("sets", "env", "message"),
    [
        (["listen.port=abc"], {}, "--set listen.port: expected int, got str"),
        (["listen.port=true"], {}, "--set listen.port: expected int, got bool"),
        ([], {"IMS_CORE__LISTEN__PORT": "x"}, "IMS_CORE__LISTEN__PORT: expected int, got str"),
        (["listen.prot=1"], {}, "--set listen.prot: unknown key listen.prot"),
        ([], {"IMS_CORE__LISTEN__PROT": "1"}, "IMS_CORE__LISTEN__PROT: unknown key listen.prot"),
        (["nokey=1"], {}, "--set nokey: unknown key nokey"),
        (["listen.port.x=1"], {}, "--set listen.port.x: listen.port is not a table"),
        (["listen.transports=udp"], {}, "--set listen.transports: expected an array"),
        (["peer.0.weights=[1, \"a\"]"], {}, "--set peer.0.weights[1]: expected int, got str"),
        (["listen.port"], {}, "--set listen.port: expected KEY=VALUE"),
        (["a b=1"], {}, "--set a b: not a key"),
        ([], {"IMS_CORE__LISTEN____PORT": "1"}, "IMS_CORE__LISTEN____PORT: empty key segment"),
        (["log.format=xml"], {}, "log.format must be 'console' or 'json', not 'xml' "
                                 "(settings from outside the file: --set log.format)"),
    ],
)
def test_bad_overrides_name_key_and_source(site: Path, sets: list[str], env: dict[str, str],
                                           message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(Site, site, overrides=sets, environ=env)


def test_a_file_table_of_the_wrong_kind_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text("listen = 3\n")
    with pytest.raises(ConfigError, match=re.escape(
            "--set listen.port: listen in the file is not a table")):
        load(Site, p, overrides=["listen.port=1"])


def test_with_overrides_leaves_the_parsed_file_alone() -> None:
    data = {"peer": [{"name": "a"}], "listen": {"port": 1}}
    out = with_overrides(Site, data, ["peer.0.name=b", "listen.port=2"])
    assert data == {"peer": [{"name": "a"}], "listen": {"port": 1}}
    assert out == {"peer": [{"name": "b"}], "listen": {"port": 2}}
    assert from_dict(Site, out).peer == (Peer("b"),)
