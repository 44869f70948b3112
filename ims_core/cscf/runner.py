"""Run one CSCF process: SIP on UDP+TCP, a Diameter client to the HSS when configured
(which also answers the HSS's RTR and PPR), until SIGINT/SIGTERM; then close SIP, send
DPR and exit 0. Exit 3 when the SIP address cannot be bound (in use, or not on this host).
Logs go to stdout."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from ims_core import log, runtime
from ims_core.diameter.node import DiameterNode
from ims_core.transport import queueprobe

from .config import CscfConfig
from .core import CscfCore
from .server import CscfServer, transport_config


def run_node(name: str, core: CscfCore[Any], cfg: CscfConfig) -> int:
    log.setup(cfg.log, node=name, stream=sys.stdout)
    return runtime.run(serve(name, core, cfg))


async def serve(name: str, core: CscfCore[Any], cfg: CscfConfig,
                ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> int:
    logger = log.get(name)
    dconf = cfg.diameter_config()
    diameter = DiameterNode(dconf) if dconf is not None else None
    server = CscfServer(core, transport_config(cfg), diameter)  # also answers RTR/PPR
    probe: queueprobe.ProbeSender | None = None
    try:
        with runtime.stop_on_signals(stop) as stopped:  # before binding: no unguarded window
            try:
                await server.start()
            except OSError as exc:
                logger.error(f"{name}.bind_failed", error=str(exc))
                return runtime.EXIT_LISTEN
            ocfg = cfg.overload
            if ocfg.enabled and ocfg.probe_interval_ms > 0:  # own-queue delay (overload)
                probe = queueprobe.attach(server.transport, ocfg.probe_interval_ms / 1000,
                                          core.queue_delay)
            if diameter is not None and cfg.diameter is not None:
                # Once SIP is up: what an RTR or PPR sets in motion can be sent at once.
                diameter.add_peer(cfg.diameter.hss_host, cfg.diameter.hss_port)  # reconnects
            host, port = server.address
            logger.info(f"{name}.listening", host=host, port=port, transports="udp,tcp",
                        hss=f"{cfg.diameter.hss_host}:{cfg.diameter.hss_port}"
                        if cfg.diameter else None)
            if ready is not None:
                ready.set()
            await stopped.wait()
    finally:
        if probe is not None:
            probe.close()
        await server.close()
        if diameter is not None:
            await diameter.stop()
        logger.info(f"{name}.stopped")
    return runtime.EXIT_OK
