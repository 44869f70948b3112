"""``ims-core lab``: the whole IMS core on loopback, the four nodes (and the HSS
provisioning API) as supervised child processes.

Theory of operation (``-c config/lab.toml``):

1. *Prepare* (blocking, before anything runs): read the lab config and the node configs
   (the ``[nodes]`` files, or, with an ``[addresses]`` table, configs written from that
   address plan into ``data_dir``); give the HSS a lab copy of its config with
   ``avoid_res_zero_octet`` on when the lab asks for it (SIPp compatibility, see below);
   seed the demo subscribers when the HSS store is empty; write the SIPp injection CSV
   into the data directory.
2. *Start* the nodes one at a time, HSS first, then S-CSCF, I-CSCF, P-CSCF (each one's
   next hop is up before it), each as ``python -m ims_lab.cli <node> -c <file>`` in its
   own process group, and wait until each accepts TCP on its port (Diameter for the HSS,
   SIP for the CSCFs) and, with ``metrics`` on (the default: ``--set
   metrics.enabled=true`` for every node, on the ``[metrics]`` address of its config),
   until its ``/readyz`` answers 200 (an I-/S-CSCF: once its Diameter connection to the
   HSS is open). Their output is forwarded line by line, prefixed with the node.
   With ``hss_api`` on (the default), the HSS provisioning API (``ims-core hss-api`` on
   the HSS's config and store) starts last and is up once its ``/readyz`` answers 200.
3. *Supervise*: print ``ims-core lab: ready``, the nodes' metrics URLs, the API's URL
   and where its key is, and a SIPp command; restart nothing. When a child exits, say
   which and with what status, stop the others and exit 1.
4. *Stop* on SIGINT/SIGTERM (a second one kills at once): in reverse order (the API,
   then P-CSCF first, HSS last), each with SIGTERM by PID, SIGKILL after
   ``stop_timeout``; exit 0 when all stopped cleanly.

SIPp compatibility: SIPp 3.6.1 hashes RES with ``strlen()``, so a RES containing a 0x00
octet (~3 % of RANDs) yields a wrong response. ``hss_avoid_res_zero_octet = true`` (the
lab default) runs the HSS with ``cx.avoid_res_zero_octet`` so every SIPp registration can
succeed; it changes nothing for real UEs but the RAND distribution. Lab use only.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from hss.config import HssConfig, load_config
from hss.store import StoreError
from ims_core.config import ConfigError, load
from ims_core.metrics.config import MetricsConfig

from .addresses import NODES, Addresses
from .seed import seed_demo
from .supervisor import NodePlan, Supervisor, say
from .tomlwrite import write_toml

SOURCE_TREE = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = "config/lab.toml"


@dataclasses.dataclass(frozen=True, slots=True)
class NodeFiles:
    """The config file of each node; an empty string leaves that node out."""

    hss: str = "config/hss.toml"
    scscf: str = "config/scscf.toml"
    icscf: str = "config/icscf.toml"
    pcscf: str = "config/pcscf.toml"


@dataclasses.dataclass(frozen=True, slots=True)
class SippHints:
    """What the printed SIPp command uses. ``scenario``: a relative path is looked up in
    the working directory, then in the source tree. ``calls`` 0 = every subscriber in
    the injection CSV once."""

    scenario: str = "config/sipp/register_aka.xml"
    local_ip: str = "127.0.0.100"
    local_port: int = 5070
    transport: str = "u1"
    rate: int = 50
    calls: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class LabConfig:
    """``addresses``: an address plan; the lab then writes the four node configs into
    ``data_dir`` instead of using ``nodes``."""

    data_dir: str = "data"
    seed_count: int = 1000
    hss_avoid_res_zero_octet: bool = True
    ready_timeout: float = 20.0
    stop_timeout: float = 10.0
    metrics: bool = True  # every node serves /metrics, /healthz, /readyz; ready = /readyz 200
    hss_api: bool = True  # `ims-core hss-api` on the HSS's config ([api] host:port)
    persist: bool = True  # S-CSCF and P-CSCF registrations in <data_dir>/<node>-state.sqlite
    nodes: NodeFiles = dataclasses.field(default_factory=NodeFiles)
    addresses: Addresses | None = None
    sipp: SippHints = dataclasses.field(default_factory=SippHints)

    def __post_init__(self) -> None:
        if self.seed_count < 0:
            raise ConfigError("seed_count must be >= 0")
        if self.ready_timeout <= 0 or self.stop_timeout <= 0:
            raise ConfigError("ready_timeout and stop_timeout must be > 0")
        if self.addresses is not None and self.nodes != NodeFiles():
            raise ConfigError("give [addresses] or [nodes], not both")


class LabError(Exception):
    """The lab cannot start: a config is missing or wrong, the store fails."""


# -- preparation (blocking) -------------------------------------------------------------


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0") else ("::1" if host == "::" else host)


def _table(path: Path, name: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LabError(f"{path}: {exc}") from None
    table = data.get(name, {})
    return table if isinstance(table, dict) else {}


def cscf_probe(path: Path) -> tuple[str, int]:
    """A CSCF's SIP address from its ``[sip]`` table (SipListen's defaults)."""
    sip = _table(path, "sip")
    return _local(str(sip.get("host", "127.0.0.1"))), int(sip.get("port", 5060))


def metrics_address(path: Path) -> tuple[str, int]:
    """Where a node's metrics listener is reached, from its ``[metrics]`` table."""
    default = MetricsConfig()
    m = _table(path, "metrics")
    return _local(str(m.get("host", default.host))), int(m.get("port", default.port))


