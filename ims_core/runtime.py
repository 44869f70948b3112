"""Process runtime shared by the nodes: the event loop they run on, how a signal ends
them and what their exit status means. One home for these rules, used by the CSCFs, the
HSS, ``ims-core proxy`` and the lab."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import signal
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from ims_core.metrics.process import watch_gc

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# Exit status of the node commands (ims-core pcscf|icscf|scscf|hss).
EXIT_OK = 0  # stopped by SIGTERM or SIGINT
EXIT_FAILED = 1  # unexpected failure
EXIT_CONFIG = 2  # bad arguments or configuration
EXIT_LISTEN = 3  # cannot bind or listen: address in use, or not an address of this host
EXIT_STORE = 4  # a store is unreachable: the HSS's subscribers, a CSCF's [persist] state

EXIT_HELP = (
    "Exit status: 0 stopped by SIGTERM or SIGINT, 1 unexpected failure, 2 bad arguments or "
    "configuration, 3 cannot bind or listen (address in use or not on this host)"
)
EXIT_HELP_HSS = f"{EXIT_HELP}, 4 store unreachable"


# Cyclic collector thresholds for the nodes (CPython's default is 700, 10, 10). A node
# allocates tens of objects per message, nearly all freed by reference counting: with the
# default, a young collection runs every few messages and promotes the objects of the
# requests in flight, which later full collections scan again. Measured under SIPp load,
# the collector took a quarter of each CSCF's CPU. IMS_CORE_GC_THRESHOLD="a,b,c" overrides.
GC_THRESHOLD = (50_000, 20, 10)
# A collection scans every object of its generations; a node filling up with
# registrations (or a store of 100,000 of them) moves them from one generation to the
# next, and those passes stalled the core for 0.25-0.4 s each (bench/bench_memory.py).
# Objects that survive a collection are mostly long-lived (registrations, dialogs,
# subscriptions) and rarely in a cycle (no collection under SIPp load found any
# garbage), so they are frozen out of all later collections (``gc.freeze``), which then
# scan only what was made since: the longest pause is one young collection's. What
# dies later is still freed by reference counting; a cycle among frozen objects waits
# for the sweep: once every SWEEP_SECONDS everything is thawed and the next full
# collection scans it all.
SWEEP_SECONDS = 600.0


class FreezeSurvivors:
    """The ``gc.callbacks`` entry behind the freezing described above; ``clock`` in
    seconds. State: ``sweeping`` from a thaw until the full collection that follows."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.swept = clock()
        self.sweeping = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase != "stop":
            return
        if self.sweeping:
            if info["generation"] < 2:
                return  # wait for the full collection
            self.sweeping = False
        elif (now := self.clock()) - self.swept >= SWEEP_SECONDS:
            self.swept, self.sweeping = now, True
            gc.unfreeze()
            return
        gc.freeze()


# The threshold counts objects made minus objects freed, and a node under steady load
# frees about as many as it makes (a refreshed registration replaces the old one, a
# transaction that waited out Timer J goes): the count seldom reaches the threshold while
# what was made since the last collection keeps growing. In the four-node lab the
# P-CSCF then collected every few seconds and each collection stopped it for 25-70 ms,
# a pause every request in flight waits out. So each node also collects its young
# objects on a clock, YOUNG_SECONDS apart: a pause scans only what was made since the
# last tick (0.1-4 ms per node at 400-700 registrations/s of bench_registration.py's
# load, by each node's ims_gc_pause_seconds).
# IMS_CORE_GC_YOUNG_SECONDS overrides; 0 turns the clock off.
YOUNG_SECONDS = 0.1
YOUNG_ENV = "IMS_CORE_GC_YOUNG_SECONDS"


