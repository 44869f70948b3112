"""The journal of pending changes (sans-I/O): the last write per (kind, key) wins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

_Value = bytes | Callable[[], bytes] | None


@dataclass(frozen=True)
class Change:
    """One record to write (``value``) or delete (``value is None``)."""

    kind: str
    key: str
    value: bytes | None


class Journal:
    """Changes recorded on the event loop, drained by the writer.

    Only dict operations: recording a change never does I/O. Coalescing means a
    registration refreshed ten times between two flushes is written once.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], _Value] = {}

    def put(self, kind: str, key: str, value: bytes) -> None:
        self._pending[(kind, key)] = value

    def put_lazy(self, kind: str, key: str, encode: Callable[[], bytes]) -> None:
        """Like :meth:`put`, the value made by ``encode()`` at :meth:`take`: a record
        changed many times between two flushes is serialised once."""
        self._pending[(kind, key)] = encode

    def delete(self, kind: str, key: str) -> None:
        self._pending[(kind, key)] = None

    def take(self) -> list[Change]:
        """Everything pending since the last take, in first-recorded order."""
        pending, self._pending = self._pending, {}
        return [Change(kind, key, value() if callable(value) else value)
                for (kind, key), value in pending.items()]

    def restore(self, changes: list[Change]) -> None:
        """Put back changes whose flush failed; newer changes recorded meanwhile win."""
        newer = self._pending
        self._pending = {}
        self._pending.update(((c.kind, c.key), c.value) for c in changes)
        self._pending.update(newer)

    def __len__(self) -> int:
        return len(self._pending)
