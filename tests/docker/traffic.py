"""IMS traffic through a topology stood up by :mod:`tests.docker.netns`: SIPp IMS-AKA
registrations, calls between two registered SIPp UEs, and our UE registering like a
softphone (MD5, no Authorization first). Used by the test and by ``run_topology``.

The nodes are found by the command the compose file gives them (``hss``, ``pcscf``,
``scscf``), and what the traffic needs from them (the P-CSCF's port, the home domain, the
S-CSCF's Service-Route) is read with :func:`ims_core.config.load` from the config and the
environment the service itself runs with, so it cannot disagree with the nodes.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hss.config import HssConfig
from hss.provision import DEMO_PASSWORD
from ims_core.config import load
from ims_core.pcscf.config import PcscfConfig
from ims_core.scscf.config import ScscfConfig
from ims_lab.plan import imsi, split_sipp_csv
from tests.docker.netns import ENTRYPOINT, Host, Topology, TopologyError
from tests.ims.conftest import UeResult
from tests.integration.conftest import SippResult, run_sipp

__all__ = ["SCENARIOS", "Plan", "Traffic", "ensure_seeded", "node_service"]

SCENARIOS = Path(__file__).resolve().parents[2] / "config" / "sipp"
T = TypeVar("T")
HOLD_MS = 120_000  # the callee's registration stays up this long at most (stopped earlier)


@dataclass(frozen=True)
class Plan:
    """Which demo subscribers (numbers, :func:`ims_lab.plan.imsi`) do what."""

    registrations: int
    calls: int

    @property
    def caller(self) -> int:
        return self.registrations + 1

    @property
    def callee(self) -> int:
        return self.registrations + 2

    @property
    def softphone(self) -> int:
        return self.registrations + 3

    @property
    def subscribers(self) -> int:
        return self.registrations + 3


def node_service(topology: Topology, node: str) -> str:
    """The service whose command runs ``node`` (``ims-core <node> ...``)."""
    for name, service in topology.project.services.items():
        if service.command[:1] == (node,):
            return name
    raise TopologyError(f"no service runs ims-core {node}")


def _config_args(command: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """The ``-c FILE`` and ``--set`` values of a node command."""
    config, sets = None, []
    args = iter(command[1:])
    for arg in args:
        if arg in ("-c", "--config"):
            config = next(args, None)
        elif arg == "--set":
            sets.append(next(args, ""))
        elif arg.startswith(("--config=", "--set=")):
            key, _, value = arg.partition("=")
            if key == "--set":
                sets.append(value)
            else:
                config = value
    return config, sets


def node_config(topology: Topology, node: str, cls: type[T]) -> T:
    """The config ``node``'s service runs with: its file, environment and ``--set``s."""
    ctx = topology.context(node_service(topology, node))
    config, sets = _config_args(ctx.service.command)
    if config is None:
        raise TopologyError(f"{ctx.service.name}: the command names no config (-c FILE)")
    return load(cls, ctx.paths.apply(config),
                overrides=[ctx.paths.apply(s) for s in sets], environ=ctx.env)


def ensure_seeded(topology: Topology, plan: Plan) -> str:
    """Before the HSS starts: nothing when its config seeds enough demo subscribers at
    start; else seed them into its store with ``ims-core subscriber seed`` (what is done
    is returned, to be reported)."""
    count = node_config(topology, "hss", HssConfig).seed.count
    if count >= plan.subscribers:
        return f"the HSS seeds {count} demo subscribers at start ([seed] count)"
    name = node_service(topology, "hss")
    command = topology.project.services[name].command
    done = topology.run_in(name, [ENTRYPOINT, "subscriber", *command[1:], "seed",
                                  "--count", str(plan.subscribers)], timeout=120)
    if done.returncode != 0:
        raise TopologyError(f"ims-core subscriber seed: {done.stdout}{done.stderr}")
    return (f"seeded {plan.subscribers} demo subscribers beforehand with `ims-core subscriber "
            f"seed` (the HSS config seeds {count})")


@dataclass
class Sipp:
    name: str
    result: SippResult
    expected: int
    workdir: Path

    def summary(self) -> str:
        return (f"{self.name}: {self.result.successful} successful, {self.result.failed} "
                f"failed of {self.expected} (exit {self.result.returncode})")

    def detail(self) -> str:
        errors = self.workdir / f"{self.name}_errors.log"
        text = errors.read_text(errors="replace")[-3000:] if errors.exists() else ""
        return f"{self.summary()}\n{self.result.screen[-3000:]}\n{text}"

    @property
    def ok(self) -> bool:
        return (self.result.returncode == 0 and self.result.successful == self.expected
                and self.result.failed == 0)


