"""The address plan of a four-node lab and the node configs it implies.

One plan (four IPs, the SIP and Diameter ports, the home domain) gives the HSS, S-CSCF,
I-CSCF and P-CSCF configs as the nodes' own dataclasses, written with
:func:`ims_lab.tomlwrite.toml_text`, so what :func:`ims_core.config.load` reads back is
exactly what was built here. Used by ``ims-core lab`` (its ``[addresses]`` table), the
end-to-end tests and the benchmarks. Also: demo subscriber numbers and per-range SIPp
injection files.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from hss.config import ApiConfig, CapabilitiesConfig, CxConfig, HssConfig, StoreConfig
from hss.config import DiameterConfig as HssDiameter
from hss.provision import DEMO_FIRST_IMSI
from ims_core.config import LogConfig
from ims_core.cscf import DiameterClient, SipListen
from ims_core.icscf import IcscfConfig, ScscfEntry
from ims_core.metrics.config import MetricsConfig
from ims_core.pcscf.config import PcscfConfig, RegEventConfig
from ims_core.persist import PersistConfig
from ims_core.scscf.config import RegistrarSettings, ScscfConfig

from .addresses import DIAMETER_PORT, DOMAIN, METRICS_PORT, NODES, SIP_PORT, Addresses
from .tomlwrite import write_toml

__all__ = [
    "DIAMETER_PORT", "DOMAIN", "METRICS_PORT", "NODES", "SIP_PORT", "Addresses", "hss_config",
    "icscf_config", "imsi", "metrics_config", "pcscf_config", "persist_config", "scscf_config",
    "split_sipp_csv", "write_node_configs",
]


def imsi(n: int) -> str:
    """Demo subscriber number ``n`` (1-based): the n-th IMSI from the first demo one."""
    return str(int(DEMO_FIRST_IMSI) + n - 1).zfill(len(DEMO_FIRST_IMSI))


# -- one builder per node ----------------------------------------------------------------


def metrics_config(plan: Addresses, node: str, enabled: bool) -> MetricsConfig:
    """``node``'s ``[metrics]`` table: on its own IP and the plan's metrics port."""
    host, port = plan.metrics(node)
    return MetricsConfig(enabled=enabled, host=host, port=port)


def persist_config(node: str, state_dir: Path | None) -> PersistConfig:
    """``node``'s ``[persist]`` table: its own SQLite file in ``state_dir`` (None: off)."""
    if state_dir is None:
        return PersistConfig()
    return PersistConfig(backend="sqlite", path=str(state_dir.resolve() / f"{node}-state.sqlite"))


def hss_config(plan: Addresses, data_dir: Path, *, avoid_res_zero_octet: bool = True,
               workers: int = 4, log_level: str = "warning",
               extra_peers: tuple[str, ...] = (), metrics: bool = False) -> HssConfig:
    """The HSS: SQLite under ``data_dir``; the CSCFs (and ``extra_peers``) may connect;
    its provisioning API (``ims-core hss-api``) on the HSS's address too.
    ``avoid_res_zero_octet``: SIPp compatibility (see ``config/lab.toml``); ``metrics``:
    whether its metrics listener is on (every builder here has it)."""
    return HssConfig(
        data_dir=str(data_dir.resolve()), workers=workers,
        diameter=HssDiameter(listen_host=plan.hss, listen_port=plan.diameter_port,
                             origin_host=plan.identity("hss"), origin_realm=plan.domain,
                             peers=(plan.identity("icscf"), plan.identity("scscf"),
                                    *extra_peers)),
        store=StoreConfig(backend="sqlite", path="hss.sqlite"),
        cx=CxConfig(domain=plan.domain, avoid_res_zero_octet=avoid_res_zero_octet,
                    capabilities=CapabilitiesConfig(server_names=(plan.server_name,))),
        log=LogConfig(level=log_level), metrics=metrics_config(plan, "hss", metrics),
        api=ApiConfig(host=plan.hss),
    )


def _cx_client(plan: Addresses, node: str) -> DiameterClient:
    return DiameterClient(origin_host=plan.identity(node), origin_realm=plan.domain,
                          hss_host=plan.hss, hss_port=plan.diameter_port)


