"""``ims-core lab``: the whole IMS core on loopback, four supervised child processes.

Theory of operation (``-c config/lab.toml``):

1. *Prepare* (blocking, before anything runs): read the lab and node configs; give the
   HSS a lab copy of its config with ``avoid_res_zero_octet`` on when the lab asks for it
   (SIPp compatibility, see below); seed the demo subscribers when the HSS store is
   empty; write the SIPp injection CSV into the data directory.
2. *Start* the nodes one at a time, HSS first, then S-CSCF, I-CSCF, P-CSCF (each one's
   next hop is up before it), each as ``python -m ims_core.cli <node> -c <file>`` in its
   own process group, and wait until each accepts TCP on its port (Diameter for the HSS,
   SIP for the CSCFs). Their output is forwarded line by line, prefixed with the node.
3. *Supervise*: print ``ims-core lab: ready`` and a SIPp command; restart nothing. When a
   child exits, say which and with what status, stop the others and exit 1.
4. *Stop* on SIGINT/SIGTERM (a second one kills at once): P-CSCF first, HSS last, each
   with SIGTERM by PID, SIGKILL after ``stop_timeout``; exit 0 when all stopped cleanly.

SIPp compatibility: SIPp 3.6.1 hashes RES with ``strlen()``, so a RES containing a 0x00
octet (~3 % of RANDs) yields a wrong response. ``hss_avoid_res_zero_octet = true`` (the
lab default) runs the HSS with ``cx.avoid_res_zero_octet`` so every SIPp registration can
succeed; it changes nothing for real UEs but the RAND distribution. Lab use only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ims_core.config import ConfigError, load

SOURCE_TREE = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = "config/lab.toml"
ORDER = ("hss", "scscf", "icscf", "pcscf")  # start order; stop order is the reverse


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
    data_dir: str = "data"
    seed_count: int = 1000
    hss_avoid_res_zero_octet: bool = True
    ready_timeout: float = 20.0
    stop_timeout: float = 10.0
    nodes: NodeFiles = dataclasses.field(default_factory=NodeFiles)
    sipp: SippHints = dataclasses.field(default_factory=SippHints)

    def __post_init__(self) -> None:
        if self.seed_count < 0:
            raise ConfigError("seed_count must be >= 0")
        if self.ready_timeout <= 0 or self.stop_timeout <= 0:
            raise ConfigError("ready_timeout and stop_timeout must be > 0")


@dataclasses.dataclass(frozen=True, slots=True)
class NodePlan:
    """One child: its name, config file and the TCP address that answers when ready."""

    name: str
    config: str
    probe: tuple[str, int]

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "ims_core.cli", self.name, "-c", self.config]


class LabError(Exception):
    """The lab cannot start: a config is missing or wrong, the store fails."""


def say(text: str) -> None:
    print(f"ims-core lab: {text}", flush=True)


# -- preparation (blocking) -------------------------------------------------------------


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0") else ("::1" if host == "::" else host)


def cscf_probe(path: Path) -> tuple[str, int]:
    """A CSCF's SIP address from its ``[sip]`` table (SipListen's defaults)."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LabError(f"{path}: {exc}") from None
    sip = data.get("sip", {})
    return _local(str(sip.get("host", "127.0.0.1"))), int(sip.get("port", 5060))


def toml_text(obj: Any) -> str:
    """A frozen config dataclass as TOML that :func:`ims_core.config.load` reads back
    (strings, numbers, booleans, arrays of those, nested tables)."""
    lines: list[str] = []
    tables: list[tuple[str, Any, bool]] = []  # (name, dataclass, array of tables)

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {type(v).__name__} as TOML")

    def emit(prefix: str, o: Any) -> None:
        for f in dataclasses.fields(o):
            v = getattr(o, f.name)
            if dataclasses.is_dataclass(v):
                tables.append((f"{prefix}{f.name}", v, False))
            elif isinstance(v, (list, tuple)) and v and dataclasses.is_dataclass(v[0]):
                tables.extend((f"{prefix}{f.name}", item, True) for item in v)
            elif v is not None:
                lines.append(f"{f.name} = {value(v)}")

    emit("", obj)
    while tables:
        name, o, array = tables.pop(0)
        lines.append(f"\n[[{name}]]" if array else f"\n[{name}]")
        emit(f"{name}.", o)
    return "\n".join(lines) + "\n"


