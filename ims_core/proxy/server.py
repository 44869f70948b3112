"""The asyncio side of the proxy: a `SipTransport` feeding a `ProxyCore`, one loop timer
re-armed at the core's next deadline, and the core's `Send`s written to the transport.
Nothing here decides anything about SIP."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from functools import partial
from typing import Any

from ims_core.sip import Request, Response
from ims_core.sip.addressing import Source
from ims_core.transport import SipTransport, TransportConfig

from .context import Send
from .core import ProxyCore


class ProxyServer:
    """Runs `core` on `transport_config`'s address (UDP and TCP). The transport counts in
    the core's `metrics` as they are when the server is built (assign them before).

    The loop timer wakes the core up to `timer_slack` seconds after its deadline, so that
    deadlines close together are handled in one wakeup: every transaction ends on a
    timer (Timers J and K, RFC 3261 §17), and at hundreds of requests a second waking
    for each would cost more than what the timers do. The RFC's timers run from 500 ms
    (T1) up; a few milliseconds late changes nothing on the wire."""

    timer_slack = 0.01

    def __init__(self, core: ProxyCore[Any], transport_config: TransportConfig) -> None:
        self.core = core
        self.transport = SipTransport(transport_config, self._on_message, core.metrics)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the port is real even when 0 was asked for."""
        return self.transport.local

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.transport.start()
        port = self.transport.local[1]
        cfg = self.core.config
        if cfg.port != port:  # port 0: Via and Record-Route must name the real one
            self.core.config = replace(cfg, port=port)
        self._flush()  # what the core starts with (restored registrations) and its timer

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.transport.close()

    def _on_message(self, message: Request | Response, source: Source) -> None:
        assert self._loop is not None
        try:
            self.core.receive(message, source, self._loop.time())
        finally:
            self._flush()

    def _flush(self) -> None:
        out = self.core.data_to_send()
        if out:
            send, failed = self.transport.send, self._failed
            for item in out:
                send(item.data, item.dest, partial(failed, item) if item.tx else None)
        self._arm()

    def _failed(self, item: Send) -> None:
        assert self._loop is not None
        self.core.send_failed(item, self._loop.time())
        self._flush()

    def _arm(self) -> None:
        deadline = self.core.get_timer()
        if deadline is None:
            return
        wake = deadline + self.timer_slack
        if self._timer_at is not None and self._timer_at <= wake:
            return  # the wakeup armed comes soon enough
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = wake
        self._timer = self._loop.call_at(wake, self._fire)

    def _fire(self) -> None:
        assert self._loop is not None
        self._timer = None
        self._timer_at = None
        self.core.handle_timer(self._loop.time())
        self._flush()