def node_files(lab: LabConfig) -> NodeFiles:
    """``[nodes]``, or the configs of the ``[addresses]`` plan written into data_dir."""
    if lab.addresses is None:
        return lab.nodes
    # Only now: the node packages load when something needs them (as ims_core.cscf.cli).
    from .plan import write_node_configs

    paths = write_node_configs(Path(lab.data_dir), lab.addresses, log_level="info",
                               hss_log_level="info",
                               avoid_res_zero_octet=lab.hss_avoid_res_zero_octet,
                               metrics=lab.metrics,
                               persist=PERSISTENT if lab.persist else ())
    say(f"node configs for the address plan written to {Path(lab.data_dir).resolve()}")
    return NodeFiles(**{node: str(path) for node, path in paths.items()})


def prepare_hss(lab: LabConfig, path: Path) -> tuple[Path, tuple[str, int], HssConfig]:
    """The HSS config the lab runs with, its Diameter address, and the loaded config."""
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        raise LabError(str(exc)) from None
    if lab.hss_avoid_res_zero_octet and not cfg.cx.avoid_res_zero_octet:
        cfg = dataclasses.replace(cfg, cx=dataclasses.replace(cfg.cx, avoid_res_zero_octet=True))
        path = write_toml(Path(lab.data_dir) / "lab-hss.toml", cfg,
                          f"Written by `ims-core lab` from {path}: avoid_res_zero_octet on "
                          "(SIPp compatibility).")
    probe = (_local(cfg.diameter.listen_host), cfg.diameter.listen_port)
    return path, probe, cfg


def seed_and_export(lab: LabConfig, hss_cfg: HssConfig) -> tuple[int, Path, int]:
    """Seed demo subscribers into an empty store; write the SIPp CSV. Returns (seeded,
    csv path, subscribers in the CSV)."""
    try:
        seeded, text = seed_demo(hss_cfg, lab.seed_count, csv_count=lab.sipp.calls or None)
    except StoreError as exc:
        raise LabError(f"HSS store: {exc}") from None
    csv_path = Path(lab.data_dir) / "sipp_subscribers.csv"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    csv_path.write_text(text)
    return seeded, csv_path, text.count("\n") - 1


def find_file(name: str) -> Path | None:
    p = Path(name)
    for candidate in (p, SOURCE_TREE / p) if not p.is_absolute() else (p,):
        if candidate.is_file():
            return candidate
    return None


def sipp_command(lab: LabConfig, pcscf: tuple[str, int] | None, csv_path: Path,
                 rows: int) -> str:
    s = lab.sipp
    found = find_file(s.scenario)
    scenario = found.resolve() if found is not None else s.scenario
    csv_path = csv_path.resolve()  # absolute: the command runs from any directory
    target = pcscf or ("127.0.0.1", 5060)
    calls = min(s.calls or rows, rows) if rows else s.calls or lab.seed_count
    return (f"sipp {target[0]}:{target[1]} -sf {scenario} "
            f"-inf {csv_path} -i {s.local_ip} -p {s.local_port} -t {s.transport} "
            f"-r {s.rate} -m {calls} -trace_err -nostdin")


def node_plans(files: NodeFiles, *, metrics: bool = False, state_dir: Path | None = None
               ) -> tuple[list[NodePlan], tuple[str, int] | None]:
    """Every node to start, in order, with its probe address (and, with ``metrics``, its
    metrics listener turned on; with ``state_dir``, the S-CSCF's and P-CSCF's
    registrations kept in SQLite files there); checks files exist and metrics addresses
    differ."""
    nodes: list[NodePlan] = []
    for name in NODES:
        file = getattr(files, name)
        if not file:
            say(f"{name}: left out (nodes.{name} is empty)")
            continue
        path = Path(file)
        if not path.is_file():
            raise LabError(f"{name}: config file {path} not found")
        probe = ("", 0) if name == "hss" else cscf_probe(path)
        state = persist_args(name, state_dir)
        if not metrics:
            nodes.append(NodePlan(name, str(path), probe, state))
            continue
        address = metrics_address(path)
        taken = next((n.name for n in nodes if n.http == address), None)
        if taken is not None:
            raise LabError(f"{name} and {taken} have the same [metrics] address "
                           f"{address[0]}:{address[1]}")
        nodes.append(NodePlan(name, str(path), probe, (*METRICS_ON, *state), address,
                              metrics=True))
    if not nodes:
        raise LabError("no nodes to start")
    pcscf = next((n.probe for n in nodes if n.name == "pcscf"), None)
    return nodes, pcscf


