"""A compose project stood up as real hosts without Docker: one Linux bridge, one network
namespace per service (and per extra host such as a UE) on a veth with the address the
compose file gives it, each service's command run with the venv's ``ims-core`` inside its
namespace.

Mounts are mapped, not mounted: a bind mount's container path (``/etc/ims-core``) is
replaced by the host directory in the command arguments and the environment, a named
volume becomes a fresh directory under the work directory, mapped the same way. Every
process is started here, recorded by PID and stopped by PID (SIGTERM, then SIGKILL after a
grace period). The bridge, veths and namespaces carry a random token in their names and are
removed in :meth:`Topology.down`, which :func:`running` calls in a ``finally``.

Names resolve as Docker's embedded DNS answers them on the compose network: every
namespace gets ``/etc/netns/<namespace>/hosts`` mapping each service name to its compose
address, which ``ip netns exec`` bind-mounts over ``/etc/hosts`` for the processes it
starts (removed with the namespace).

Needs root and iproute2. Only the compose file's subnet is used; the bridge has no uplink
and the namespaces no default route, so nothing leaves the machine.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from ims_core.ipsec import check_support
from ims_lab.procs import Child, stop_process
from tests.docker.compose import Project, Service

__all__ = ["NETNS_ETC", "PREFIXES", "Host", "PathMap", "SubnetInUse", "Topology",
           "TopologyError", "hosts_file", "leftovers", "missing_requirements", "running"]

# Every name we create starts with one of these and carries the run's token.
BRIDGE_PREFIX, VETH_PREFIX, NETNS_PREFIX = "imsbr", "imsv", "imsns"
PREFIXES = (BRIDGE_PREFIX, VETH_PREFIX, NETNS_PREFIX)
ENTRYPOINT = "ims-core"  # the image's ENTRYPOINT (docker/Dockerfile)
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STOP_GRACE = 10.0  # seconds from SIGTERM to SIGKILL for other processes (`docker stop`'s)
# `ip netns exec NS` bind-mounts each file of /etc/netns/NS over the one of /etc.
NETNS_ETC = Path("/etc/netns")


class TopologyError(RuntimeError):
    """The topology could not be built or a service did not come up (with its log)."""


class SubnetInUse(TopologyError):
    """The compose subnet is already routed on this host (a running compose stack, or the
    bridge of a run that was killed before its teardown)."""


def compose_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the compose file is read with: the shell's, with the P-CSCF's IPsec
    (PCSCF_IPSEC, on in docker/.env) off where this kernel cannot do it (no ESP, or no
    CAP_NET_ADMIN): its SAs are tested in a VM (tests/vm)."""
    env = dict(os.environ if environ is None else environ)
    if "PCSCF_IPSEC" not in env and check_support() is not None:
        env["PCSCF_IPSEC"] = "false"
    return env


def missing_requirements() -> str | None:
    """Why the harness cannot run here, or None."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces and a bridge need root"
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20,
                          check=False)
    if check and proc.returncode != 0:
        raise TopologyError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def leftovers(token: str) -> list[str]:
    """Namespaces, links and namespace /etc directories of the run ``token`` that still
    exist."""
    names = [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line]
    links = [m.group(1) for m in re.finditer(r"^\d+: ([^:@\s]+)", _ip("-o", "link").stdout,
                                             re.MULTILINE)]
    etc = [str(p) for p in (NETNS_ETC.iterdir() if NETNS_ETC.is_dir() else ())
           if p.name.startswith(NETNS_PREFIX) and token in p.name]
    return [n for n in [*names, *links]
            if n.startswith(PREFIXES) and token in n] + etc


def hosts_file(project: Project) -> str:
    """An /etc/hosts answering each service name with its compose address, as Docker's
    embedded DNS does on a user-defined network."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{service.ipv4_address}\t{name}" for name, service in project.services.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class PathMap:
    """Container path → host path, applied where a container path appears as a whole path
    or a path prefix inside a command argument or an environment value."""

    mounts: tuple[tuple[str, str], ...]

    def apply(self, text: str) -> str:
        for container, host in sorted(self.mounts, key=lambda m: -len(m[0])):
            pattern = rf"(?<![\w./-]){re.escape(container.rstrip('/'))}(?=/|$|[^\w.-])"
            text = re.sub(pattern, host.replace("\\", r"\\"), text)
        return text


@dataclass
class Host:
    name: str
    netns: str
    veth: str
    address: ipaddress.IPv4Address

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]

    @property
    def etc(self) -> Path:
        """Files here replace those of /etc for what runs in the namespace."""
        return NETNS_ETC / self.netns