def prepare_hss(lab: LabConfig, path: Path) -> tuple[Path, tuple[str, int], Any]:
    """The HSS config the lab runs with, its Diameter address, and the loaded config."""
    from hss.config import load_config

    try:
        cfg = load_config(path)
    except ConfigError as exc:
        raise LabError(str(exc)) from None
    if lab.hss_avoid_res_zero_octet and not cfg.cx.avoid_res_zero_octet:
        cfg = dataclasses.replace(cfg, cx=dataclasses.replace(cfg.cx, avoid_res_zero_octet=True))
        lab_copy = Path(lab.data_dir) / "lab-hss.toml"
        lab_copy.parent.mkdir(parents=True, exist_ok=True)
        lab_copy.write_text(f"# Written by `ims-core lab` from {path}: avoid_res_zero_octet on "
                            f"(SIPp compatibility).\n" + toml_text(cfg))
        path = lab_copy
    probe = (_local(cfg.diameter.listen_host), cfg.diameter.listen_port)
    return path, probe, cfg


def seed_and_export(lab: LabConfig, hss_cfg: Any) -> tuple[int, Path, int]:
    """Seed demo subscribers into an empty store; write the SIPp CSV. Returns (seeded,
    csv path, subscribers in the CSV)."""
    from hss import provision
    from hss.store import StoreError, open_store

    try:
        store = open_store(hss_cfg.store, data_dir=hss_cfg.data_dir, ind_bits=hss_cfg.cx.ind_bits)
    except StoreError as exc:
        raise LabError(f"HSS store: {exc}") from None
    try:
        seeded = 0
        if store.count() == 0 and lab.seed_count:
            seeded = store.add(provision.demo_subscribers(lab.seed_count, hss_cfg.cx.domain))
        text, _ = provision.sipp_csv(store.subscribers(), lab.sipp.calls or None)
    except StoreError as exc:
        raise LabError(f"HSS store: {exc}") from None
    finally:
        store.close()
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


def plan(lab: LabConfig) -> tuple[list[NodePlan], tuple[str, int] | None]:
    """Every node to start, in order, with its probe address; checks files exist."""
    nodes: list[NodePlan] = []
    for name in ORDER:
        file = getattr(lab.nodes, name)
        if not file:
            say(f"{name}: left out (nodes.{name} is empty)")
            continue
        path = Path(file)
        if not path.is_file():
            raise LabError(f"{name}: config file {path} not found")
        probe = ("", 0) if name == "hss" else cscf_probe(path)
        nodes.append(NodePlan(name, str(path), probe))
    if not nodes:
        raise LabError("no nodes to start")
    pcscf = next((n.probe for n in nodes if n.name == "pcscf"), None)
    return nodes, pcscf


# -- supervision (asyncio) ---------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child before exec: own process group; SIGTERM if the lab dies (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def _answers(host: str, port: int) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class Child:
    def __init__(self, node: NodePlan, proc: asyncio.subprocess.Process) -> None:
        self.node = node
        self.proc = proc
        self.pump: asyncio.Task[None] | None = None
        self.waiter: asyncio.Task[int] = asyncio.ensure_future(proc.wait())

    @property
    def exited(self) -> bool:
        return self.proc.returncode is not None


