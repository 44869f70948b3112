"""The address plan's node configs, demo numbering, SIPp files and seeding (no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hss.config import HssConfig, load_config
from hss.provision import new_subscriber
from ims_core.config import ConfigError, load
from ims_core.icscf.app import load_config as load_icscf
from ims_core.metrics.config import MetricsConfig
from ims_core.pcscf.config import PcscfConfig
from ims_core.scscf.config import ScscfConfig
from ims_lab.plan import (
    NODES,
    Addresses,
    hss_config,
    icscf_config,
    imsi,
    pcscf_config,
    scscf_config,
    split_sipp_csv,
    write_node_configs,
)
from ims_lab.seed import seed_demo
from ims_lab.tomlwrite import toml_text

PLAN = Addresses("127.7.7.1", "127.7.7.2", "127.7.7.3", "127.7.7.4", sip_port=5071,
                 diameter_port=3869, domain="ims.example.net")


def test_each_written_config_loads_back_as_the_dataclass_it_was_built_from(
        tmp_path: Path) -> None:
    paths = write_node_configs(tmp_path, PLAN, log_level="debug", min_expires=1)
    assert list(paths) == list(NODES)
    assert all(p.parent == tmp_path for p in paths.values())
    assert load_config(paths["hss"]) == hss_config(PLAN, tmp_path, log_level="warning")
    assert load(ScscfConfig, paths["scscf"]) == scscf_config(PLAN, min_expires=1,
                                                              log_level="debug")
    assert load_icscf(str(paths["icscf"])) == icscf_config(PLAN, log_level="debug")
    assert load(PcscfConfig, paths["pcscf"]) == pcscf_config(PLAN, log_level="debug")


def test_the_nodes_point_at_each_other_through_the_plan(tmp_path: Path) -> None:
    hss = hss_config(PLAN, tmp_path, extra_peers=("bench.ims.example.net",))
    assert (hss.diameter.listen_host, hss.diameter.listen_port) == ("127.7.7.4", 3869)
    assert hss.diameter.peers == ("icscf.ims.example.net", "scscf.ims.example.net",
                                  "bench.ims.example.net")
    assert hss.cx.capabilities.server_names == ("sip:scscf.ims.example.net:5071",)
    assert hss.cx.avoid_res_zero_octet and hss.data_dir == str(tmp_path.resolve())
    scscf = scscf_config(PLAN)
    assert scscf.service_route == "<sip:orig@127.7.7.3:5071;lr>"
    assert scscf.icscf == "127.7.7.2:5071"
    assert scscf.diameter is not None
    assert (scscf.diameter.hss_host, scscf.diameter.hss_port) == ("127.7.7.4", 3869)
    assert scscf.diameter.origin_host == "scscf.ims.example.net"
    icscf = icscf_config(PLAN)
    assert [(e.name, e.address) for e in icscf.scscf] == [
        ("sip:scscf.ims.example.net:5071", "127.7.7.3:5071")]
    pcscf = pcscf_config(PLAN)
    assert pcscf.home_networks == {"ims.example.net": "127.7.7.2:5071"}
    assert pcscf.sip.public_host == "127.7.7.1" and pcscf.diameter is None
    assert [PLAN.probe(n) for n in NODES] == [("127.7.7.4", 3869), ("127.7.7.3", 5071),
                                              ("127.7.7.2", 5071), ("127.7.7.1", 5071)]
    v6 = Addresses("::1", "::2", "::3", "::4")
    assert scscf_config(v6).service_route == "<sip:orig@[::3]:5060;lr>"


def test_a_bad_plan_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"addresses\.icscf"):
        Addresses(icscf="icscf.example")
    with pytest.raises(ConfigError, match="sip_port"):
        Addresses(sip_port=0)
    with pytest.raises(ConfigError, match="domain"):
        Addresses(domain="")


def test_toml_text_writes_tables_in_the_order_toml_reads_them() -> None:
    text = toml_text(pcscf_config(PLAN))
    assert '[home_networks]\n"ims.example.net" = "127.7.7.2:5071"' in text
    assert toml_text(HssConfig(data_dir='we"ird\\dir')).startswith(
        'data_dir = "we\\"ird\\\\dir"\n')
    with pytest.raises(TypeError, match="cannot write"):
        toml_text(HssConfig(data_dir=Path("x")))  # type: ignore[arg-type]


def test_demo_numbers_and_sipp_files() -> None:
    assert (imsi(1), imsi(450)) == ("001010000000001", "001010000000450")
    csv = "SEQUENTIAL\n" + "".join(f"{imsi(n)};;[auth {n}]\n" for n in range(1, 6))
    files = split_sipp_csv(csv, {"a": range(1, 3), "b": range(5, 6)})
    assert files == {"a": f"SEQUENTIAL\n{imsi(1)};;[auth 1]\n{imsi(2)};;[auth 2]\n",
                     "b": f"SEQUENTIAL\n{imsi(5)};;[auth 5]\n"}


def test_seed_demo_fills_an_empty_store_once(tmp_path: Path) -> None:
    cfg = hss_config(PLAN, tmp_path)
    md5 = new_subscriber(imsi="001010000009001", k="00" * 16, op="11" * 16,
                         password="pw", schemes="md5", domain=PLAN.domain)
    seeded, csv = seed_demo(cfg, 3, extra=[md5])
    assert seeded == 4
    rows = csv.splitlines()
    assert rows[0] == "SEQUENTIAL" and [r.split(";")[0] for r in rows[1:4]] == [
        imsi(1), imsi(2), imsi(3)]
    assert "username=001010000000001@ims.example.net" in rows[1]
    seeded, again = seed_demo(cfg, 10, csv_count=2)
    assert seeded == 0 and len(again.splitlines()) == 3



def test_metrics_listeners_are_on_each_nodes_own_address_when_asked(tmp_path: Path) -> None:
    plan = Addresses("127.7.7.1", "127.7.7.2", "127.7.7.3", "127.7.7.4", metrics_port=9191)
    assert plan.metrics("scscf") == ("127.7.7.3", 9191)
    paths = write_node_configs(tmp_path, plan, metrics=True)
    assert load_config(paths["hss"]).metrics == MetricsConfig(True, "127.7.7.4", 9191)
    assert load(ScscfConfig, paths["scscf"]).metrics == MetricsConfig(True, "127.7.7.3", 9191)
    assert load_icscf(str(paths["icscf"])).metrics == MetricsConfig(True, "127.7.7.2", 9191)
    assert load(PcscfConfig, paths["pcscf"]).metrics == MetricsConfig(True, "127.7.7.1", 9191)
    # Off by default: the tests' and benchmarks' labs open no extra port unless they ask.
    assert not pcscf_config(PLAN).metrics.enabled
    assert hss_config(PLAN, tmp_path).metrics == MetricsConfig(False, "127.7.7.4", 9090)
    with pytest.raises(ConfigError, match="metrics_port"):
        Addresses(metrics_port=0)
