"""ProxyServer's loop timer: deadlines close together share one wakeup, and none is
handled later than `timer_slack` after it is due (a fake loop, no sockets)."""

from __future__ import annotations

from collections.abc import Callable

from ims_core.proxy import ProxyConfig, ProxyCore
from ims_core.proxy.server import ProxyServer
from ims_core.transport import TransportConfig


class Handle:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    def __init__(self) -> None:
        self.now = 100.0
        self.handles: list[Handle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        self.handles.append(Handle(when, callback))
        return self.handles[-1]

    def armed(self) -> list[float]:
        return [h.when for h in self.handles if not h.cancelled]

    def run_until(self, end: float) -> None:
        while (due := sorted((h for h in self.handles if not h.cancelled and h.when <= end),
                             key=lambda h: h.when)):
            handle = due[0]
            handle.cancelled = True  # run once, as the loop does
            self.now = handle.when
            handle.callback()
        self.now = end


class Core(ProxyCore[None]):
    """A core whose only work is a list of deadlines; it records when it handled each."""

    def __init__(self) -> None:
        super().__init__(ProxyConfig())
        self.deadlines: list[float] = []
        self.handled: list[tuple[float, float]] = []  # (deadline, when handled)

    def get_timer(self) -> float | None:
        return min(self.deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        for d in sorted(d for d in self.deadlines if d <= now):
            self.deadlines.remove(d)
            self.handled.append((d, now))


def server(core: Core, loop: Loop) -> ProxyServer:
    srv = ProxyServer(core, TransportConfig(host="127.0.0.1", port=0))
    srv._loop = loop  # type: ignore[assignment]
    return srv


def test_close_deadlines_share_one_wakeup_and_none_waits_beyond_the_slack() -> None:
    core, loop = Core(), Loop()
    srv = server(core, loop)
    slack = srv.timer_slack
    core.deadlines = [101.0 + i * slack / 10 for i in range(10)] + [103.0]
    srv._flush()
    loop.run_until(110.0)
    assert sorted(d for d, _ in core.handled) == sorted([101.0 + i * slack / 10
                                                        for i in range(10)] + [103.0])
    assert all(d <= at <= d + slack + 1e-9 for d, at in core.handled)
    wakeups = {at for _, at in core.handled}
    assert len(wakeups) == 2  # ten deadlines within the slack: one wakeup; 103 its own


def test_an_earlier_deadline_rearms_and_a_later_one_does_not() -> None:
    core, loop = Core(), Loop()
    srv = server(core, loop)
    core.deadlines = [105.0]
    srv._flush()
    assert loop.armed() == [105.0 + srv.timer_slack]
    core.deadlines.append(105.0 + srv.timer_slack / 2)  # within the slack: no new timer
    srv._flush()
    assert loop.armed() == [105.0 + srv.timer_slack]
    core.deadlines.append(102.0)  # earlier: armed again, the old one cancelled
    srv._flush()
    assert loop.armed() == [102.0 + srv.timer_slack]
    loop.run_until(106.0)
    assert [d for d, _ in core.handled] == [102.0, 105.0, 105.0 + srv.timer_slack / 2]


def test_nothing_to_wait_for_arms_nothing() -> None:
    core, loop = Core(), Loop()
    srv = server(core, loop)
    srv._flush()
    assert loop.armed() == []
    core.handle_timer(loop.now)  # nothing due: nothing handled
    assert core.handled == []
