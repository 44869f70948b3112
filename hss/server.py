"""``ims-core hss``: the asyncio Diameter node with the Cx handlers.

The handlers are blocking (store, Milenage), so requests run in worker threads (``workers``
in the config), handed over in batches (:mod:`hss.batch`); the event loop only frames,
dispatches and writes. Alongside, :class:`~hss.pusher.Pusher` sends the RTRs and PPRs the
provisioning CLI queues in the store's outbox. Startup → serve until SIGINT/SIGTERM → DPR
to peers and close (a second signal exits at once).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from pathlib import Path
from typing import Any

from hss.batch import Batcher
from hss.config import HssConfig
from hss.cx import HANDLERS, CxContext, Handler
from hss.pusher import Pusher
from hss.store import Store, StoreError, open_store
from ims_core import log, runtime
from ims_core.diameter import DiameterConfig, Message
from ims_core.diameter.node import DiameterNode


def diameter_config(cfg: HssConfig) -> DiameterConfig:
    d = cfg.diameter
    return DiameterConfig(
        origin_host=d.origin_host,
        origin_realm=d.origin_realm,
        host_ip_addresses=(d.listen_host,),
        product_name="ims-core-hss",
        allowed_peers=d.peers,
        require_host_ip_address=d.require_host_ip_address,
        watchdog_interval=d.watchdog_seconds,
        request_timeout=d.request_timeout,
    )


class HssServer:
    """The Cx server; usable from tests (``port=0``) and from :func:`run`."""

    def __init__(self, cfg: HssConfig, store: Store | None = None) -> None:
        self.cfg = cfg
        self._own_store = store is None
        self.store = store if store is not None else open_store(
            cfg.store, data_dir=Path(cfg.data_dir), ind_bits=cfg.cx.ind_bits
        )
        self.ctx = CxContext(
            store=self.store,
            cx=cfg.cx,
            origin_host=cfg.diameter.origin_host,
            origin_realm=cfg.diameter.origin_realm,
        )
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, cfg.workers), thread_name_prefix="hss-cx"
        )
        self._log: Any = log.get("hss")
        self._batcher: Batcher | None = None
        self._pusher: Pusher | None = None
        self.node: DiameterNode | None = None
        self.port: int | None = None

    def _wrap(self, handler: Handler) -> Any:

        assert self._batcher is not None
        batcher = self._batcher
        ctx = self.ctx

        def run(req: Message) -> Message:
            return handler(req, ctx)

        async def handle(req: Message) -> Message:
            started = time.perf_counter()
            ans = await batcher.submit(run, req)
            self._log.info(
                "cx_exchange", command=req.name, session_id=req.session_id,
                peer=req.origin_host, user=req.get("User-Name"),
                impu=req.get("Public-Identity"), result=ans.result,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
            )  # fmt: skip
            return ans

        return handle

    async def start(self, host: str | None = None, port: int | None = None) -> int:
        d = self.cfg.diameter
        self._batcher = Batcher(self._pool, self.store)
        self.node = DiameterNode(diameter_config(self.cfg))
        for code, handler in HANDLERS.items():
            self.node.add_handler(code, self._wrap(handler))
        self.port = await self.node.listen(
            d.listen_host if host is None else host, d.listen_port if port is None else port
        )
        self._pusher = Pusher(self.node, self.ctx, self._pool, self.cfg.push)
        self._pusher.start()
        self._log.info(
            "hss_started", origin_host=d.origin_host, port=self.port,
            store=self.cfg.store.backend, subscribers=self.store.count(),
        )  # fmt: skip
        return self.port

    async def stop(self) -> None:
        if self._pusher is not None:  # first: what it still awaits is recorded as failed
            await self._pusher.stop()
            self._pusher = None
        if self.node is not None:
            await self.node.stop()
            self.node = None
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._own_store:
            self.store.close()
        self._log.info("hss_stopped")


async def serve(cfg: HssConfig, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (a second one exits at once) or, embedded, ``stop``."""

    def impatient() -> None:
        raise SystemExit(1)  # second signal: no graceful shutdown

    # The handlers stay through server.stop(): that is when a second signal matters.
    with runtime.stop_on_signals(stop, again=impatient) as stopped:
        server = HssServer(cfg)
        try:
            await server.start()
            await stopped.wait()
        finally:
            await server.stop()


def run(cfg: HssConfig) -> int:
    log.setup(cfg.log, node="hss")
    try:
        runtime.run(serve(cfg))
    except (OSError, StoreError) as exc:
        log.get("hss").error("hss_failed", error=str(exc))
        return 1
    return 0
