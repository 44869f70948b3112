"""Subscribers a connection read inside its batches, kept for its later batches.

A MAR reads its subscriber (a SELECT, then a :class:`Subscriber` built from the row) and
then changes only its SQN, so most of that work can be kept. It stays right because:

* inside a batch the connection holds the database's write lock, so what it reads is
  current and nobody else writes until the batch commits;
* between batches other connections may commit (other processes: the provisioning CLI,
  another HSS front; other threads of this one), and SQLite tells: ``PRAGMA data_version``
  read at the start of a batch differs, and :meth:`SubscriberCache.check` empties the cache;
* this connection's own writes go through the store, which reports them
  (:meth:`~SubscriberCache.changed`, :meth:`~SubscriberCache.sqn_changed`; a batch's
  registration update keeps what it wrote, :meth:`~SubscriberCache.rewritten`); a savepoint
  or batch that rolls back empties the cache.
"""

from __future__ import annotations

import dataclasses

from hss.model import Subscriber
from hss.sqn import SQN_BITS

# (query, key): the look-up that found the subscriber (by IMSI, IMPI or IMPU).
Key = tuple[str, str]


_FIELDS = tuple(f.name for f in dataclasses.fields(Subscriber))
_set = object.__setattr__


def with_fields(sub: Subscriber, **changes: object) -> Subscriber:
    """*sub* with *changes*: ``dataclasses.replace`` without running the checks again on
    fields that passed them when *sub* was built (a third of a MAR's store work). For
    values the store just wrote, which it checked or produced itself."""
    new: Subscriber = object.__new__(Subscriber)
    for name in _FIELDS:
        _set(new, name, getattr(sub, name))
    for name, value in changes.items():
        _set(new, name, value)
    return new


def _with_sqn(sub: Subscriber, sqn: int) -> Subscriber:
    """*sub* with another SQN (checked here; the store's guarded UPDATE produced it anyway)."""
    if not 0 <= sqn < 1 << SQN_BITS:
        raise ValueError("sqn must fit 48 bits")
    return with_fields(sub, sqn=sqn)


class SubscriberCache:
    """The cache of one connection (see the module docstring). Bounded: emptied when full."""

    __slots__ = ("_by_imsi", "_entries", "max_entries", "version")

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[Key, Subscriber] = {}
        self._by_imsi: dict[str, list[Key]] = {}
        self.version: int | None = None  # PRAGMA data_version when last checked

    def check(self, version: int) -> None:
        """At the start of a batch: another connection committed since the last one."""
        if version != self.version:
            self.clear()
            self.version = version

    def get(self, key: Key) -> Subscriber | None:
        return self._entries.get(key)

    def kept(self, imsi: str) -> Subscriber | None:
        """Subscriber *imsi* as kept, if it is kept."""
        keys = self._by_imsi.get(imsi)
        return self._entries.get(keys[0]) if keys else None

    def sqn_of(self, imsi: str) -> int | None:
        """The SQN of subscriber *imsi* as kept, if it is kept."""
        sub = self.kept(imsi)
        return None if sub is None else sub.sqn

    def put(self, key: Key, sub: Subscriber) -> None:
        if len(self._entries) >= self.max_entries:
            self.clear()
        self._entries[key] = sub
        self._by_imsi.setdefault(sub.imsi, []).append(key)

    def changed(self, imsi: str) -> None:
        """This connection wrote the subscriber: read it anew next time."""
        for key in self._by_imsi.pop(imsi, ()):
            self._entries.pop(key, None)

    def sqn_changed(self, imsi: str, sqn: int) -> None:
        """This connection moved the subscriber's SQN to *sqn* (the rest is unchanged)."""
        keys = self._by_imsi.get(imsi)
        if not keys:
            return
        old = self._entries.get(keys[0])
        if old is None:  # cannot happen: entries and keys go together
            self.changed(imsi)
            return
        new = _with_sqn(old, sqn)
        for key in keys:
            self._entries[key] = new

    def keys(self, imsi: str) -> tuple[Key, ...]:
        """The look-ups subscriber *imsi* is kept under."""
        return tuple(self._by_imsi.get(imsi, ()))

    def rewritten(self, keys: tuple[Key, ...], sub: Subscriber) -> None:
        """This connection wrote the subscriber kept under *keys* (:meth:`keys`), which it
        reported (:meth:`changed`), and knows it is now *sub*: kept again, not read anew."""
        for key in keys:
            self.put(key, sub)

    def clear(self) -> None:
        self._entries.clear()
        self._by_imsi.clear()
