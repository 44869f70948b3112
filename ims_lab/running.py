"""A four-node lab (or an HSS alone) as child processes, synchronously, for the
end-to-end tests and the benchmarks.

:func:`start_lab` writes the node configs of an address plan into a work directory,
seeds demo subscribers, then starts the HSS, S-CSCF, I-CSCF and P-CSCF (each one's next
hop first) with ``python -m ims_lab.cli``, waiting until each listens. Output goes to
``<workdir>/<node>.log``; every child is stopped by its own PID, the P-CSCF first.
(``ims-core lab`` is the interactive supervisor of the same four, see :mod:`ims_lab.lab`.)
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hss.config import load_config
from hss.model import Subscriber

from .addresses import NODES, Addresses
from .plan import hss_config, write_node_configs
from .procs import IMS_CORE, Child, Processes, free_port, wait_listening
from .seed import seed_demo
from .tomlwrite import write_toml


@dataclass
class RunningLab:
    workdir: Path
    plan: Addresses
    configs: dict[str, Path]  # node → its config file
    procs: Processes
    sipp_csv: str  # ``ims-core subscriber sipp-csv`` for the seeded store
    children: dict[str, Child] = field(default_factory=dict)

    @property
    def pids(self) -> dict[str, int]:
        return {name: child.pid for name, child in self.children.items()}

    def logs(self, tail: int = 4000) -> str:
        """The nodes' recent output, for failure messages."""
        return "\n".join(f"--- {name} ---\n{c.output()[-tail:]}"
                         for name, c in self.children.items())

    def stop(self) -> None:
        self.procs.stop_all()


def start_lab(workdir: Path, plan: Addresses, *, subscribers: int,
              extra: Iterable[Subscriber] = (), log_level: str = "info",
              min_expires: int = 60, timeout: float = 20.0,
              pcscf_subscribe: bool = True, metrics: bool = False,
              t1: float = 0.5) -> RunningLab:
    """Seed ``subscribers`` demo subscribers (+ ``extra``) and start the four nodes of
    ``plan``, returned once each accepts TCP (``metrics``: with every node's metrics
    listener on, :meth:`Addresses.metrics`). On any failure whatever started is stopped
    and the error raised: RuntimeError naming the node (with its output), StoreError."""
    configs = write_node_configs(workdir, plan, log_level=log_level, min_expires=min_expires,
                                 pcscf_subscribe=pcscf_subscribe, metrics=metrics, t1=t1)
    _, csv_text = seed_demo(load_config(configs["hss"]), subscribers, extra=extra)
    lab = RunningLab(workdir, plan, configs, Processes(workdir), csv_text)
    try:
        for node in NODES:
            child = lab.procs.start(node, [*IMS_CORE, node, "-c", str(configs[node])])
            lab.children[node] = child
            try:
                wait_listening(*plan.probe(node), timeout=timeout, proc=child.proc)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{node}: {exc}\n{child.output()[-3000:]}") from None
    except BaseException:
        lab.stop()
        raise
    return lab


# The Origin-Host a Cx client of :func:`running_hss` uses: one of the peers it accepts.
CLIENT_HOST = Addresses().identity("scscf")


@dataclass
class HssProcess:
    host: str
    port: int
    config: Path
    proc: subprocess.Popen[bytes]


@contextlib.contextmanager
def running_hss(data_dir: Path, *, seed: int = 10, host: str = "127.0.0.4",
                env: dict[str, str] | None = None, workers: int = 4,
                avoid_res_zero_octet: bool = False,
                extra_peers: tuple[str, ...] = ()) -> Iterator[HssProcess]:
    """``ims-core hss`` alone on a free port of ``host`` with ``seed`` demo subscribers,
    its database, config and log (``hss.log``) in ``data_dir``."""
    plan = Addresses(hss=host, diameter_port=free_port(host))
    cfg = hss_config(plan, data_dir, avoid_res_zero_octet=avoid_res_zero_octet,
                     workers=workers, extra_peers=extra_peers)
    path = write_toml(data_dir / "hss.toml", cfg)
    seed_demo(cfg, seed)
    procs = Processes(data_dir)
    child = procs.start("hss", [*IMS_CORE, "hss", "-c", str(path)], env=env)
    try:
        wait_listening(*plan.probe("hss"), timeout=20, proc=child.proc)
        yield HssProcess(host, plan.diameter_port, path, child.proc)
    finally:
        procs.stop_all()
