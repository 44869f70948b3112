"""The P-CSCF's SPIs and protected ports (TS 33.203 §7.1, §7.4), sans-I/O.

SPIs are unique among those held: the kernel tells SAs to one address apart by SPI alone
(RFC 4303 §2.1). Client ports (port_pc) come round robin from a small pool and may be
shared between UEs (the SAs differ by the UE's address); a re-registration takes a port
other than the one in use, so the pool has at least two. port_ps is one fixed port.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ims_core.sip.secagree import MAX_SPI, MIN_USABLE_SPI

_RANGE_RE = re.compile(r"\s*([0-9]{1,5})\s*(?:-\s*([0-9]{1,5})\s*)?")


class ExhaustedError(RuntimeError):
    """Every value an allocator may hand out is held."""


class SpiAllocator:
    """SPIs in [lo, hi], each held by at most one SA until released. `rng(n)` gives n
    random bytes: an SPI that is hard to guess is no secret, but reuse after release is
    less likely to meet a stale SA of the peer."""

    __slots__ = ("_held", "_rng", "hi", "lo")

    def __init__(self, lo: int, hi: int, rng: Callable[[int], bytes]) -> None:
        if not MIN_USABLE_SPI <= lo <= hi <= MAX_SPI:
            raise ValueError(f"SPI range {lo}-{hi} is not within {MIN_USABLE_SPI}-{MAX_SPI}")
        self.lo = lo
        self.hi = hi
        self._rng = rng
        self._held: set[int] = set()

    @property
    def held(self) -> int:
        return len(self._held)

    def __contains__(self, spi: object) -> bool:
        return spi in self._held

    def allocate(self) -> int:
        """A random SPI not held, then the next free one after it (wrapping);
        ExhaustedError when all are held."""
        size = self.hi - self.lo + 1
        if len(self._held) >= size:
            raise ExhaustedError(f"all {size} SPIs in {self.lo}-{self.hi} are held")
        start = int.from_bytes(self._rng(8), "big") % size
        for i in range(size):
            spi = self.lo + (start + i) % size
            if spi not in self._held:
                self._held.add(spi)
                return spi
        raise AssertionError("unreachable: a free SPI exists")  # pragma: no cover

    def release(self, spi: int) -> None:
        """Give `spi` back; one not held is ignored (clean-up may run twice)."""
        self._held.discard(spi)


class PortAllocator:
    """port_s fixed; client ports round robin over `client_ports`."""

    __slots__ = ("_next", "client_ports", "port_s")

    def __init__(self, port_s: int, client_ports: range) -> None:
        if len(client_ports) < 2:
            raise ValueError("client ports: at least two are needed (a re-registration "
                             "takes a new one, TS 33.203 §7.4)")
        if not 1 <= port_s <= 65535 or min(client_ports) < 1 or max(client_ports) > 65535:
            raise ValueError("ports are 1-65535")
        if port_s in client_ports:
            raise ValueError(f"port_s {port_s} is also a client port")
        self.port_s = port_s
        self.client_ports = client_ports
        self._next = 0

    def allocate(self, avoid: int | None = None) -> int:
        """The next client port in turn, skipping `avoid` (the port being replaced)."""
        ports = self.client_ports
        port = ports[self._next]
        self._next = (self._next + 1) % len(ports)
        if port == avoid:
            port = ports[self._next]
            self._next = (self._next + 1) % len(ports)
        return port


def parse_port_range(text: str) -> range:
    """``"5066-5073"`` (or one port, ``"5066"``) → the ports as a range; ValueError with
    what is wrong otherwise."""
    m = _RANGE_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"port range {text!r} is not LOW-HIGH (e.g. 5066-5073)")
    lo = int(m.group(1))
    hi = lo if m.group(2) is None else int(m.group(2))
    for port in (lo, hi):
        if not 1 <= port <= 65535:
            raise ValueError(f"port range {text!r}: {port} is not in 1-65535")
    if lo > hi:
        raise ValueError(f"port range {text!r} is empty: {lo} is above {hi}")
    return range(lo, hi + 1)
