"""``ims-core hss``: the asyncio Diameter node with the Cx handlers.

The handlers are blocking (store, Milenage): requests are handed over in batches
(:mod:`hss.batch`), run on the loop in one SQLite transaction, or in worker threads
(``workers`` in the config) for a store that needs them; the node answers each when its
batch is done. Alongside, :class:`~hss.pusher.Pusher` sends the RTRs and PPRs the
provisioning CLI queues in the store's outbox. Startup (open the store, seed ``[seed]
count`` demo subscribers into an empty one, listen) → serve until SIGINT/SIGTERM → DPR to
peers and close (a second signal exits at once).

Exit status of ``ims-core hss``: :mod:`ims_core.runtime`'s (3 cannot listen, 4 store
unreachable). Logs go to stdout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import sys
import time
from typing import Any

from hss import provision
from hss.batch import Batcher
from hss.config import HssConfig
from hss.cx import HANDLERS, CxContext, Handler
from hss.pusher import Pusher
from hss.store import Store, StoreError, open_store
from ims_core import log, runtime
from ims_core.diameter import DiameterConfig, Message, Respond, Responder
from ims_core.diameter.node import DiameterNode


class ListenError(OSError):
    """The Diameter address cannot be bound (in use, or not an address of this host)."""


def _driver_errors() -> tuple[type[BaseException], ...]:
    """What a database driver raises when it cannot reach or open its database."""
    errors: tuple[type[BaseException], ...] = (StoreError, OSError, sqlite3.Error)
    try:
        import psycopg
    except ImportError:  # optional extra
        return errors
    return (*errors, psycopg.Error)


def open_hss_store(cfg: HssConfig) -> Store:
    """The store ``cfg`` names, opened and migrated; :class:`StoreError` saying why when
    it cannot be (an unwritable SQLite path, an unreachable PostgreSQL)."""
    try:
        return open_store(cfg.store, data_dir=cfg.data_dir, ind_bits=cfg.cx.ind_bits)
    except StoreError:
        raise
    except _driver_errors() as exc:
        where = (cfg.store.dsn if cfg.store.backend == "postgres"
                 else cfg.store.sqlite_path(cfg.data_dir))
        raise StoreError(f"cannot open the {cfg.store.backend} store {where}: {exc}") from None


def seed_if_empty(store: Store, count: int, domain: str,
                  first: str = provision.DEMO_FIRST_IMSI) -> int:
    """``count`` demo subscribers (:func:`hss.provision.demo_subscribers`) from IMSI
    ``first`` into a store that holds none (:meth:`Store.seed`). How many were added."""
    return store.seed(provision.demo_subscribers(count, domain, first)) if count > 0 else 0


def diameter_config(cfg: HssConfig) -> DiameterConfig:
    d = cfg.diameter
    return DiameterConfig(
        origin_host=d.origin_host,
        origin_realm=d.origin_realm,
        host_ip_addresses=(d.advertised_ip(),),
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
        self.store = store if store is not None else open_hss_store(cfg)
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

    def _responder(self, handler: Handler) -> Responder:
        """The node's responder for *handler*: each request joins the next store batch and
        is answered when the batch is done (no task or future per request)."""
        assert self._batcher is not None
        submit = self._batcher.submit
        ctx = self.ctx
        logger = self._log

        def run(req: Message) -> Message:
            return handler(req, ctx)

        def respond(req: Message, reply: Respond) -> None:
            # One line per Cx request is a debug line: at thousands of MARs a second, the
            # AVP look-ups for its fields alone cost more than SQL; build them only when shown.
            submit(run, req, _logged(logger, req, reply)
                   if logger.is_enabled_for(logging.DEBUG) else reply)

        return respond

    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Seed an empty store (``[seed] count``), then listen; :class:`ListenError` when
        the address cannot be bound."""
        d = self.cfg.diameter
        seeded = seed_if_empty(self.store, self.cfg.seed.count, self.cfg.cx.domain,
                               self.cfg.seed.first)
        if seeded:
            self._log.info("hss_seeded", subscribers=seeded)
        self._batcher = Batcher(self._pool, self.store)
        self.node = DiameterNode(diameter_config(self.cfg))
        for code, handler in HANDLERS.items():
            self.node.add_responder(code, self._responder(handler))
        host = d.listen_host if host is None else host
        port = d.listen_port if port is None else port
        try:
            self.port = await self.node.listen(host, port)
        except OSError as exc:
            raise ListenError(exc.errno, f"cannot listen on {host}:{port}: "
                              f"{exc.strerror or exc}") from None
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


def _logged(logger: Any, req: Message, reply: Respond) -> Respond:
    started = time.perf_counter()

    def logged(ans: Message | BaseException) -> None:
        reply(ans)
        if isinstance(ans, Message):  # a failure is the node's to log
            logger.debug(
                "cx_exchange", command=req.name, session_id=req.session_id,
                peer=req.origin_host, user=req.get("User-Name"),
                impu=req.get("Public-Identity"), result=ans.result,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
            )  # fmt: skip

    return logged


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
    log.setup(cfg.log, node="hss", stream=sys.stdout)
    try:
        runtime.run(serve(cfg))
    except ListenError as exc:
        log.get("hss").error("hss_listen_failed", error=exc.strerror or str(exc))
        return runtime.EXIT_LISTEN
    except StoreError as exc:
        log.get("hss").error("hss_store_unreachable", error=str(exc))
        return runtime.EXIT_STORE
    return runtime.EXIT_OK