class Supervisor:
    def __init__(self, lab: LabConfig, nodes: Sequence[NodePlan],
                 on_ready: Callable[[], None]) -> None:
        self.lab = lab
        self.nodes = nodes
        self.on_ready = on_ready
        self.children: list[Child] = []
        self.stop = asyncio.Event()
        self.signals = 0
        self.width = max(len(n.name) for n in nodes)

    def _on_signal(self) -> None:
        self.signals += 1
        if self.signals > 1:  # the second Ctrl-C: no more patience
            for child in self.children:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
        self.stop.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)
        try:
            status = await self._start_all()
            if status is None:
                self.on_ready()
                status = await self._watch()
        finally:
            status_stop = await self._stop_all()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return status if status else status_stop

    async def _pump(self, child: Child) -> None:
        stream = child.proc.stdout
        assert stream is not None
        prefix = f"{child.node.name:<{self.width}} | "
        while line := await stream.readline():
            sys.stdout.write(prefix + line.decode("utf-8", "replace").rstrip("\r\n") + "\n")
            sys.stdout.flush()

    async def _start_all(self) -> int | None:
        """Start each node and wait for it; a status to exit with on failure, None when
        all are ready."""
        for node in self.nodes:
            # Something already answering there (another lab, a node still stopping) would
            # pass our readiness probe while our own node fails to bind: refuse up front.
            if await _answers(*node.probe):
                say(f"{node.name}: {node.probe[0]}:{node.probe[1]} is already in use "
                    "(another lab or node running?); nothing started")
                return 1
        for node in self.nodes:
            if self.stop.is_set():
                return 0
            proc = await asyncio.create_subprocess_exec(
                *node.argv(), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent,
            )
            child = Child(node, proc)
            child.pump = asyncio.ensure_future(self._pump(child))
            self.children.append(child)
            say(f"{node.name}: started (pid {proc.pid}, {node.config})")
            ready = await self._wait_ready(child)
            if ready is not None:
                return ready
        return None

    async def _wait_ready(self, child: Child) -> int | None:
        host, port = child.node.probe
        deadline = time.monotonic() + self.lab.ready_timeout
        while True:
            if child.exited:
                say(f"{child.node.name}: exited with status {child.proc.returncode} "
                    "before it was ready")
                return 1
            if self.stop.is_set():
                return 0
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    say(f"{child.node.name}: not listening on {host}:{port} after "
                        f"{self.lab.ready_timeout:g}s")
                    return 1
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            say(f"{child.node.name}: listening on {host}:{port}")
            return None

    async def _watch(self) -> int:
        """Until a signal (0) or a child's exit (1: reported, nothing restarted)."""
        stop = asyncio.ensure_future(self.stop.wait())
        try:
            waiters = {c.waiter: c for c in self.children}
            done, _ = await asyncio.wait([stop, *waiters], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        dead = [waiters[t] for t in done if t in waiters]
        for child in dead:
            say(f"{child.node.name} (pid {child.proc.pid}) exited with status "
                f"{child.proc.returncode}; stopping the others (nothing is restarted)")
        return 1 if dead else 0

    async def _stop_all(self) -> int:
        """Stop every child still running, upstream first; 0 if all exit cleanly."""
        status = 0
        for child in reversed(self.children):
            if not child.exited:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.shield(child.waiter), self.lab.stop_timeout)
                except TimeoutError:
                    say(f"{child.node.name}: no exit {self.lab.stop_timeout:g}s after "
                        "SIGTERM; SIGKILL")
                    with contextlib.suppress(ProcessLookupError):
                        child.proc.kill()
                    await child.waiter
                    status = 1
                code = child.proc.returncode
                if code not in (0, None) and status == 0 and code != -signal.SIGKILL:
                    say(f"{child.node.name}: stopped with status {code}")
                    status = 1
                else:
                    say(f"{child.node.name}: stopped")
            if child.pump is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(child.pump, 2.0)
        return status


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
        nodes, pcscf = plan(lab)
        hss = next((n for n in nodes if n.name == "hss"), None)
        csv_path, rows = Path(lab.data_dir) / "sipp_subscribers.csv", 0
        if hss is not None:
            hss_file, probe, hss_cfg = prepare_hss(lab, Path(hss.config))
            nodes = [NodePlan("hss", str(hss_file), probe) if n is hss else n for n in nodes]
            seeded, csv_path, rows = seed_and_export(lab, hss_cfg)
            if seeded:
                say(f"seeded {seeded} demo subscriber(s) into the empty HSS store")
            say(f"SIPp injection file: {csv_path} ({rows} subscriber(s))")
    except (LabError, ConfigError, OSError) as exc:
        say(f"error: {exc}")
        return 2
    command = sipp_command(lab, pcscf, csv_path, rows)

    def ready() -> None:
        names = ", ".join(f"{n.name} {n.probe[0]}:{n.probe[1]}" for n in nodes)
        say(f"ready: {names}")
        say("register the demo subscribers with IMS-AKA through the P-CSCF:")
        print(f"\n    {command}\n", flush=True)
        say("Ctrl-C stops all nodes")

    # Plain asyncio, not uvloop: under uvloop the PR_SET_PDEATHSIG set before exec does
    # not reach the children (libuv forks elsewhere), and the supervisor needs no speed.
    return asyncio.run(Supervisor(lab, nodes, ready).run())