METRICS_ON = ("--set", "metrics.enabled=true")
PERSISTENT = ("scscf", "pcscf")  # the nodes whose registrations survive a restart


def persist_args(name: str, state_dir: Path | None) -> tuple[str, ...]:
    """``--set``s keeping ``name``'s registrations in ``state_dir`` (none for the HSS and
    the I-CSCF, which keep no registration state of their own)."""
    if state_dir is None or name not in PERSISTENT:
        return ()
    state_dir.mkdir(parents=True, exist_ok=True)  # the HSS may be left out: nobody made it
    path = (state_dir / f"{name}-state.sqlite").resolve()
    return ("--set", "persist.backend=sqlite", "--set", f"persist.path={path}")
API = "hss-api"


def hss_api_plan(path: Path, cfg: HssConfig) -> NodePlan:
    """``ims-core hss-api`` on the HSS's config file: ready when its /readyz says so."""
    address = (_local(cfg.api.host), cfg.api.port)
    return NodePlan(API, str(path), address, http=address)


def api_key_hint(path: Path, cfg: HssConfig) -> str:
    """Where the API's key is: the config's ``[api] api_key``, or the file the API
    writes at its first start."""
    if cfg.api.api_key:
        return f"the [api] api_key of {path}"
    from hss.api.process import KEY_FILE  # only here: it loads the web framework

    key = (Path(cfg.data_dir) / KEY_FILE).resolve()
    return f"the key in {key} (made at the API's first start)"


def banner(nodes: list[NodePlan], sipp: str, api_key: str = "") -> list[str]:
    """What the lab prints once every node is ready (after ``ims-core lab: ``, or
    indented when the line starts with a space)."""
    names = ", ".join(f"{n.name} {n.probe[0]}:{n.probe[1]}" for n in nodes)
    lines = [f"ready: {names}"]
    if any(n.metrics for n in nodes):
        lines.append("metrics (Prometheus text format; /healthz and /readyz beside them):")
        lines += [f"    {n.name:<6} {n.url('/metrics')}" for n in nodes if n.metrics]
    api = next((n for n in nodes if n.name == API), None)
    if api is not None:
        lines += [f"HSS provisioning API: {api.url('/api/v1')} (OpenAPI: "
                  f"{api.url('/openapi.json')}); X-API-Key: {api_key}"]
    lines += ["register the demo subscribers with IMS-AKA through the P-CSCF:",
              f"\n    {sipp}\n", "Ctrl-C stops all nodes"]
    return lines


# -- the command -------------------------------------------------------------------------


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "lab", help="start the whole IMS core (HSS, S-, I-, P-CSCF) on loopback")
    p.add_argument("-c", "--config", default=DEFAULT_CONFIG, metavar="FILE",
                   help=f"lab config (default {DEFAULT_CONFIG}; built-in defaults if absent)")
    p.set_defaults(func=run)


def load_lab(path: str) -> LabConfig:
    if path == DEFAULT_CONFIG and not Path(path).exists():
        return LabConfig()
    return load(LabConfig, path)


def run(args: argparse.Namespace) -> int:
    try:
        lab = load_lab(args.config)
        nodes, pcscf = node_plans(
            node_files(lab), metrics=lab.metrics,
            state_dir=Path(lab.data_dir) if lab.persist and lab.addresses is None else None)
        hss = next((n for n in nodes if n.name == "hss"), None)
        csv_path, rows = Path(lab.data_dir) / "sipp_subscribers.csv", 0
        key = ""
        if hss is not None:
            hss_file, probe, hss_cfg = prepare_hss(lab, Path(hss.config))
            nodes = [dataclasses.replace(n, config=str(hss_file), probe=probe) if n is hss
                     else n for n in nodes]
            seeded, csv_path, rows = seed_and_export(lab, hss_cfg)
            if seeded:
                say(f"seeded {seeded} demo subscriber(s) into the empty HSS store")
            say(f"SIPp injection file: {csv_path} ({rows} subscriber(s))")
            if lab.hss_api:
                nodes.append(hss_api_plan(hss_file, hss_cfg))
                key = api_key_hint(hss_file, hss_cfg)
    except (LabError, ConfigError, OSError) as exc:
        say(f"error: {exc}")
        return 2
    command = sipp_command(lab, pcscf, csv_path, rows)

    def ready() -> None:
        for line in banner(nodes, command, key):
            if line.startswith((" ", "\n")):
                print(line, flush=True)
            else:
                say(line)

    # Plain asyncio, not uvloop: under uvloop the PR_SET_PDEATHSIG set before exec does
    # not reach the children (libuv forks elsewhere), and the supervisor needs no speed.
    return asyncio.run(Supervisor(nodes, ready, ready_timeout=lab.ready_timeout,
                                  stop_timeout=lab.stop_timeout).run())
