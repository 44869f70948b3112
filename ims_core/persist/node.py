"""A node's persisted state in its runner: open the backend, restore the core, start the
writer (before SIP is bound); close it after SIP is closed (the final flush)."""

from __future__ import annotations

import asyncio
import time

from ims_core import log
from ims_core.persist.backend import Backend, open_backend
from ims_core.persist.config import PersistConfig
from ims_core.persist.hook import Persistent
from ims_core.persist.journal import Journal
from ims_core.persist.writer import Persister


class StateUnavailable(Exception):
    """The configured backend could not be opened or read: the node does not start
    (serving with an empty state would silently drop every registration)."""


async def open_state(name: str, core: object, config: PersistConfig) -> Persister | None:
    """Restore *core* from the backend *config* names and start its writer; None when
    persistence is off. StateUnavailable when the backend cannot be opened or read."""
    if not config.enabled:
        return None
    logger = log.get(name)
    if not isinstance(core, Persistent):
        logger.warning(f"{name}.persist_unsupported", backend=config.backend)
        return None
    backend: Backend | None = None
    try:
        backend = await asyncio.to_thread(open_backend, config, name)
        assert backend is not None  # enabled
        # On the loop, which serves nothing yet: the core is not thread-safe.
        loaded = core.restore(backend, time.time(), asyncio.get_running_loop().time())
    except Exception as exc:  # sqlite3 / redis errors of every kind
        if backend is not None:
            backend.close()
        raise StateUnavailable(f"{config.backend}: {exc}") from exc
    journal = Journal()
    core.attach_journal(journal)
    persister = Persister(journal, backend, config.max_delay)
    persister.start()
    logger.info(f"{name}.state_restored", backend=config.backend, records=loaded,
                max_delay_ms=config.max_delay_ms)
    return persister

