"""A fake peer served from a thread's own event loop, beside the code under test that
runs its own loop (``asyncio.run``, as the ``ims-core ue`` command does) in the test's
thread."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator


@contextlib.contextmanager
def served(start: Callable[[], Awaitable[int]],
           stop: Callable[[], Awaitable[object]]) -> Iterator[int]:
    """Run ``start()`` (it listens and gives its port) in a thread of its own; the port
    while the block runs; ``stop()`` in that thread at the end."""
    ready: queue.Queue[int | BaseException] = queue.Queue()
    done = threading.Event()

    async def serve() -> None:
        try:
            port = await start()
        except BaseException as exc:
            ready.put(exc)
            raise
        ready.put(port)
        while not done.is_set():
            await asyncio.sleep(0.02)
        await stop()
        await asyncio.sleep(0)

    t = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    t.start()
    try:
        got = ready.get(timeout=5)
        if isinstance(got, BaseException):
            raise got
        yield got
    finally:
        done.set()
        t.join(5)
