"""Process runtime shared by the nodes: the event loop they run on, how a signal ends
them and what their exit status means. One home for these rules, used by the CSCFs, the
HSS, ``ims-core proxy`` and the lab."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# Exit status of the node commands (ims-core pcscf|icscf|scscf|hss).
EXIT_OK = 0  # stopped by SIGTERM or SIGINT
EXIT_FAILED = 1  # unexpected failure
EXIT_CONFIG = 2  # bad arguments or configuration
EXIT_LISTEN = 3  # cannot bind or listen: address in use, or not an address of this host
EXIT_STORE = 4  # the HSS's store is unreachable

EXIT_HELP = (
    "Exit status: 0 stopped by SIGTERM or SIGINT, 1 unexpected failure, 2 bad arguments or "
    "configuration, 3 cannot bind or listen (address in use or not on this host)"
)
EXIT_HELP_HSS = f"{EXIT_HELP}, 4 store unreachable"


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run *main* to completion on uvloop if it imports, else on the default asyncio loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


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
