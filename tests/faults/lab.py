"""The four-node lab with some next hops pointed elsewhere (at impairment relays) or
another HSS store.

:func:`start_rewired_lab` is :func:`ims_lab.running.start_lab` with the P-CSCF's I-CSCF,
the I-CSCF's S-CSCF, the S-CSCF's I-CSCF and the HSS's ``[store]`` replaced in the
configs it writes, so the start sequence, seeding and stopping stay that function's own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from hss.config import StoreConfig
from ims_lab import running
from ims_lab.plan import (
    Addresses,
    hss_config,
    icscf_config,
    pcscf_config,
    scscf_config,
    split_sipp_csv,
    write_node_configs,
)
from ims_lab.running import RunningLab, start_lab
from ims_lab.tomlwrite import write_toml


@dataclass(frozen=True, slots=True)
class Hops:
    """``host:port`` each next hop is sent to instead of the node itself ("" keeps it)."""

    pcscf_to_icscf: str = ""
    icscf_to_scscf: str = ""
    scscf_to_icscf: str = ""
    hss_store: StoreConfig | None = None  # None keeps the plan's SQLite file


def _rewire(plan: Addresses, hops: Hops, configs: dict[str, Path], **kw: Any) -> None:
    level, metrics = kw.get("log_level", "info"), kw.get("metrics", False)
    if hops.pcscf_to_icscf:
        cfg = pcscf_config(plan, log_level=level, subscribe=kw.get("pcscf_subscribe", True),
                           metrics=metrics)
        write_toml(configs["pcscf"], dataclasses.replace(
            cfg, home_networks={plan.domain: hops.pcscf_to_icscf}))
    if hops.icscf_to_scscf:
        icfg = icscf_config(plan, log_level=level, metrics=metrics)
        pool = tuple(dataclasses.replace(e, address=hops.icscf_to_scscf) for e in icfg.scscf)
        write_toml(configs["icscf"], dataclasses.replace(icfg, scscf=pool))
    if hops.hss_store is not None:
        hcfg = hss_config(plan, configs["hss"].parent,
                          avoid_res_zero_octet=kw.get("avoid_res_zero_octet", True),
                          log_level=kw.get("hss_log_level", "warning"), metrics=metrics)
        write_toml(configs["hss"], dataclasses.replace(hcfg, store=hops.hss_store))
    if hops.scscf_to_icscf:
        scfg = scscf_config(plan, min_expires=kw.get("min_expires", 60), log_level=level,
                            metrics=metrics)
        write_toml(configs["scscf"], dataclasses.replace(scfg, icscf=hops.scscf_to_icscf))


def start_rewired_lab(workdir: Path, plan: Addresses, hops: Hops, **kwargs: Any) -> RunningLab:
    """``start_lab(workdir, plan, **kwargs)`` with ``hops`` in the node configs."""
    def write(directory: Path, p: Addresses, **kw: Any) -> dict[str, Path]:
        configs = write_node_configs(directory, p, **kw)
        _rewire(p, hops, configs, **kw)
        return configs

    with mock.patch.object(running, "write_node_configs", write):
        return start_lab(workdir, plan, **kwargs)


def write_sipp_csvs(workdir: Path, lab: RunningLab, ranges: dict[str, range]) -> dict[str, Path]:
    """One SIPp injection file ``workdir/<name>.csv`` per range of subscriber numbers."""
    paths = {}
    for name, text in split_sipp_csv(lab.sipp_csv, ranges).items():
        paths[name] = workdir / f"{name}.csv"
        paths[name].write_text(text)
    return paths