def scscf_config(plan: Addresses, *, min_expires: int = 60, log_level: str = "info",
                 metrics: bool = False, state_dir: Path | None = None) -> ScscfConfig:
    """The S-CSCF: a Service-Route through itself (RFC 3608); requests for home users go
    on to the plan's I-CSCF (TS 24.229 §5.4.3.2); ``state_dir``: its registrations kept
    there across restarts (:func:`persist_config`)."""
    return ScscfConfig(
        domain=plan.domain, sip=SipListen(host=plan.scscf, port=plan.sip_port),
        diameter=_cx_client(plan, "scscf"), server_name=plan.server_name,
        service_route=f"<sip:orig@{plan.sip('scscf')};lr>", icscf=plan.sip("icscf"),
        registrar=RegistrarSettings(min_expires=min_expires, default_expires=600),
        log=LogConfig(level=log_level), metrics=metrics_config(plan, "scscf", metrics),
        persist=persist_config("scscf", state_dir),
    )


def icscf_config(plan: Addresses, *, log_level: str = "info",
                 metrics: bool = False) -> IcscfConfig:
    """The I-CSCF with a pool of one: the plan's S-CSCF."""
    return IcscfConfig(
        domain=plan.domain, sip=SipListen(host=plan.icscf, port=plan.sip_port),
        diameter=_cx_client(plan, "icscf"),
        scscf=(ScscfEntry(name=plan.server_name, address=plan.sip("scscf")),),
        log=LogConfig(level=log_level), metrics=metrics_config(plan, "icscf", metrics),
    )


def pcscf_config(plan: Addresses, *, log_level: str = "info", subscribe: bool = True,
                 metrics: bool = False, state_dir: Path | None = None) -> PcscfConfig:
    """The P-CSCF: the home domain's REGISTERs go to the plan's I-CSCF; ``subscribe``:
    whether it subscribes to each registration's reg event (TS 24.229 §5.2.3);
    ``state_dir`` as for :func:`scscf_config`."""
    return PcscfConfig(
        domain=plan.domain, visited_network_id=plan.domain,
        sip=SipListen(host=plan.pcscf, port=plan.sip_port, advertise=plan.pcscf),
        home_networks={plan.domain: plan.sip("icscf")}, log=LogConfig(level=log_level),
        regevent=RegEventConfig(subscribe=subscribe),
        metrics=metrics_config(plan, "pcscf", metrics),
        persist=persist_config("pcscf", state_dir),
    )


def write_node_configs(directory: Path, plan: Addresses, *, log_level: str = "info",
                       hss_log_level: str = "warning", min_expires: int = 60,
                       avoid_res_zero_octet: bool = True, pcscf_subscribe: bool = True,
                       metrics: bool = False, persist: Collection[str] = (),
                       t1: float = 0.5) -> dict[str, Path]:
    """``directory``/{hss,scscf,icscf,pcscf}.toml for ``plan`` (the HSS database in
    ``directory`` too); node → path, in start order. ``metrics``: every node's metrics
    listener on (:meth:`Addresses.metrics`); ``persist``: the CSCFs ("scscf", "pcscf")
    whose registrations survive restarts, each in its SQLite file in ``directory``;
    ``t1``: the CSCFs' RFC 3261 T1 (a shorter one brings Timer F, 64*T1, closer)."""
    comment = "Written from an address plan by ims_lab.plan; rewritten on every use."
    configs = {
        "hss": hss_config(plan, directory, avoid_res_zero_octet=avoid_res_zero_octet,
                          log_level=hss_log_level, metrics=metrics),
        "scscf": replace(scscf_config(plan, min_expires=min_expires, log_level=log_level,
                                      metrics=metrics,
                                      state_dir=directory if "scscf" in persist else None),
                         t1=t1),
        "icscf": replace(icscf_config(plan, log_level=log_level, metrics=metrics), t1=t1),
        "pcscf": replace(pcscf_config(plan, log_level=log_level, subscribe=pcscf_subscribe,
                                      metrics=metrics,
                                      state_dir=directory if "pcscf" in persist else None),
                         t1=t1),
    }
    return {node: write_toml(directory / f"{node}.toml", configs[node], comment)
            for node in NODES}


def split_sipp_csv(text: str, ranges: dict[str, range]) -> dict[str, str]:
    """Cut ``ims-core subscriber sipp-csv`` output into one SEQUENTIAL file text per range
    of subscriber numbers (:func:`imsi`)."""
    rows = {r.split(";", 1)[0]: r for r in text.splitlines()[1:] if r.strip()}
    return {name: "\n".join(["SEQUENTIAL", *(rows[imsi(n)] for n in numbers)]) + "\n"
            for name, numbers in ranges.items()}
