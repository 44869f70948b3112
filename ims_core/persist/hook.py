"""What a core implements to have its state persisted by the runner."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ims_core.persist.backend import Backend
from ims_core.persist.journal import Journal


@runtime_checkable
class Persistent(Protocol):
    """A core whose state survives restarts.

    The runner calls ``restore`` once, before SIP is bound, then ``attach_journal``; from
    then on the core records every change of a persistent record in the journal.
    ``restore`` converts stored wall-clock times with ``loop_now - wall_now`` and returns
    how many records it restored.
    """

    def attach_journal(self, journal: Journal) -> None: ...

    def restore(self, backend: Backend, wall_now: float, loop_now: float) -> int: ...
