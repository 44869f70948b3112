"""Overload control for a CSCF, sans-I/O: a token bucket whose rate follows latency.

Offered more than it can serve, a node that queues everything answers late and then
not at all (UEs retransmit, Timer F fires, the retransmissions add load). Instead a
node refuses what it cannot serve in time at once, with 503 and Retry-After (RFC 3261
§21.5.4; TS 24.229 §5.1.1.2.1 has the UE wait that long before registering again).

How much it can serve is learnt from how long it takes (a latency-based controller):

- each initial request admitted takes one token from a bucket that refills at
  ``rate`` tokens/s up to ``rate * burst_seconds``; a request finding no token is shed
  unless it is protected (the caller decides; see ``CscfCore.protected``) or the node
  shows no load (the signal below half the target, a quarter just after a cut), in
  which case it passes and the bucket goes into debt (at most one bucket's worth), so
  the unprotected requests are the ones shed, and only under load;
- ``record(latency, now)`` takes the latency of an admitted request, from its arrival
  to its final response, into an EWMA of gain 1/8 (the RTT estimator's, RFC 6298 §2);
- ``queued(delay, now)`` takes how long a datagram waited in the node's own socket
  buffer before the node read it (measured by a probe the node sends itself, see
  :mod:`ims_core.transport.queueprobe`), into an EWMA of gain 1/4; the load signal is
  the sum of the two, what a UE waits for an answer from this node on;
- every ``adjust_period`` (on whichever sample closes it), ``decide`` (the table below)
  compares that signal with ``target_latency`` and the rate changes within
  ``[min_rate, max_rate]``:

| load signal     | bucket ran dry in period | decision | new rate                                |
|-----------------|--------------------------|----------|-----------------------------------------|
| above target    | either                   | DECREASE | served * max(0.7, √(tgt/sig))           |
| target/4 .. tgt | yes                      | INCREASE | rate + max(step, rate/32*(1-s/t))       |
| below target/4  | yes                      | SURGE    | rate + max(step, rate/8)                |
| at or below tgt | no                       | HOLD     | rate                                    |

``base`` is the lower of the rate and the rate requests were admitted at in the period:
a rate far above what arrives limits nothing, so shrinking it alone would take several
periods of growing queues to bite. ``done`` is the rate requests got their final
response at in the period, what the node and those behind it served; ``served`` is the
lower of the two, but no less than half of ``base`` (a period in which little completed,
a pause, is no measure of it). When load starts (a burst offered twice what the node
serves) the admitted rate is the offered one, and cutting that by 30 % still admitted
more than was served: the backlog grew for seconds, one cut after another (measured
with bench/bench_overload.py); cut from ``served``, the first cut goes under it.
The decrease grows with how far above target the signal is (about 0.7 at twice the
target), at most 30 % off ``served`` per period so one slow sample does not shut the
node; and right after a period that served its load well (the signal under half the
target, at least MIN_LOAD admitted) no lower than FLOOR of what that period served. On a
busy host the signal spikes now and then (a collection, a neighbour's burst): cutting
deep for a spike left the node refusing, for seconds after, the load it had just served,
even once the overload was gone. A spike jumps from one period to the next; a signal
that rises over several periods is load, and is cut without a floor (a floor kept for
seconds, from the best period of them, held the rate above what was served while the
backlog grew; both measured with bench/bench_overload.py).
A period that admitted fewer than ``MIN_LOAD`` initial requests is no load to shed:
a slow answer then comes from elsewhere (an HSS hiccup, a host pause) and cutting the
rate would only refuse the next burst of a lightly used node. After a decrease the
next one waits until the requests admitted at the new rate can show (twice as long as
the signal was, at least two periods, at most ``MAX_COOLDOWN``): the backlog the
signal saw is still draining,
and cutting again for it would throttle the node far below what it serves.
The increase is only when the bucket limited what was admitted, so an idle node does
not build up a rate it never proved it can serve; it shrinks to the step as the signal
nears the target (so the rate creeps, not overshoots, into the next backlog), and fast
(SURGE) only while the signal is under a quarter of target and no DECREASE came for
``SURGE_AFTER`` seconds: the load has dropped, recover at once. Under a steady
overload the cuts keep coming and the rate creeps up to the next one, rather than
overshooting into a backlog the signal shows only later.

Interior nodes (I-CSCF, S-CSCF) take nearly all their requests from other core
nodes, whose work on them a 503 would waste (a proxy turns it into 500, RFC 3261
§16.7); the edge (the P-CSCF) sheds UE load before it enters. Hence overload control
is on by default at the P-CSCF only.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from ims_core.config import ConfigError

EWMA_GAIN = 0.125  # RFC 6298 §2 uses 1/8 for the smoothed RTT
QUEUE_GAIN = 0.25  # queue probes come every few ms: follow them faster
MAX_DECREASE = 0.7  # at most 30 % off the served rate per adjustment
DEEPEST = 0.5  # of the admitted rate: the least a period counts as served for a cut
INCREASE = 1 / 32  # of the rate, near target
SURGE = 1 / 8  # of the rate, far below target and no DECREASE for SURGE_AFTER
SURGE_AFTER = 3.0  # seconds since the last DECREASE before a SURGE
MAX_COOLDOWN = 1.0  # seconds: the longest wait between two decreases
MIN_LOAD = 16  # initial requests admitted in a period for a DECREASE (see the docstring)
FLOOR = 0.9  # of what the period before served, if well: the least a DECREASE leaves


@dataclass(frozen=True, slots=True)
class OverloadConfig:
    """``[overload]`` of every CSCF; off by default but at the P-CSCF
    (:class:`EdgeOverloadConfig`). When on, the defaults admit far more than a node
    serves at normal load (the bucket never limits), so they only act once latency
    says so."""

    enabled: bool = False
    target_latency_ms: float = 30.0  # smoothed queue + arrival→final response
    initial_rate: float = 5000.0  # initial requests per second
    min_rate: float = 100.0
    max_rate: float = 20000.0
    rate_step: float = 20.0  # least increase per adjustment, requests/s
    burst_seconds: float = 0.25  # bucket size, in seconds of the current rate
    adjust_period: float = 0.25  # seconds between rate adjustments
    probe_interval_ms: float = 20.0  # own-queue probes (UDP), 0: none
    retry_after: int = 5  # seconds, Retry-After of the 503 (plus up to as much jitter)

    def __post_init__(self) -> None:
        if not 0 < self.min_rate <= self.initial_rate <= self.max_rate:
            raise ConfigError("overload: need 0 < min_rate <= initial_rate <= max_rate, not "
                              f"{self.min_rate:g}, {self.initial_rate:g}, {self.max_rate:g}")
        for name in ("target_latency_ms", "rate_step", "burst_seconds", "adjust_period"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"overload.{name} must be positive")
        if self.probe_interval_ms < 0:
            raise ConfigError("overload.probe_interval_ms must not be negative")
        if self.retry_after < 0:
            raise ConfigError("overload.retry_after must not be negative")


@dataclass(frozen=True, slots=True)
class EdgeOverloadConfig(OverloadConfig):
    """The P-CSCF's ``[overload]``: on unless configured off (the edge sheds, see the
    module docstring)."""

    enabled: bool = True


class Decision(enum.Enum):
    DECREASE = "decrease"
    INCREASE = "increase"
    SURGE = "surge"
    HOLD = "hold"


def decide(signal: float, target: float, limited: bool) -> Decision:
    """The table in the module docstring."""
    if signal > target:
        return Decision.DECREASE
    if not limited:
        return Decision.HOLD
    return Decision.SURGE if signal < target / 4 else Decision.INCREASE


class LoadMonitor:
    """The controller (module docstring). State: ``admitted`` (requests taken on),
    ``rate`` (tokens/s now), ``smoothed`` (request latency) and ``queue`` (own queue
    delay; seconds, 0 before the first sample). Refusals are counted by the caller
    (``SipMetrics.overload_rejected``, by method)."""

    def __init__(self, config: OverloadConfig | None = None) -> None:
        self.config = cfg = config or OverloadConfig()
        self.target = cfg.target_latency_ms / 1000.0
        self.rate: float = cfg.initial_rate
        self.tokens: float = self._size()
        self.smoothed: float = 0.0
        self.queue: float = 0.0
        self.admitted: int = 0
        self._refilled: float | None = None  # when the bucket was last topped up
        self._period_start: float | None = None
        self._samples = 0  # in the current period
        self._period_admitted = 0
        self._limited = False  # the bucket ran dry in the current period
        self._quiet_until = float("-inf")  # no DECREASE before (the last one's effect)
        self._last_cut = float("-inf")  # when the last DECREASE was
        self._served = 0.0  # done rate of the last period if it served its load well, or 0

    @property
    def signal(self) -> float:
        """The load signal the rate is steered by (seconds)."""
        return self.smoothed + self.queue

    def _size(self) -> float:
        return max(1.0, self.rate * self.config.burst_seconds)

    def _refill(self, now: float) -> None:
        last = self._refilled
        if last is not None and now > last:
            self.tokens = min(self._size(), self.tokens + (now - last) * self.rate)
        if last is None or now > last:
            self._refilled = now

    def admit(self, now: float, protected: Callable[[], bool] | None = None) -> bool:
        """Whether to take on an initial request arriving ``now``. With no token left it
        passes anyway, the bucket in debt, while the node shows no load (``_loaded``)
        or when ``protected`` (asked only then) says so."""
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
            if self._loaded(now) and (protected is None or not protected()):
                return False
            self.tokens = max(self.tokens - 1.0, -self._size())
        self.admitted += 1
        self._period_admitted += 1
        return True

    def _loaded(self, now: float) -> bool:
        """Whether the node shows load: the signal at half the target or more, or at a
        quarter within SURGE_AFTER of a cut. Until then the bucket only measures (a rate
        learnt at a lighter load must not refuse a heavier one the node serves in time;
        the INCREASE/SURGE it causes raises the rate), and once the load drops the
        signal falls under a quarter of the target within a few requests: nothing is
        refused from then on."""
        signal = self.signal
        return signal >= self.target / 2 or (
            signal >= self.target / 4 and now - self._last_cut < SURGE_AFTER)

    def record(self, latency: float, now: float) -> Decision | None:
        """The latency (seconds) of an admitted request that got its final response;
        the decision when this sample closed an adjustment period."""
        if self._samples == 0 and self.smoothed == 0.0:
            self.smoothed = latency  # first sample (RFC 6298 §2.2)
        else:
            self.smoothed += EWMA_GAIN * (latency - self.smoothed)
        self._samples += 1
        return self._tick(now)

    def queued(self, delay: float, now: float) -> Decision | None:
        """How long (seconds) a probe waited in the node's socket buffer; the decision
        when this sample closed an adjustment period."""
        self.queue += QUEUE_GAIN * (delay - self.queue)
        return self._tick(now)

    def _tick(self, now: float) -> Decision | None:
        start = self._period_start
        if start is None:
            self._period_start = now
        elif now - start >= self.config.adjust_period:
            return self._adjust(now, now - start)
        return None

    def _adjust(self, now: float, elapsed: float) -> Decision:
        cfg = self.config
        signal = self.signal
        decision = decide(signal, self.target, self._limited)
        admitted_rate = self._period_admitted / elapsed
        done_rate = self._samples / elapsed
        if decision is Decision.DECREASE:
            if now < self._quiet_until or self._period_admitted < MIN_LOAD:
                decision = Decision.HOLD  # the last cut has not shown yet, or no load
            else:
                base = min(self.rate, admitted_rate)
                served = max(min(base, done_rate), DEEPEST * base)
                cut = served * max(MAX_DECREASE, (self.target / signal) ** 0.5)
                floor = FLOOR * self._served
                self.rate = max(cut, min(floor, self.rate))
                self._quiet_until = now + min(max(2 * signal, 2 * cfg.adjust_period),
                                              MAX_COOLDOWN)
                self._last_cut = now
        if decision is Decision.SURGE and now - self._last_cut < SURGE_AFTER:
            decision = Decision.INCREASE  # still overloaded a moment ago: creep
        if decision is Decision.INCREASE:
            self.rate += max(cfg.rate_step, self.rate * INCREASE * (1 - signal / self.target))
        elif decision is Decision.SURGE:
            self.rate += max(cfg.rate_step, self.rate * SURGE)
        self.rate = min(cfg.max_rate, max(cfg.min_rate, self.rate))
        self.tokens = min(self.tokens, self._size())
        well = signal < self.target / 2 and self._period_admitted >= MIN_LOAD
        self._served = done_rate if well else 0.0
        self._period_start, self._samples, self._limited = now, 0, False
        self._period_admitted = 0
        return decision
