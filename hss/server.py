"""``ims-core hss``: the asyncio Diameter node with the Cx handlers.

The handlers are blocking (store, Milenage): requests are handed over in batches
(:mod:`hss.batch`), run on the loop in one SQLite transaction, or in worker threads
(``workers`` in the config) for a store that needs them; the node answers each when its
batch is done. Alongside, :class:`~hss.pusher.Pusher` sends the RTRs and PPRs the
provisioning CLI queues in the store's outbox. Startup (open the store, seed ``[seed]
count`` demo subscribers into an empty one, listen) → serve until SIGINT/SIGTERM → DPR to
peers and close (a second signal exits at once).

With ``[metrics] enabled`` the HSS serves ``/metrics``, ``/healthz`` and ``/readyz``
(:class:`~ims_core.metrics.http.MetricsServer`); with ``[hep] enabled`` it sends a HEP3
copy of every Diameter message to the collector.

Exit status of ``ims-core hss``: :mod:`ims_core.runtime`'s (3 cannot listen, 4 store
unreachable). Logs go to stdout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hss import provision
from hss.batch import Batcher
from hss.config import HssConfig
from hss.cx import HANDLERS, READ_ONLY, CxContext, Handler
from hss.pusher import Pusher
from hss.store import Store, StoreError, open_store
from ims_core import log, runtime
from ims_core.diameter import DiameterConfig, Message, Responder
from ims_core.diameter.node import DiameterNode
from ims_core.hep.exporter import HepExporter
from ims_core.metrics.families import Labels, Registry
from ims_core.metrics.groups import DiameterMetrics, HssMetrics, hep_packets
from ims_core.metrics.http import MetricsServer


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


class StoreWatch:
    """The subscriber count and whether the store answers, for ``/metrics`` and
    ``/readyz``, read in a worker thread: a scrape on the loop never waits for the store
    (a PostgreSQL across the network, a SQLite file locked by another process).

    :meth:`subscribers` and :meth:`problem` give what the last read found and start a new
    one when that is over ``max_age`` seconds old; a read running for over ``timeout``
    seconds is itself the problem. Each read is observed as ``store_seconds{count}``.
    """

    def __init__(self, store: Store, pool: concurrent.futures.Executor, metrics: HssMetrics,
                 *, max_age: float = 5.0, timeout: float = 2.0) -> None:
        self.store = store
        self.max_age = max_age
        self.timeout = timeout
        self._pool = pool
        self._metrics = metrics
        self._loop = asyncio.get_running_loop()
        self._count: int | None = None
        self._error: str | None = None
        self._read_at = float("-inf")
        self._started: float | None = None  # the read in flight, if any

    def seen(self, count: int) -> None:
        """A count read just now by someone else (startup)."""
        self._count, self._error, self._read_at = count, None, self._loop.time()

    def subscribers(self) -> list[tuple[Labels, float]]:
        self._refresh()
        return [] if self._count is None else [((), float(self._count))]

    def problem(self) -> str | None:
        now = self._refresh()
        if self._started is not None and now - self._started > self.timeout:
            return f"store: no answer in {self.timeout:g} s"
        return None if self._error is None else f"store unreachable: {self._error}"

    def _refresh(self) -> float:
        now = self._loop.time()
        if self._started is None and now - self._read_at >= self.max_age:
            try:
                work = self._pool.submit(_timed_count, self.store)
            except RuntimeError:  # the pool is shut down: the HSS is stopping
                self._error = "the HSS is stopping"
                return now
            self._started = now
            work.add_done_callback(lambda w: self._loop.call_soon_threadsafe(self._read, w))
        return now

    def _read(self, work: concurrent.futures.Future[tuple[int, float]]) -> None:
        self._started = None
        self._read_at = self._loop.time()
        exc = work.exception()
        if exc is not None:
            self._error = f"{type(exc).__name__}: {exc}"
            return
        count, seconds = work.result()
        self._metrics.store_seconds.observe(seconds, "count")
        self._count, self._error = count, None


def _timed_count(store: Store) -> tuple[int, float]:
    started = time.perf_counter()
    count = store.count()
    return count, time.perf_counter() - started


class HssServer:
    """The Cx server; usable from tests (``port=0``) and from :func:`run`. Its metrics
    are on ``registry`` (a private one when None)."""

    def __init__(self, cfg: HssConfig, store: Store | None = None, *,
                 registry: Registry | None = None) -> None:
        self.cfg = cfg
        self.registry = Registry() if registry is None else registry
        self.diameter_metrics = DiameterMetrics.create(self.registry)
        self.metrics = HssMetrics.create(self.registry)
        self._own_store = store is None
        self.store = store if store is not None else open_hss_store(cfg)
        self.ctx = CxContext(
            store=self.store,
            cx=cfg.cx,
            origin_host=cfg.diameter.origin_host,
            origin_realm=cfg.diameter.origin_realm,
            metrics=self.metrics,
        )
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, cfg.workers), thread_name_prefix="hss-cx"
        )
        self._log: Any = log.get("hss")
        self._batcher: Batcher | None = None
        self._pusher: Pusher | None = None
        self.store_watch: StoreWatch | None = None
        self._http: MetricsServer | None = None
        self._hep: HepExporter | None = None
        self.node: DiameterNode | None = None
        self.port: int | None = None
        self.metrics_port: int | None = None

    def _responder(self, handler: Handler, writes: bool = True) -> Responder:
        """The node's responder for *handler*: each request joins the next store batch and
        is answered when the batch is done (no task or future per request). The node
        counts and logs the exchange. ``writes`` False: the handler only reads the store."""
        assert self._batcher is not None
        ctx = self.ctx

        def run(req: Message) -> Message:
            return handler(req, ctx)

        return functools.partial(self._batcher.submit, run, writes=writes)

    def ready(self) -> list[str]:
        """Why the HSS is not ready (``/readyz``): [] when it is. Cheap, never waits for
        the store (see :class:`StoreWatch`)."""
        reasons = []
        if self.node is None or not self.node.listening:
            reasons.append("diameter: not listening")
        problem = None if self.store_watch is None else self.store_watch.problem()
        if problem is not None:
            reasons.append(problem)
        return reasons

    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Seed an empty store (``[seed] count``), then listen; :class:`ListenError` when
        the address cannot be bound."""
        d = self.cfg.diameter
        seeded = seed_if_empty(self.store, self.cfg.seed.count, self.cfg.cx.domain,
                               self.cfg.seed.first)
        if seeded:
            self._log.info("hss_seeded", subscribers=seeded)
        self._batcher = Batcher(self._pool, self.store, metrics=self.metrics)
        self.node = DiameterNode(diameter_config(self.cfg), self.diameter_metrics)
        for code, handler in HANDLERS.items():
            self.node.add_responder(code, self._responder(handler, code not in READ_ONLY))
        self.store_watch = StoreWatch(self.store, self._pool, self.metrics)
        self.metrics.subscribers.read = self.store_watch.subscribers
        if self.cfg.hep.enabled:  # before listening: the first CER is captured too
            self._hep = HepExporter(self.cfg.hep, "hss")
            if self.registry.get("ims_hep_packets") is None:  # once per registry
                hep_packets(self.registry, self._hep.counts)
            await self._hep.start()
            self.node.tap = self._hep
        host = d.listen_host if host is None else host
        port = d.listen_port if port is None else port
        self.port = await _listen(self.node.listen, host, port)
        m = self.cfg.metrics
        if m.enabled:
            self._http = MetricsServer(self.registry, "hss", self.ready)
            self.metrics_port = await _listen(self._http.start, m.host, m.port)
        self._pusher = Pusher(self.node, self.ctx, self._pool, self.cfg.push)
        self._pusher.start()
        subscribers = self.store.count()
        self.store_watch.seen(subscribers)
        self._log.info(
            "hss_started", origin_host=d.origin_host, port=self.port,
            store=self.cfg.store.backend, subscribers=subscribers,
            metrics_port=self.metrics_port,
        )  # fmt: skip
        return self.port

    async def stop(self) -> None:
        if self._pusher is not None:  # first: what it still awaits is recorded as failed
            await self._pusher.stop()
            self._pusher = None
        if self.node is not None:
            await self.node.stop()
            self.node = None
        if self._hep is not None:  # after the node: its DPR/DPA are captured
            self._hep.close()
            self._hep = None
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._own_store:
            self.store.close()
        if self._http is not None:  # last: /readyz says why meanwhile
            await self._http.close()
            self._http = None
        self._log.info("hss_stopped")


async def _listen(start: Callable[[str, int], Awaitable[int]], host: str, port: int) -> int:
    """``start(host, port)``; :class:`ListenError` when the address cannot be bound."""
    try:
        return await start(host, port)
    except OSError as exc:
        raise ListenError(exc.errno, f"cannot listen on {host}:{port}: "
                          f"{exc.strerror or exc}") from None


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
        runtime.run(serve(cfg), batch=True)  # an interior node (runtime.tune_scheduler)
    except ListenError as exc:
        log.get("hss").error("hss_listen_failed", error=exc.strerror or str(exc))
        return runtime.EXIT_LISTEN
    except StoreError as exc:
        log.get("hss").error("hss_store_unreachable", error=str(exc))
        return runtime.EXIT_STORE
    return runtime.EXIT_OK
