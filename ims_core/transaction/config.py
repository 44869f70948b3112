"""Timer values for RFC 3261 §17 (Table 4) and RFC 6026."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1 (RTT estimate), T2 (max non-INVITE retransmit interval), T4 (max time a
    message stays in the network), in seconds; Timer D on unreliable transports.
    `timeout` is 64*T1: Timers B, F, H, J (unreliable), L and M (read as most
    transactions start or end: worked out once)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0
    timeout: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeout", 64 * self.t1)