class Traffic:
    """SIPp and our UE against the topology's P-CSCF, from the topology's extra hosts."""

    def __init__(self, topology: Topology, plan: Plan) -> None:
        self.topology = topology
        self.plan = plan
        self.workdir = topology.workdir
        pcscf = node_config(topology, "pcscf", PcscfConfig)
        scscf = node_config(topology, "scscf", ScscfConfig)
        address = topology.project.services[node_service(topology, "pcscf")].ipv4_address
        self.pcscf = f"{address}:{pcscf.sip.port}"
        self.domain = pcscf.domain
        # The UE's preloaded Route: its P-CSCF, then the Service-Route the S-CSCF returns
        # in the 200 to REGISTER (TS 24.229 §5.1.2A.1.1, RFC 3608).
        self.route = f"<sip:{self.pcscf};lr>,{scscf.service_route}"
        seed = node_config(topology, "hss", HssConfig).seed
        if seed.count and seed.first != imsi(1):
            raise TopologyError(f"the HSS seeds from IMSI {seed.first}; the traffic uses the "
                                f"demo subscribers from {imsi(1)}")
        self.csv = self._injection_files()

    def _injection_files(self) -> dict[str, Path]:
        """SIPp injection files from the HSS's own store (read only), one per role."""
        name = node_service(self.topology, "hss")
        command = self.topology.project.services[name].command
        out = self.topology.run_in(name, [ENTRYPOINT, "subscriber", *command[1:],
                                          "sipp-csv", "--count", str(self.plan.subscribers)])
        if out.returncode != 0:
            raise TopologyError(f"ims-core subscriber sipp-csv: {out.stdout}{out.stderr}")
        plan = self.plan
        texts = split_sipp_csv(out.stdout, {
            "registrations": range(1, plan.registrations + 1),
            "caller": range(plan.caller, plan.caller + 1),
            "callee": range(plan.callee, plan.callee + 1),
        })
        files = {}
        for role, text in texts.items():
            files[role] = self.workdir / f"{role}.csv"
            files[role].write_text(text)
        return files

    def _sipp(self, name: str, host: Host, argv: list[str], expected: int,
              timeout: float) -> Sipp:
        full = host.argv(["sipp", self.pcscf, *argv, "-i", str(host.address), "-nostdin",
                          "-trace_err", "-error_file", str(self.workdir / f"{name}_errors.log")])
        return Sipp(name, run_sipp(self.workdir, name, full, timeout), expected, self.workdir)

    def register(self, host: Host, *, port: int = 5070, rate: int = 100,
                 timeout: float = 60.0) -> Sipp:
        """One IMS-AKA registration per row of the registrations file."""
        count = self.plan.registrations
        return self._sipp("sipp_register", host, [
            "-sf", str(SCENARIOS / "register_aka.xml"), "-inf", str(self.csv["registrations"]),
            "-p", str(port), "-t", "u1", "-m", str(count), "-r", str(rate), "-l", "200",
            "-timeout", f"{int(timeout)}s", "-timeout_error", "-recv_timeout", "10000",
        ], count, timeout + 15)

    def start_callee(self, host: Host, *, port: int = 5080, wait: float = 15.0) -> None:
        """SIPp registered as the callee (config/sipp/uas_aka.xml), serving the calls it
        receives out of call (uas_calls.xml) over the flow it registered from; returns once
        its log says it registered. Stopped by the topology's teardown."""
        log = self.workdir / "callee_logs.log"
        child = self.topology.start_process("sipp_callee", host, [
            "sipp", self.pcscf, "-sf", str(SCENARIOS / "uas_aka.xml"),
            "-oocsf", str(SCENARIOS / "uas_calls.xml"), "-inf", str(self.csv["callee"]),
            "-i", str(host.address), "-p", str(port), "-t", "u1", "-m", "1",
            "-d", str(HOLD_MS), "-nostdin", "-timeout", f"{HOLD_MS // 1000 + 10}s",
            "-trace_logs", "-log_file", str(log), "-trace_err", "-error_file",
            str(self.workdir / "callee_errors.log"),
        ])
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if log.exists() and "registered" in log.read_text(errors="replace"):
                return
            if child.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise TopologyError(f"the SIPp callee did not register:\n{child.output()[-2000:]}")

    def call(self, host: Host, *, port: int = 5090, rate: int = 20,
             timeout: float = 60.0) -> Sipp:
        """config/sipp/uac_aka.xml: its first call registers the caller, the others each
        call the callee (INVITE / 180 / 200 / ACK / BYE)."""
        callee = f"sip:{imsi(self.plan.callee)}@{self.domain}"
        total = self.plan.calls + 1
        return self._sipp("sipp_calls", host, [
            "-sf", str(SCENARIOS / "uac_aka.xml"), "-inf", str(self.csv["caller"]),
            "-p", str(port), "-t", "u1", "-m", str(total), "-r", str(rate), "-l", "200",
            "-key", "callee", callee, "-key", "route", self.route, "-key", "flow", "call",
            "-key", "mode", "reg", "-timeout", f"{int(timeout)}s", "-timeout_error",
            "-recv_timeout", "10000",
        ], total, timeout + 15)

    def softphone_register(self, host: Host, *, port: int = 5100) -> UeResult:
        """``ims-core ue register --auth md5``: no Authorization in the first REGISTER, the
        MD5 challenge answered with the demo password."""
        argv = [str(self.topology.venv_bin / ENTRYPOINT), "ue", "register",
                "--pcscf", self.pcscf, "--imsi", imsi(self.plan.softphone),
                "--domain", self.domain, "--auth", "md5", "--password", DEMO_PASSWORD,
                "--local", f"{host.address}:{port}", "--json", "--timeout", "8"]
        proc = subprocess.run(host.argv(argv), capture_output=True, text=True, timeout=60,
                              cwd=self.workdir, check=False)
        return UeResult.of(proc)

