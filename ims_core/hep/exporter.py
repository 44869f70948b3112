"""Sends a HEP3 copy of each message a node's transports tap to the ``[hep]`` collector.

A :class:`HepExporter` is a :class:`ims_core.wiretap.WireTap`: ``transport.tap = exporter``.
It owns one connected UDP socket. A copy is encoded and handed to the kernel at once; it
is dropped, never queued behind the node's own traffic, when the socket's buffer is full,
the collector is unreachable or the message cannot be encoded. Problems are logged once
per kind, not per packet, and counted (``sent``, ``dropped``, ``errors``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol, cast

from ims_core import log
from ims_core.wiretap import Address, Payload, Proto

from .codec import (
    IPPROTO_TCP,
    IPPROTO_UDP,
    HepError,
    HepPacket,
    ProtoType,
    correlation_id,
    encode,
    timestamp,
)
from .config import HepConfig

_log = log.get("ims_core.hep")

# Octets asyncio may hold for a socket whose kernel buffer was full: past this, drop.
MAX_BUFFERED = 256 * 1024
_PROTO_TYPE = {"sip": ProtoType.SIP, "diameter": ProtoType.DIAMETER}
_IP_PROTO = {"udp": IPPROTO_UDP, "tcp": IPPROTO_TCP}


class _Sender(Protocol):
    """What the exporter uses of the loop's datagram transport (its selector and uvloop
    transports both count what they hold back in ``get_write_buffer_size``)."""

    def sendto(self, data: bytes, addr: None = None, /) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def close(self) -> None: ...


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, exporter: HepExporter) -> None:
        self.exporter = exporter

    def error_received(self, exc: Exception) -> None:
        # A connected UDP socket reports an earlier ICMP error (no collector listening)
        # on a later send; asyncio hands it here instead of raising.
        self.exporter.errors += 1
        self.exporter._warn_once("hep.send_failed", error=str(exc))

    def connection_lost(self, exc: Exception | None) -> None:
        self.exporter._transport = None


class HepExporter:
    """``start()`` opens the socket, ``close()`` closes it; calling the exporter sends one
    message's copy. Until ``start()`` has succeeded, and after ``close()``, calls count
    as dropped. It never blocks and never raises."""

    def __init__(self, cfg: HepConfig, node: str) -> None:
        self.cfg = cfg
        self.node = node
        self.sent = 0
        self.dropped = 0  # not sent: socket buffer full, no socket, or not encodable
        self.errors = 0  # send errors the socket reported
        self._transport: _Sender | None = None
        self._logged: set[str] = set()
        self._capture_id = cfg.capture_id
        self._auth_key = cfg.password.encode()
        self._node_name = node.encode()

    def counts(self) -> list[tuple[tuple[str, ...], float]]:
        """The totals as ``ims_hep_packets{outcome}`` samples
        (:func:`ims_core.metrics.groups.hep_packets`)."""
        return [(("sent",), self.sent), (("dropped",), self.dropped),
                (("error",), self.errors)]

    @property
    def collector(self) -> tuple[str, int]:
        return self.cfg.host, self.cfg.port

    async def start(self) -> None:
        """Resolve the collector and open a UDP socket connected to it. A collector that
        cannot be resolved or reached is logged (``hep.unavailable``) and the exporter
        drops every copy: capture must never stop the node from serving."""
        if self._transport is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Socket(self), remote_addr=self.collector)
        except OSError as exc:
            self._warn_once("hep.unavailable", error=str(exc))
            return
        self._transport = cast(_Sender, transport)
        _log.info("hep.exporting", collector=f"{self.cfg.host}:{self.cfg.port}",
                  capture_id=self.cfg.capture_id, node=self.node)

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    def __call__(self, payload: Payload, proto: Proto, src: Address, dst: Address,
                 data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.get_write_buffer_size() > MAX_BUFFERED:
            self.dropped += 1
            return
        sec, usec = timestamp(time.time())
        try:
            packet = encode(HepPacket(
                src, dst, _IP_PROTO[proto], _PROTO_TYPE[payload], sec, usec, self._capture_id,
                data, correlation_id(payload, data), self._auth_key, self._node_name))
        except HepError as exc:
            self.dropped += 1
            self._warn_once("hep.not_encodable", error=str(exc))
            return
        except Exception as exc:  # a caller outside the WireTap contract: still no raise
            self.dropped += 1
            self._warn_once("hep.not_encodable", error=repr(exc))
            return
        try:
            transport.sendto(packet)
        except (OSError, RuntimeError) as exc:  # a transport being closed, say
            self.errors += 1
            self._warn_once("hep.send_failed", error=str(exc))
            return
        self.sent += 1

    def _warn_once(self, event: str, **fields: Any) -> None:
        """Log the first problem of each kind only: a collector that is down would
        otherwise cost a log line per message."""
        if event not in self._logged:
            self._logged.add(event)
            _log.warning(event, collector=f"{self.cfg.host}:{self.cfg.port}",
                         node=self.node, **fields)
