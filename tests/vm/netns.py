"""Network namespaces on one bridge, for scenarios that run INSIDE the VM guest (where
xfrm state, qdiscs and namespaces are the guest's own): each namespace gets a veth
(``eth0`` inside) on the bridge with one or more IPv4 addresses of one subnet, ``lo`` up.

The bridge, veths, namespaces and process handling are those of the compose harness
(:class:`tests.docker.netns.Topology`, used directly, with a project that has no
services): names carry a random token, processes are stopped by PID, and
:meth:`Topology.down` removes everything. This module only adds several addresses per
namespace and a namespace-first interface.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ims_lab.procs import Child, stop_process
from tests.docker.compose import Network, Project
from tests.docker.netns import Host, Topology, TopologyError, _ip, missing_requirements

__all__ = ["Bridged", "Host", "TopologyError", "bridged", "missing_requirements"]


@dataclass
class Bridged:
    """The namespaces of one :func:`bridged` block."""

    topology: Topology
    addresses: dict[str, tuple[ipaddress.IPv4Address, ...]] = field(default_factory=dict)

    def host(self, namespace: str) -> Host:
        return self.topology.hosts[namespace]

    def popen(self, namespace: str, name: str, argv: Sequence[str], *,
              env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Child:
        """``argv`` started in ``namespace`` (``ip netns exec`` execs it: the PID is the
        command's own), output in ``<workdir>/<name>.log``; stopped by :meth:`down` unless
        :meth:`stop` stopped it first."""
        return self.topology.start_process(name, self.host(namespace), argv, env=env,
                                           cwd=cwd)

    def run(self, namespace: str, argv: Sequence[str], *, timeout: float = 30.0,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """A one-off command in ``namespace``, its output captured."""
        return subprocess.run(self.host(namespace).argv(argv), capture_output=True,
                              text=True, timeout=timeout, check=False,
                              env=dict(env) if env is not None else None)

    def stop(self, child: Child, timeout: float = 10.0) -> int:
        """Stop one process started here (SIGTERM, then SIGKILL); its exit status."""
        if child in self.topology.children:
            self.topology.children.remove(child)
        return stop_process(child.proc, timeout=timeout)

    def logs(self) -> str:
        return self.topology.logs()

    def down(self) -> list[str]:
        """Processes, veths, namespaces and the bridge removed; what remains."""
        return self.topology.down()


def _network(subnet: ipaddress.IPv4Network, gateway: str | None,
             taken: set[ipaddress.IPv4Address]) -> Network:
    free = (a for a in subnet.hosts() if a not in taken)
    address = ipaddress.IPv4Address(gateway) if gateway is not None else next(free, None)
    if address is None:
        raise TopologyError(f"no address of {subnet} left for the bridge")
    if address not in subnet or address in taken:
        raise TopologyError(f"bridge address {address}: not free in {subnet}")
    return Network("vm", subnet, address)


@contextmanager
def bridged(namespaces: Mapping[str, Sequence[str]], *, subnet: str, workdir: Path,
            gateway: str | None = None) -> Iterator[Bridged]:
    """One namespace per entry of ``namespaces`` (name → its IPv4 addresses, the first
    one primary), all on a new bridge that holds ``gateway`` (default: the lowest free
    address of ``subnet``). Torn down on exit, also when building fails."""
    net = ipaddress.IPv4Network(subnet)
    parsed = {name: tuple(ipaddress.IPv4Address(a) for a in addresses)
              for name, addresses in namespaces.items()}
    every = [a for addresses in parsed.values() for a in addresses]
    for name, addresses in parsed.items():
        if not addresses:
            raise TopologyError(f"namespace {name!r} has no address")
        outside = [str(a) for a in addresses if a not in net]
        if outside:
            raise TopologyError(f"namespace {name!r}: {', '.join(outside)} not in {net}")
    if len(set(every)) != len(every):
        raise TopologyError("an address is given twice")
    project = Project(directory=workdir, services={},
                      network=_network(net, gateway, set(every)), named_volumes=())
    lab = Bridged(Topology(project, workdir))
    try:
        lab.topology.create_network()
        for name, addresses in parsed.items():
            host = lab.topology.add_host(name, addresses[0])
            for extra in addresses[1:]:
                _ip("-n", host.netns, "addr", "add", f"{extra}/{net.prefixlen}", "dev", "eth0")
            lab.addresses[name] = addresses
        yield lab
    finally:
        lab.down()
