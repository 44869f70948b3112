"""Host names of next hops → addresses, cached (the system resolver: A/AAAA only).

A hop configured by name (a compose service name, an /etc/hosts entry) would otherwise
cost one lookup per message. RFC 3263 NAPTR/SRV is not done: a name and port map to the
first address the resolver returns. Answers are kept for `ttl` seconds (the system
resolver does not tell us the record's TTL), failures for the short `negative_ttl` so a
peer that is still starting is found soon; callers asking for a name whose lookup is in
progress share it; the oldest entries go first beyond `size`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Lookup = Callable[[str, int], Awaitable[str]]
Key = tuple[str, int]


@dataclass(frozen=True, slots=True)
class _Entry:
    address: str | None  # None: the lookup failed
    error: str
    expires: float


class NameCache:
    """`resolve(host, port)` → an address; raises OSError when the name does not resolve.

    `lookup` does the actual resolution; `clock` is monotonic seconds."""

    def __init__(self, lookup: Lookup, clock: Callable[[], float], *, ttl: float = 30.0,
                 negative_ttl: float = 1.0, size: int = 1024) -> None:
        self._lookup = lookup
        self._clock = clock
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.size = max(1, size)
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._pending: dict[Key, asyncio.Future[str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _fresh(self, key: Key) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def cached(self, host: str, port: int) -> str | None:
        """The cached address of `host:port`, without a lookup (None: none cached)."""
        entry = self._fresh((host.lower(), port))
        return entry.address if entry is not None else None

    async def resolve(self, host: str, port: int) -> str:
        key = (host.lower(), port)
        entry = self._fresh(key)
        if entry is not None:
            if entry.address is None:
                raise OSError(entry.error)
            return entry.address
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            address = await self._lookup(host, port)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:  # gaierror, or UnicodeError for a name IDNA refuses
            error = exc if isinstance(exc, OSError) else OSError(f"{host}: {exc}")
            self._store(key, _Entry(None, str(error), self._clock() + self.negative_ttl))
            future.set_exception(error)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise error from None
        finally:
            del self._pending[key]
        self._store(key, _Entry(address, "", self._clock() + self.ttl))
        future.set_result(address)
        return address

    def _store(self, key: Key, entry: _Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
