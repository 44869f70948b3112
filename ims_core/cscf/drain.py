"""A graceful stop (SIGTERM): the node turns away new requests outside dialogs with 503
and Retry-After (RFC 3261 §21.5.4, :meth:`CscfCore.start_draining`) and waits, at most
``stop_grace`` seconds, for the transactions under way to finish; the runner then closes
SIP and sends DPR (RFC 6733 §5.4) as before.

The waiting is a deadline checked at each poll (:class:`Drain`, sans-I/O, driven by
``now``); :func:`drain` is its asyncio loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ims_core import log

from .config import CscfConfig
from .core import CscfCore

DEFAULT_STOP_GRACE = CscfConfig().stop_grace  # seconds
POLL = 0.05  # seconds between two looks at what is still in flight


def stop_grace(cfg: CscfConfig) -> float:
    """``stop_grace`` of the node's configuration (seconds; 0: stop at once)."""
    return cfg.stop_grace


@dataclass(slots=True)
class Drain:
    """How a drain started at ``started`` ends: with nothing left in flight ("idle"), or
    at ``started + grace`` ("grace expired")."""

    started: float
    grace: float

    @property
    def deadline(self) -> float:
        return self.started + self.grace

    def outcome(self, in_flight: int, now: float) -> str | None:
        """Why the drain is over, or None while it goes on."""
        if in_flight == 0:
            return "idle"
        if now >= self.deadline:
            return "grace expired"
        return None


async def drain(core: CscfCore[Any], grace: float, logger: Any = None) -> str:
    """Drain *core* (module docstring) while its server keeps running; returns how it
    ended."""
    logger = logger or log.get("cscf")
    loop = asyncio.get_running_loop()
    core.start_draining()
    state = Drain(loop.time(), grace)
    logger.info("cscf.draining", in_flight=core.in_flight, grace=grace)
    while (outcome := state.outcome(core.in_flight, loop.time())) is None:
        await asyncio.sleep(min(POLL, max(0.0, state.deadline - loop.time())))
    logger.info("cscf.drained", outcome=outcome, left=core.in_flight,
                seconds=round(loop.time() - state.started, 2))
    return outcome
