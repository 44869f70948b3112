"""Run one CSCF process: SIP on UDP+TCP, a Diameter client to the HSS when configured
(which also answers the HSS's RTR and PPR), until SIGINT/SIGTERM; then drain (503 to new
requests, at most ``stop_grace`` seconds for those under way: ``.drain``), close SIP, send
DPR and exit 0. Exit 3 when the SIP or the metrics address cannot be bound (in use, or
not on this host). Logs go to stdout.

With ``[metrics] enabled`` the node serves ``/metrics``, ``/healthz`` and ``/readyz`` on
its own HTTP address once SIP is bound: ready means SIP is listening and, with Diameter
configured, a connection to the HSS is open. With ``[hep] enabled`` a copy of every SIP
and Diameter message goes to the HEP collector. With ``[persist]`` the core's state is
restored before SIP is bound (exit 4 when its store cannot be opened or read) and written
behind while it runs, the rest after SIP is closed (:mod:`ims_core.persist`)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from ims_core import log, runtime
from ims_core.diameter.node import DiameterNode
from ims_core.hep.exporter import HepExporter
from ims_core.metrics import DiameterMetrics, Registry, SipMetrics
from ims_core.metrics.groups import hep_packets
from ims_core.metrics.http import MetricsServer
from ims_core.persist import Persister, StateUnavailable, open_state
from ims_core.transport import queueprobe

from .config import CscfConfig
from .core import CscfCore
from .drain import drain, stop_grace
from .server import CscfServer, transport_config


def run_node(name: str, core: CscfCore[Any], cfg: CscfConfig) -> int:
    log.setup(cfg.log, node=name, stream=sys.stdout)
    # The interior nodes run under SCHED_BATCH, the P-CSCF not (runtime.tune_scheduler).
    return runtime.run(serve(name, core, cfg), batch=name != "pcscf")


def readiness(cfg: CscfConfig, server: CscfServer, listening: bool) -> list[str]:
    """Why the node is not ready to serve ([] when it is): SIP not bound yet, or no
    Diameter connection to the HSS open (an I-/S-CSCF then answers 503 to what needs it)."""
    reasons = [] if listening else ["sip: not listening yet"]
    d = cfg.diameter
    if d is not None and server.diameter is not None and not server.diameter.open_peers:
        reasons.append(f"diameter: no open peer (hss {d.hss_host}:{d.hss_port})")
    return reasons


async def serve(name: str, core: CscfCore[Any], cfg: CscfConfig,
                ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> int:
    logger = log.get(name)
    registry = Registry()
    # Before the server is built: it and its transport count into core.metrics.
    core.metrics = SipMetrics.create(registry)
    dconf = cfg.diameter_config()
    diameter = (DiameterNode(dconf, metrics=DiameterMetrics.create(registry))
                if dconf is not None else None)
    server = CscfServer(core, transport_config(cfg), diameter)  # also answers RTR/PPR
    probe: queueprobe.ProbeSender | None = None
    listening = False
    http = MetricsServer(registry, name, lambda: readiness(cfg, server, listening))
    hep: HepExporter | None = None
    state: Persister | None = None  # [persist]: registrations across restarts
    try:
        with runtime.stop_on_signals(stop) as stopped:  # before binding: no unguarded window
            try:  # before SIP is bound: the first request finds the restored state
                state = await open_state(name, core, cfg.persist)
            except StateUnavailable as exc:
                logger.error(f"{name}.state_unavailable", error=str(exc))
                return runtime.EXIT_STORE
            try:
                await server.start()
            except OSError as exc:
                logger.error(f"{name}.bind_failed", error=str(exc))
                return runtime.EXIT_LISTEN
            listening = True
            if cfg.hep.enabled:  # before the first CER: the whole Cx exchange is copied
                hep = HepExporter(cfg.hep, name)
                hep_packets(registry, hep.counts)
                await hep.start()
                server.transport.tap = hep
                if diameter is not None:
                    diameter.tap = hep
            ocfg = cfg.overload
            if ocfg.enabled and ocfg.probe_interval_ms > 0:  # own-queue delay (overload)
                probe = queueprobe.attach(server.transport, ocfg.probe_interval_ms / 1000,
                                          core.queue_delay)
            if diameter is not None and cfg.diameter is not None:
                # Once SIP is up: what an RTR or PPR sets in motion can be sent at once.
                diameter.add_peer(cfg.diameter.hss_host, cfg.diameter.hss_port)  # reconnects
            if cfg.metrics.enabled:
                m = cfg.metrics
                try:
                    port = await http.start(m.host, m.port)
                except OSError as exc:
                    logger.error(f"{name}.metrics_bind_failed", host=m.host, port=m.port,
                                 error=str(exc))
                    return runtime.EXIT_LISTEN
                logger.info(f"{name}.metrics_listening",
                            url=f"http://{_url_host(m.host)}:{port}/metrics")
            host, port = server.address
            logger.info(f"{name}.listening", host=host, port=port, transports="udp,tcp",
                        hss=f"{cfg.diameter.hss_host}:{cfg.diameter.hss_port}"
                        if cfg.diameter else None)
            if ready is not None:
                ready.set()
            await stopped.wait()
            await drain(core, stop_grace(cfg), logger)  # 503 to new requests, the rest ends
    finally:
        await http.close()
        if probe is not None:
            probe.close()
        await server.close()
        if state is not None:  # after SIP: nothing changes any more; the final flush
            await state.close()
        if diameter is not None:
            await diameter.stop()
        if hep is not None:  # last: the DPR exchange is copied too
            hep.close()
        logger.info(f"{name}.stopped")
    return runtime.EXIT_OK


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
