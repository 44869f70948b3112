"""The lab's preparation steps without processes: configs, seeding, the SIPp command."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hss.config import ApiConfig, HssConfig, StoreConfig
from ims_core.config import ConfigError, load
from ims_core.icscf import IcscfConfig
from ims_core.icscf.app import load_config as load_icscf
from ims_lab.addresses import Addresses
from ims_lab.lab import (
    LabConfig,
    LabError,
    NodeFiles,
    SippHints,
    api_key_hint,
    banner,
    cscf_probe,
    hss_api_plan,
    metrics_address,
    node_files,
    node_plans,
    prepare_hss,
    seed_and_export,
    sipp_command,
)
from ims_lab.tomlwrite import toml_text

REPO = Path(__file__).resolve().parents[2]


def test_shipped_lab_config_is_the_documented_default() -> None:
    cfg = load(LabConfig, REPO / "config" / "lab.toml")
    assert cfg == LabConfig()
    assert cfg.seed_count == 1000 and cfg.hss_avoid_res_zero_octet
    assert cfg.nodes.icscf == "config/icscf.toml"
    assert cfg.metrics and cfg.hss_api


def test_bad_lab_values_are_refused() -> None:
    with pytest.raises(ConfigError):
        LabConfig(seed_count=-1)
    with pytest.raises(ConfigError):
        LabConfig(stop_timeout=0)


def test_toml_text_round_trips_node_configs(tmp_path: Path) -> None:
    hss = HssConfig(data_dir='we"ird\\dir')
    (tmp_path / "hss.toml").write_text(toml_text(hss))
    assert load(HssConfig, tmp_path / "hss.toml") == hss
    icscf = load_icscf(str(REPO / "config" / "icscf.toml"))
    (tmp_path / "icscf.toml").write_text(toml_text(icscf))
    assert load(IcscfConfig, tmp_path / "icscf.toml") == icscf


def test_hss_copy_with_avoid_res_zero_octet_only_when_needed(tmp_path: Path) -> None:
    src = tmp_path / "hss.toml"
    src.write_text('[diameter]\nlisten_host = "127.9.9.4"\nlisten_port = 3999\n')
    lab = LabConfig(data_dir=str(tmp_path / "data"))
    path, probe, cfg = prepare_hss(lab, src)
    assert path == tmp_path / "data" / "lab-hss.toml"
    assert probe == ("127.9.9.4", 3999)
    assert cfg.cx.avoid_res_zero_octet
    assert load(HssConfig, path).cx.avoid_res_zero_octet
    off = LabConfig(data_dir=str(tmp_path / "data2"), hss_avoid_res_zero_octet=False)
    path, _, cfg = prepare_hss(off, src)
    assert path == src and not cfg.cx.avoid_res_zero_octet


def test_seeding_happens_only_into_an_empty_store(tmp_path: Path) -> None:
    hss = HssConfig(data_dir=str(tmp_path / "db"), store=StoreConfig(path="hss.sqlite"))
    lab = LabConfig(data_dir=str(tmp_path / "lab"), seed_count=7)
    seeded, csv_path, rows = seed_and_export(lab, hss)
    assert (seeded, rows) == (7, 7)
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "SEQUENTIAL" and lines[1].startswith("001010000000001;")
    assert "[authentication username=001010000000001@" in lines[1]
    seeded, _, rows = seed_and_export(LabConfig(data_dir=str(tmp_path / "lab"), seed_count=50),
                                      hss)
    assert (seeded, rows) == (0, 7)


def test_sipp_command_uses_pcscf_and_the_tests_scenario() -> None:
    lab = LabConfig(sipp=SippHints(rate=20, calls=3, transport="t1"))
    cmd = sipp_command(lab, ("127.0.0.1", 5060), Path("data/s.csv"), 10)
    assert cmd.startswith("sipp 127.0.0.1:5060 -sf ")
    assert f"{REPO}/config/sipp/register_aka.xml -inf {Path.cwd()}/data/s.csv" in cmd
    assert "-t t1" in cmd and "-r 20" in cmd and "-m 3" in cmd
    assert (REPO / "config" / "sipp" / "register_aka.xml").is_file()
    cmd = sipp_command(LabConfig(), None, Path("s.csv"), 0)
    assert cmd.startswith("sipp 127.0.0.1:5060 ") and "-m 1000" in cmd


def test_plan_orders_nodes_and_reads_sip_probes(tmp_path: Path) -> None:
    (tmp_path / "i.toml").write_text('[sip]\nhost = "0.0.0.0"\nport = 5099\n')
    (tmp_path / "h.toml").write_text("")
    nodes, pcscf = node_plans(NodeFiles(
        hss=str(tmp_path / "h.toml"), icscf=str(tmp_path / "i.toml"), scscf="", pcscf=""))
    assert [n.name for n in nodes] == ["hss", "icscf"]
    assert nodes[1].probe == ("127.0.0.1", 5099) and pcscf is None
    assert nodes[1].argv()[-3:] == ["icscf", "-c", str(tmp_path / "i.toml")]
    assert cscf_probe(tmp_path / "h.toml") == ("127.0.0.1", 5060)
    with pytest.raises(LabError, match="no nodes"):
        node_plans(NodeFiles("", "", "", ""))


def test_an_address_plan_replaces_the_node_files(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text(
        f'data_dir = "{tmp_path / "data"}"\n[addresses]\npcscf = "127.9.8.1"\n'
        'icscf = "127.9.8.2"\nscscf = "127.9.8.3"\nhss = "127.9.8.4"\n')
    lab = load(LabConfig, tmp_path / "lab.toml")
    assert lab.addresses == Addresses("127.9.8.1", "127.9.8.2", "127.9.8.3", "127.9.8.4")
    files = node_files(lab)
    assert files.icscf == str(tmp_path / "data" / "icscf.toml")
    nodes, pcscf = node_plans(files)
    assert [n.name for n in nodes] == ["hss", "scscf", "icscf", "pcscf"]
    assert [n.probe for n in nodes[1:]] == [("127.9.8.3", 5060), ("127.9.8.2", 5060),
                                            ("127.9.8.1", 5060)]
    assert pcscf == ("127.9.8.1", 5060)
    # The plan's HSS already avoids RES 0x00 octets: no lab copy is needed.
    path, probe, cfg = prepare_hss(lab, Path(nodes[0].config))
    assert path == tmp_path / "data" / "hss.toml" and probe == ("127.9.8.4", 3868)
    assert cfg.cx.avoid_res_zero_octet and cfg.data_dir == str(tmp_path / "data")
    assert node_files(LabConfig()) == NodeFiles()


def test_addresses_and_nodes_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text('[addresses]\nhss = "127.0.0.9"\n'
                                       '[nodes]\nhss = "elsewhere.toml"\n')
    with pytest.raises(ConfigError, match=r"\[addresses\] or \[nodes\]"):
        load(LabConfig, tmp_path / "lab.toml")
    (tmp_path / "lab.toml").write_text('[addresses]\nhss = "hss.example"\n')
    with pytest.raises(ConfigError, match="not an IP address"):
        load(LabConfig, tmp_path / "lab.toml")


def test_the_command_loads_no_cscf_package_until_one_is_needed() -> None:
    # `ims-core hss` and friends must not depend on the CSCF packages importing.
    code = ("import sys, ims_lab.cli; print(sorted(m for m in sys.modules if m.split('.')[:2] "
            "in (['ims_core', 'pcscf'], ['ims_core', 'icscf'], ['ims_core', 'scscf'])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_with_metrics_each_node_runs_its_listener_and_waits_for_readyz(tmp_path: Path) -> None:
    (tmp_path / "h.toml").write_text('[metrics]\nhost = "127.9.9.4"\n')
    (tmp_path / "s.toml").write_text('[metrics]\nhost = "0.0.0.0"\nport = 9191\n')
    (tmp_path / "p.toml").write_text("")
    files = NodeFiles(hss=str(tmp_path / "h.toml"), scscf=str(tmp_path / "s.toml"), icscf="",
                      pcscf=str(tmp_path / "p.toml"))
    nodes, _ = node_plans(files, metrics=True)
    assert [n.http for n in nodes] == [("127.9.9.4", 9090), ("127.0.0.1", 9191),
                                       ("127.0.0.1", 9090)]
    assert all(n.metrics for n in nodes)
    assert nodes[1].argv()[-5:] == ["scscf", "-c", str(tmp_path / "s.toml"), "--set",
                                    "metrics.enabled=true"]
    assert nodes[0].url("/readyz") == "http://127.9.9.4:9090/readyz"
    assert metrics_address(tmp_path / "p.toml") == ("127.0.0.1", 9090)
    lines = banner(nodes, "sipp …")
    assert lines[1] == "metrics (Prometheus text format; /healthz and /readyz beside them):"
    assert lines[2:5] == ["    hss    http://127.9.9.4:9090/metrics",
                          "    scscf  http://127.0.0.1:9191/metrics",
                          "    pcscf  http://127.0.0.1:9090/metrics"]
    # Without metrics: the same nodes, no listener, nothing to wait for or print.
    plain, _ = node_plans(files)
    assert [n.http for n in plain] == [None, None, None] and plain[0].url("/x") == ""
    assert not any("metrics" in line for line in banner(plain, "sipp …"))


def test_two_nodes_on_one_metrics_address_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text("")
    (tmp_path / "b.toml").write_text('[metrics]\nhost = "127.0.0.1"\nport = 9090\n')
    files = NodeFiles(hss="", scscf=str(tmp_path / "a.toml"), icscf="",
                      pcscf=str(tmp_path / "b.toml"))
    with pytest.raises(LabError, match=re.escape(
            "pcscf and scscf have the same [metrics] address 127.0.0.1:9090")):
        node_plans(files, metrics=True)
    node_plans(files)  # only a problem when the listeners are on


def test_the_hss_api_runs_on_the_hss_config_and_is_announced(tmp_path: Path) -> None:
    cfg = HssConfig(data_dir=str(tmp_path / "db"), api=ApiConfig(host="0.0.0.0", port=8181))
    api = hss_api_plan(tmp_path / "hss.toml", cfg)
    assert api.argv()[-3:] == ["hss-api", "-c", str(tmp_path / "hss.toml")]
    assert api.probe == api.http == ("127.0.0.1", 8181) and not api.metrics
    key = api_key_hint(tmp_path / "hss.toml", cfg)
    assert key == f"the key in {tmp_path / 'db' / 'api-key'} (made at the API's first start)"
    given = dataclasses.replace(cfg, api=ApiConfig(api_key="k" * 16))
    assert api_key_hint(tmp_path / "hss.toml", given) == (
        f"the [api] api_key of {tmp_path}/hss.toml")
    lines = banner([api], "sipp …", key)
    assert lines[1] == ("HSS provisioning API: http://127.0.0.1:8181/api/v1 (OpenAPI: "
                        f"http://127.0.0.1:8181/openapi.json); X-API-Key: {key}")


def test_with_a_state_dir_the_s_and_p_cscf_keep_registrations_there(tmp_path: Path) -> None:
    for name in ("h", "s", "i", "p"):
        (tmp_path / f"{name}.toml").write_text("")
    files = NodeFiles(hss=str(tmp_path / "h.toml"), scscf=str(tmp_path / "s.toml"),
                      icscf=str(tmp_path / "i.toml"), pcscf=str(tmp_path / "p.toml"))
    state = tmp_path / "state"
    nodes, _ = node_plans(files, state_dir=state)
    args = {n.name: n.args for n in nodes}
    assert args["hss"] == args["icscf"] == ()  # no registration state of their own
    for name in ("scscf", "pcscf"):
        assert args[name] == ("--set", "persist.backend=sqlite", "--set",
                              f"persist.path={(state / f'{name}-state.sqlite').resolve()}")
    assert state.is_dir()
    plain, _ = node_plans(files)
    assert all(n.args == () for n in plain)
