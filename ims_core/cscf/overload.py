"""Overload control for a CSCF, sans-I/O: a token bucket whose rate follows latency.

Offered more than it can serve, a node that queues everything answers late and then
not at all (UEs retransmit, Timer F fires, the retransmissions add load). Instead a
node refuses what it cannot serve in time at once, with 503 and Retry-After (RFC 3261
§21.5.4; TS 24.229 §5.1.1.2.1 has the UE wait that long before registering again).

How much it can serve is learnt from how long it takes (a latency-based controller):

- each initial request admitted takes one token from a bucket that refills at
  ``rate`` tokens/s up to ``rate * burst_seconds``; a request finding no token is shed
  unless it is protected (the caller decides; see ``CscfCore.protected``), in which case
  it passes and the bucket goes into debt (at most one bucket's worth), so the
  unprotected requests are the ones shed;
- ``record(latency, now)`` takes the latency of an admitted request, from its arrival
  to its final response, into an EWMA of gain 1/8 (the RTT estimator's, RFC 6298 §2);
- every ``adjust_period`` with samples, ``decide`` (the table below) compares the
  smoothed latency with ``target_latency`` and the rate changes within
  ``[min_rate, max_rate]``:

| smoothed latency | bucket ran dry in the period | decision | new rate                      |
|------------------|------------------------------|----------|-------------------------------|
| above target     | either                       | DECREASE | base * max(1/2, target/lat)   |
| at or below      | yes                          | INCREASE | rate + rate_step              |
| at or below      | no                           | HOLD     | rate                          |

``base`` is the lower of the rate and the rate requests were admitted at in the period:
a rate far above what arrives limits nothing, so shrinking it alone would take several
periods of growing queues to bite. The decrease is proportional to how far above target
the latency is, at most a halving per period so one slow sample does not shut the node;
the increase is additive and only
when the bucket limited what was admitted, so an idle node does not build up a rate it
never proved it can serve (AIMD, as in TCP congestion avoidance).

The queue-delay guard is the latency signal itself: the asyncio transport hands each
datagram to the core as soon as the event loop reads it, so the only waiting the core
cannot see is in the kernel's socket buffer, which has no arrival timestamp without
SO_TIMESTAMP. What a busy loop delays after arrival — Cx answers, responses from the
next hop — lengthens the admitted requests' latency, which the controller sees.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from ims_core.config import ConfigError

EWMA_GAIN = 0.125  # RFC 6298 §2 uses 1/8 for the smoothed RTT
MAX_DECREASE = 0.5  # at most halve the rate per adjustment


@dataclass(frozen=True, slots=True)
class OverloadConfig:
    """``[overload]`` of every CSCF. Off by default: the controller sheds, but does not yet
    bring the latency of what it admits down under twice the sustainable load (see
    bench/bench_overload.py). When on, the defaults admit far more than a node serves at
    normal load (the bucket never limits), so they only act once latency says so."""

    enabled: bool = False
    target_latency_ms: float = 100.0  # smoothed arrival→final response of admitted requests
    initial_rate: float = 2000.0  # initial requests per second
    min_rate: float = 10.0
    max_rate: float = 20000.0
    rate_step: float = 100.0  # additive increase per adjustment, requests/s
    burst_seconds: float = 0.5  # bucket size, in seconds of the current rate
    adjust_period: float = 0.5  # seconds between rate adjustments
    retry_after: int = 5  # seconds, Retry-After of the 503 (plus up to as much jitter)

    def __post_init__(self) -> None:
        if not 0 < self.min_rate <= self.initial_rate <= self.max_rate:
            raise ConfigError("overload: need 0 < min_rate <= initial_rate <= max_rate, not "
                              f"{self.min_rate:g}, {self.initial_rate:g}, {self.max_rate:g}")
        for name in ("target_latency_ms", "rate_step", "burst_seconds", "adjust_period"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"overload.{name} must be positive")
        if self.retry_after < 0:
            raise ConfigError("overload.retry_after must not be negative")


class Decision(enum.Enum):
    DECREASE = "decrease"
    INCREASE = "increase"
    HOLD = "hold"


def decide(smoothed: float, target: float, limited: bool) -> Decision:
    """The table in the module docstring."""
    if smoothed > target:
        return Decision.DECREASE
    return Decision.INCREASE if limited else Decision.HOLD


class LoadMonitor:
    """The controller (module docstring). Counters: ``admitted``, ``rejected``,
    ``rate`` (tokens/s now) and ``smoothed`` (seconds; 0 before the first sample)."""

    def __init__(self, config: OverloadConfig | None = None) -> None:
        self.config = cfg = config or OverloadConfig()
        self.target = cfg.target_latency_ms / 1000.0
        self.rate: float = cfg.initial_rate
        self.tokens: float = self._size()
        self.smoothed: float = 0.0
        self.admitted: int = 0
        self.rejected: int = 0
        self._refilled: float | None = None  # when the bucket was last topped up
        self._period_start: float | None = None
        self._samples = 0  # in the current period
        self._period_admitted = 0
        self._limited = False  # the bucket ran dry in the current period

    def _size(self) -> float:
        return max(1.0, self.rate * self.config.burst_seconds)

    def _refill(self, now: float) -> None:
        last = self._refilled
        if last is not None and now > last:
            self.tokens = min(self._size(), self.tokens + (now - last) * self.rate)
        if last is None or now > last:
            self._refilled = now

    def admit(self, now: float, protected: Callable[[], bool] | None = None) -> bool:
        """Whether to take on an initial request arriving ``now``. ``protected`` is asked
        only when no token is left: True lets the request pass, the bucket in debt."""
        if not self.config.enabled:
            self.admitted += 1
            return True
        self._refill(now)
        if self._period_start is None:
            self._period_start = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
        else:
            self._limited = True
            if protected is None or not protected():
                self.rejected += 1
                return False
            self.tokens = max(self.tokens - 1.0, -self._size())
        self.admitted += 1
        self._period_admitted += 1
        return True

    def record(self, latency: float, now: float) -> Decision | None:
        """The latency (seconds) of an admitted request that got its final response;
        the decision when this sample closed an adjustment period."""
        if self._samples == 0 and self.smoothed == 0.0:
            self.smoothed = latency  # first sample (RFC 6298 §2.2)
        else:
            self.smoothed += EWMA_GAIN * (latency - self.smoothed)
        self._samples += 1
        start = self._period_start
        if start is None:
            self._period_start = now
        elif now - start >= self.config.adjust_period:
            return self._adjust(now, now - start)
        return None

    def _adjust(self, now: float, elapsed: float) -> Decision:
        cfg = self.config
        decision = decide(self.smoothed, self.target, self._limited)
        if decision is Decision.DECREASE:
            admitted_rate = self._period_admitted / elapsed
            self.rate = min(self.rate, admitted_rate) * max(MAX_DECREASE,
                                                             self.target / self.smoothed)
        elif decision is Decision.INCREASE:
            self.rate += cfg.rate_step
        self.rate = min(cfg.max_rate, max(cfg.min_rate, self.rate))
        self.tokens = min(self.tokens, self._size())
        self._period_start, self._samples, self._limited = now, 0, False
        self._period_admitted = 0
        return decision
