"""Write-behind persistence of CSCF state (registrations survive a restart).

A core records every change of a persistent record in a :class:`Journal` (a dict update on
the event loop, nothing else); a :class:`Persister` drains the journal every ``max_delay``
seconds in a worker thread and applies the coalesced changes to a :class:`Backend` (SQLite
or Redis) in one transaction. A clean stop flushes what is left. A crash (SIGKILL, power
loss) loses the changes of at most the last ``max_delay`` seconds plus one flush in flight;
the UE then re-registers from scratch at its next refresh, as after any lost registration.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ims_core.persist.backend import Backend, RedisBackend, SqliteBackend, open_backend
from ims_core.persist.config import PersistConfig
from ims_core.persist.hook import Persistent
from ims_core.persist.journal import Change, Journal

if TYPE_CHECKING:
    from ims_core.persist.node import StateUnavailable, open_state
    from ims_core.persist.writer import Persister

# The asyncio adapters load when first named: the cores import this package sans-I/O.
_ADAPTERS = {"Persister": "writer", "StateUnavailable": "node", "open_state": "node"}


def __getattr__(name: str) -> object:
    module = _ADAPTERS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

__all__ = [
    "Backend",
    "Change",
    "Journal",
    "PersistConfig",
    "Persistent",
    "Persister",
    "RedisBackend",
    "SqliteBackend",
    "StateUnavailable",
    "open_backend",
    "open_state",
]