class YoungCollections:
    """Collect generation 0 every ``interval`` seconds on *loop* (see YOUNG_SECONDS) while
    the collector is enabled (a test or a user may have turned it off); :meth:`stop` ends
    it. ``collect`` and ``enabled`` are the collector's, passed in for tests."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float, *,
                 collect: Callable[[int], int] = gc.collect,
                 enabled: Callable[[], bool] = gc.isenabled) -> None:
        self.loop, self.interval = loop, interval
        self._collect, self._enabled = collect, enabled
        self._handle: asyncio.TimerHandle | None = loop.call_later(interval, self._tick)

    def _tick(self) -> None:
        if self._enabled():
            self._collect(0)
        self._handle = self.loop.call_later(self.interval, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def young_seconds() -> float:
    """The clock's interval: YOUNG_SECONDS, or IMS_CORE_GC_YOUNG_SECONDS (0: no clock;
    anything but a finite number ≥ 0 falls back to the default)."""
    try:
        value = float(os.environ.get(YOUNG_ENV, YOUNG_SECONDS))
    except ValueError:
        return YOUNG_SECONDS
    return value if math.isfinite(value) and value >= 0 else YOUNG_SECONDS


def tune_gc() -> None:
    """Set the collector's thresholds and move everything alive now (modules, config) out
    of its reach (``gc.freeze``): the node's start-up objects are never garbage. From then
    on the survivors of each collection are frozen too, and all are thawed for the sweep
    every SWEEP_SECONDS (above). Each collection's pause is timed into the metrics
    (:mod:`ims_core.metrics.process`)."""
    spec = os.environ.get("IMS_CORE_GC_THRESHOLD", "")
    try:
        threshold = tuple(int(x) for x in spec.split(",")) if spec else GC_THRESHOLD
        gc.set_threshold(*threshold)
    except (ValueError, TypeError):
        gc.set_threshold(*GC_THRESHOLD)
    gc.freeze()
    if not any(isinstance(cb, FreezeSurvivors) for cb in gc.callbacks):
        gc.callbacks.append(FreezeSurvivors(time.monotonic))
    watch_gc()


# Scheduling policy of a node process (Linux, sched(7)). Nodes pass messages to each
# other over loopback, and a send wakes the node it goes to; under the default policy the
# woken node preempts the sender at once when they share a core. Every message then
# costs a context switch, each node handles one message per wakeup with its caches cold,
# and the CPU per message grows just when load is high. SCHED_BATCH only stops a wakeup
# from preempting: the woken node runs on an idle core, or when the running one waits or
# its time slice ends (the tick), so each handles what has queued up in one go. The
# interior nodes (I-CSCF, S-CSCF, HSS) run so. The P-CSCF does not: it faces the UEs and
# steers its overload control by the latency it sees, and under overload a tick's wait
# per wakeup there doubled the p99 of what it admitted (bench/bench_overload.py).
# IMS_CORE_SCHED=batch or =normal sets every node's policy.
SCHED_ENV = "IMS_CORE_SCHED"


def tune_scheduler(batch: bool = True) -> str:
    """Put this process under SCHED_BATCH when *batch* (or ``IMS_CORE_SCHED=batch``) and
    ``IMS_CORE_SCHED`` is not ``normal``; returns the policy in force ("batch" or
    "normal", "normal" also where the call is refused). Never leaves SCHED_BATCH."""
    choice = os.environ.get(SCHED_ENV, "").strip().lower()
    if choice == "normal" or (choice != "batch" and not batch):
        return "normal"
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux, or refused (a seccomp profile)
        return "normal"
    return "batch"


def run(main: Coroutine[Any, Any, T], *, batch: bool = False) -> T:
    """Run *main* to completion on uvloop if it imports, else on the default asyncio loop
    (after :func:`tune_gc`, and :func:`tune_scheduler` with *batch*: True for an
    interior node), with the young collections of :class:`YoungCollections`."""
    tune_gc()
    tune_scheduler(batch)
    interval = young_seconds()

    async def collecting() -> T:
        young = YoungCollections(asyncio.get_running_loop(), interval) if interval else None
        try:
            return await main
        finally:
            if young is not None:
                young.stop()

    try:
        import uvloop
    except ImportError:
        return asyncio.run(collecting())
    return uvloop.run(collecting())


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event | None = None, *,
                    again: Callable[[], None] | None = None) -> Iterator[asyncio.Event]:
    """The event that ends a serve loop, inside a running loop.

    Without ``stop`` (a process of its own) SIGINT and SIGTERM set a new event, and their
    handlers are removed on exit; ``again`` runs on a signal that arrives once the event is
    already set (the impatient second Ctrl-C). An embedding caller (a test) passes its own
    ``stop`` and keeps its signals: nothing is installed then.
    """
    if stop is not None:
        yield stop
        return
    loop = asyncio.get_running_loop()
    event = asyncio.Event()

    def on_signal() -> None:
        if event.is_set() and again is not None:
            again()
        event.set()

    installed: list[signal.Signals] = []
    for sig in STOP_SIGNALS:
        # NotImplementedError: no signal support in this loop; RuntimeError: not the
        # main thread. Either way the caller still has the event.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
    try:
        yield event
    finally:
        for sig in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
