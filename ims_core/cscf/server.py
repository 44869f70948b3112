"""The asyncio side of a CSCF: a :class:`ProxyServer` whose core may also ask the HSS,
and answer what the HSS asks it (RTR, PPR) over the connection the node opened."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from ims_core.diameter import PPR, RTR, DiameterUnavailable, Message, PendingRequest
from ims_core.diameter.node import DiameterNode
from ims_core.proxy.server import ProxyServer
from ims_core.transport import TransportConfig

from .config import CscfConfig
from .core import CscfCore, CxOutcome, DiameterQuery


def transport_config(cfg: CscfConfig) -> TransportConfig:
    """The asyncio transport's settings from a CSCF's ``[sip]`` table."""
    server_ports, client_ports = cfg.extra_ports()
    return TransportConfig(host=cfg.sip.host, port=cfg.sip.port,
                           tcp_idle_timeout=cfg.sip.tcp_idle_timeout,
                           server_ports=server_ports, client_ports=client_ports)


class CscfServer(ProxyServer):
    def __init__(self, core: CscfCore[Any], transport_config: TransportConfig,
                 diameter: DiameterNode | None) -> None:
        super().__init__(core, transport_config)
        self.cscf = core
        self.diameter = diameter
        self._asking: dict[DiameterQuery, PendingRequest] = {}  # sent, not yet answered
        self._closed = False
        if diameter is not None:
            # TS 29.229 §6.1.9, §6.1.11: the HSS sends these to the Diameter client.
            for command in (RTR, PPR):
                diameter.add_handler(command, self.answer_cx_request)
            core.diameter_ready = bool(diameter.open_peers)
            diameter.watch_peers(self._peers_changed)

    def _peers_changed(self, open_peers: list[str]) -> None:
        self.cscf.diameter_ready = bool(open_peers)

    async def answer_cx_request(self, request: Message) -> Message:
        """A Cx request from the HSS: the core answers it at once; what it decided to send
        (NOTIFYs, SARs) goes out even when it raised (the node turns that into an error
        answer)."""
        try:
            return self.cscf.handle_cx_request(request, asyncio.get_running_loop().time())
        finally:
            if self._loop is not None:  # started: the SIP transport can send
                self._flush()

    def _flush(self) -> None:
        super()._flush()
        for query in self.cscf.queries_to_send():
            self._ask(query)

    def _ask(self, query: DiameterQuery) -> None:
        """Send a query; its outcome comes to :meth:`_answered` (no task per query)."""
        if self.diameter is None:
            assert self._loop is not None  # _flush runs once started
            # Next iteration, as an answer would come: not into the _flush that asked.
            self._loop.call_soon(self._answered, query,
                                 DiameterUnavailable("no Diameter client configured"))
            return
        self._asking[query] = self.diameter.send_request(
            query.request, timeout=query.timeout, on_answer=partial(self._answered, query))

    def _answered(self, query: DiameterQuery, outcome: CxOutcome) -> None:
        if self._closed:
            return
        self._asking.pop(query, None)
        assert self._loop is not None
        self.cscf.answer_query(query, outcome, self._loop.time())
        self._flush()  # what the callback decided (and any follow-up query) goes out now

    async def close(self) -> None:
        self._closed = True
        for pending in self._asking.values():  # their answers would find nobody
            pending.cancel()
        self._asking.clear()
        await super().close()