@dataclass(frozen=True)
class ServiceContext:
    """What a service's processes see: its host, mapped paths, environment, directory."""

    service: Service
    host: Host
    paths: PathMap
    env: dict[str, str]
    workdir: Path


@dataclass
class ServiceRun:
    context: ServiceContext
    child: Child
    started: float
    next_probe: float  # when Docker would run the next healthcheck
    healthy: bool = False
    failures: int = 0  # consecutive failed probes after the start period
    last_probe: str = "no probe yet"

    @property
    def service(self) -> Service:
        return self.context.service


@dataclass
class Topology:
    project: Project
    workdir: Path
    venv_bin: Path = field(default_factory=lambda: Path(sys.executable).parent)
    token: str = field(default_factory=lambda: secrets.token_hex(2))
    hosts: dict[str, Host] = field(default_factory=dict)
    services: dict[str, ServiceRun] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    exit_codes: dict[str, int] = field(default_factory=dict)
    up_seconds: float = 0.0
    _bridge: str | None = None

    def __post_init__(self) -> None:
        if not (self.venv_bin / ENTRYPOINT).exists():
            raise TopologyError(f"no {ENTRYPOINT} in {self.venv_bin} (run from the venv)")

    @property
    def bridge(self) -> str:
        return f"{BRIDGE_PREFIX}{self.token}"

    # -- network --------------------------------------------------------------------------

    def create_network(self) -> None:
        """The bridge with the gateway address, then one namespace per service."""
        network = self.project.network
        self._refuse_overlap()
        _ip("link", "add", self.bridge, "type", "bridge")
        self._bridge = self.bridge
        _ip("addr", "add", f"{network.gateway}/{network.subnet.prefixlen}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for name in self.project.start_order():
            self.add_host(name, self.project.services[name].ipv4_address)

    def _refuse_overlap(self) -> None:
        subnet = self.project.network.subnet
        for line in _ip("-4", "route", "show").stdout.splitlines():
            words = line.split()
            if not words or words[0] == "default":
                continue
            try:
                route = ipaddress.IPv4Network(words[0], strict=False)
            except ValueError:
                continue
            if not route.overlaps(subnet):
                continue
            device = words[words.index("dev") + 1] if "dev" in words[:-1] else "?"
            token = device[len(BRIDGE_PREFIX):]
            hint = ("pick another subnet (TEST_NETWORK and the addresses in docker/.env)"
                    if not device.startswith(BRIDGE_PREFIX) else
                    f"the bridge of an earlier run that was not torn down: `ip link del "
                    f"{device}` and `ip netns del` its {NETNS_PREFIX}{token}-* namespaces")
            raise SubnetInUse(f"{subnet} is already routed on this host ({line.strip()}); "
                              f"{hint}")

    def free_address(self) -> ipaddress.IPv4Address:
        """The highest address of the subnet no service (of any profile), host or the
        gateway uses."""
        taken = {self.project.network.gateway, *self.project.reserved,
                 *(h.address for h in self.hosts.values())}
        for address in reversed(list(self.project.network.subnet.hosts())):
            if address not in taken:
                return address
        raise TopologyError(f"no free address left in {self.project.network.subnet}")

    def add_host(self, name: str, address: ipaddress.IPv4Address | None = None) -> Host:
        """A namespace on the bridge with ``address`` (default: a free one), lo up."""
        if name in self.hosts:
            raise TopologyError(f"host {name!r} exists")
        if self._bridge is None:
            raise TopologyError("create_network() first")
        address = address or self.free_address()
        host = Host(name, f"{NETNS_PREFIX}{self.token}-{name}",
                    f"{VETH_PREFIX}{self.token}{len(self.hosts):02d}", address)
        self.hosts[name] = host  # recorded before creation: down() removes what exists
        prefix = self.project.network.subnet.prefixlen
        _ip("netns", "add", host.netns)
        host.etc.mkdir(parents=True, exist_ok=True)
        (host.etc / "hosts").write_text(hosts_file(self.project))
        _ip("link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns",
            host.netns)
        _ip("link", "set", host.veth, "master", self.bridge, "up")
        _ip("-n", host.netns, "addr", "add", f"{address}/{prefix}", "dev", "eth0")
        _ip("-n", host.netns, "link", "set", "eth0", "up")
        _ip("-n", host.netns, "link", "set", "lo", "up")
        return host

    # -- services -------------------------------------------------------------------------

    def context(self, name: str) -> ServiceContext:
        """Service ``name``'s mapped paths (named volumes as directories under the work
        directory, shared by the services mounting them), environment and directory."""
        service = self.project.services[name]
        mounts = []
        for i, volume in enumerate(service.volumes):
            if volume.named:
                host = self.workdir / "volumes" / (volume.source or f"{name}-anonymous{i}")
                host.mkdir(parents=True, exist_ok=True)
                mounts.append((volume.target, str(host)))
            else:
                mounts.append((volume.target, volume.source))
        paths = PathMap(tuple(mounts))
        self.refuse_unmapped(service, paths)
        workdir = self.workdir / name
        workdir.mkdir(parents=True, exist_ok=True)
        base = {"PATH": f"{self.venv_bin}:{BASE_PATH}", "HOME": str(workdir)}
        env = {**base, **{k: paths.apply(v) for k, v in service.environment.items()}}
        return ServiceContext(service, self.hosts[name], paths, env, workdir)

    @staticmethod
    def refuse_unmapped(service: Service, paths: PathMap) -> None:
        """A mounted config naming a container path would make the process use that path
        on this host: such a path must come from the command or the environment."""
        for volume in service.volumes:
            source = Path(volume.source)
            if volume.named or not source.is_dir():
                continue
            for path in sorted(source.glob("*.toml")):
                try:
                    values = list(_strings(tomllib.loads(path.read_text())))
                except (OSError, tomllib.TOMLDecodeError):
                    continue  # the node reports its own config errors
                for container, host in paths.mounts:
                    one = PathMap(((container, host),))
                    named = [v for v in values if one.apply(v) != v]
                    if named:
                        raise TopologyError(
                            f"{path} names {container} ({named[0]!r}), which exists only in "
                            f"the container; give it in {service.name}'s environment or "
                            "command instead")

    def _executable(self, argv: Sequence[str]) -> list[str]:
        if argv and argv[0] == ENTRYPOINT:
            return [str(self.venv_bin / ENTRYPOINT), *argv[1:]]
        return list(argv)

    def start_service(self, name: str) -> ServiceRun:
        ctx = self.context(name)
        argv = self._executable([ENTRYPOINT, *(ctx.paths.apply(a) for a in
                                               ctx.service.command)])
        child = self.start_process(name, ctx.host, argv, env=ctx.env, cwd=ctx.workdir)
        started = time.monotonic()
        hc = ctx.service.healthcheck
        run = ServiceRun(ctx, child, started, started + (hc.delay(0.0) if hc else 0.0))
        self.services[name] = run
        return run

    def start_process(self, name: str, host: Host, argv: Sequence[str], *,
                      env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Child:
        """``argv`` in ``host``'s namespace (``ip netns exec`` execs it: the PID is the
        command's own), output in ``workdir/<name>.log``; stopped by :meth:`down`."""
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(host.argv(argv), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, cwd=cwd or self.workdir,
                                    env=dict(env) if env is not None else None)
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def run_in(self, name: str, argv: Sequence[str], *, timeout: float = 30.0
               ) -> subprocess.CompletedProcess[str]:
        """A one-off command as service ``name`` would run it (its namespace, environment,
        mapped paths and directory), ``ims-core`` meaning the venv's."""
        ctx = self.context(name)
        full = self._executable([ctx.paths.apply(a) for a in argv])
        return subprocess.run(ctx.host.argv(full), capture_output=True, text=True,
                              timeout=timeout, cwd=ctx.workdir, env=ctx.env, check=False)

    def up(self, timeout: float = 40.0) -> float:
        """Start the services in dependency order, each once the conditions on its
        dependencies hold, then wait until every service with a healthcheck is healthy
        (``docker compose up --wait``); the seconds it took."""
        begin = time.monotonic()
        deadline = begin + timeout
        for name in self.project.start_order():
            for dep, condition in self.project.services[name].depends_on.items():
                self._await(dep, condition, deadline)
            self.start_service(name)
        for name, run in self.services.items():
            if run.service.healthcheck is not None:
                self._await(name, "service_healthy", deadline)
        self.up_seconds = time.monotonic() - begin
        return self.up_seconds

    def _await(self, name: str, condition: str, deadline: float) -> None:
        run = self.services[name]
        if condition == "service_started":
            return
        if condition == "service_completed_successfully":
            remaining = max(0.0, deadline - time.monotonic())
            try:
                code = run.child.proc.wait(remaining)
            except subprocess.TimeoutExpired:
                raise TopologyError(f"{name} did not complete in time\n{self.logs()}") from None
            if code != 0:
                raise TopologyError(f"{name} exited with {code}\n{self.logs()}")
            return
        self._wait_healthy(run, deadline)

    def _wait_healthy(self, run: ServiceRun, deadline: float) -> None:
        """Docker's health rules: probes from the service's start, every start_interval
        during the start period and every interval after it, each once the previous one
        ended; healthy at the first success, unhealthy after ``retries`` consecutive
        failures outside the start period. Bounded by ``deadline``."""
        hc = run.service.healthcheck
        name = run.service.name
        if hc is None:
            raise TopologyError(f"service_healthy on {name}, which has no healthcheck")
        ctx = run.context
        argv = self._executable([ctx.paths.apply(a) for a in hc.test])
        while not run.healthy:
            if not self._sleep_watching(run, run.next_probe, deadline):
                raise TopologyError(f"{name} not healthy in time ({run.last_probe})"
                                    f"{self._bridge_hint()}\n{self.logs()}")
            begin = time.monotonic()
            probe_timeout = max(0.1, min(hc.timeout, deadline - begin))
            try:
                probe = subprocess.run(ctx.host.argv(argv), capture_output=True, text=True,
                                       timeout=probe_timeout, cwd=ctx.workdir, env=ctx.env,
                                       check=False)
                run.last_probe = (f"exit {probe.returncode}: "
                                  f"{(probe.stdout + probe.stderr).strip()}")
                run.healthy = probe.returncode == 0
            except subprocess.TimeoutExpired:
                run.last_probe = f"no answer within {probe_timeout:.1f}s"
            if run.healthy:
                return
            if begin - run.started >= hc.start_period:
                run.failures += 1
            if run.failures >= hc.retries:
                raise TopologyError(f"{name} unhealthy after {run.failures} probes "
                                    f"({run.last_probe}){self._bridge_hint()}\n{self.logs()}")
            now = time.monotonic()
            run.next_probe = now + hc.delay(now - run.started)

    def _sleep_watching(self, run: ServiceRun, until: float, deadline: float) -> bool:
        """Sleep until ``until`` (True) or ``deadline`` (False if that comes first),
        failing at once when the service exits."""
        while True:
            code = run.child.proc.poll()
            if code is not None:
                raise TopologyError(f"{run.service.name} exited with {code}\n{self.logs()}")
            now = time.monotonic()
            if now >= until:
                return True
            if now >= deadline:
                return False
            time.sleep(min(0.1, until - now, max(deadline - now, 0.01)))

    @staticmethod
    def _bridge_hint() -> str:
        path = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
        if path.exists() and path.read_text().strip() == "1":
            return ("; note: bridged traffic passes the host's iptables "
                    "(bridge-nf-call-iptables=1): a FORWARD DROP policy would cut it")
        return ""

    def logs(self, tail: int = 1500) -> str:
        return "\n".join(f"--- {c.name} (pid {c.pid}) ---\n{c.output()[-tail:]}"
                         for c in self.children)

    # -- teardown -------------------------------------------------------------------------

    def stop_processes(self, grace: float | None = None) -> dict[str, int]:
        """Stop every process started here, by its PID, the last started first: SIGTERM,
        SIGKILL after ``grace`` (default: a service's stop_grace_period)."""
        while self.children:
            child = self.children.pop()
            run = self.services.get(child.name)
            wait = grace if grace is not None else (
                run.service.stop_grace_period if run is not None else STOP_GRACE)
            self.exit_codes[child.name] = stop_process(child.proc, signal.SIGTERM, wait)
        return self.exit_codes

    def down(self, grace: float | None = None) -> list[str]:
        """Processes, veths, namespaces, bridge: all removed (errors collected, not
        raised, so that one failure does not leave the rest); what remains."""
        try:
            self.stop_processes(grace)
        finally:
            for host in reversed(list(self.hosts.values())):
                _ip("link", "del", host.veth, check=False)
                _ip("netns", "del", host.netns, check=False)
                shutil.rmtree(host.etc, ignore_errors=True)
            self.hosts.clear()
            with suppress(OSError):
                NETNS_ETC.rmdir()  # only when empty: no other namespace has files there
            if self._bridge is not None:
                _ip("link", "del", self._bridge, check=False)
                self._bridge = None
        return leftovers(self.token)


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


@contextmanager
def running(project: Project, workdir: Path, *, extra_hosts: Sequence[str] = ("ue",),
            timeout: float = 40.0,
            prepare: Callable[[Topology], object] | None = None) -> Iterator[Topology]:
    """The project up and healthy, plus ``extra_hosts`` (free addresses of the subnet);
    ``prepare`` runs once the network exists, before any service starts. Always torn down
    afterwards, also when building it fails."""
    topology = Topology(project, workdir)
    try:
        topology.create_network()
        for name in extra_hosts:
            topology.add_host(name)
        if prepare is not None:
            prepare(topology)
        topology.up(timeout)
        yield topology
    finally:
        topology.down()
