"""How long datagrams wait in a node's own UDP socket buffer before the node reads them.

A node that falls behind does not see its backlog: the kernel queues the datagrams, and
each one looks fresh when the event loop finally reads it. Without per-datagram kernel
timestamps (SO_TIMESTAMP needs recvmsg, which the loop's datagram transport does not
offer), the node measures the queue by sending itself a probe every ``interval``
seconds from a socket of its own: an 8-byte send time (the loop clock), queued behind
whatever arrived before it. When the transport reads it, now minus that time is the
queue delay, fed to ``on_delay`` (overload control, :mod:`ims_core.cscf.overload`).
A probe lost to a full buffer is just one sample fewer. While no other datagram
arrives the probe stays quiet: an idle node sends nothing (captures of an idle lab show
no probes; when load comes, the first probe goes out within ``interval``). A capture
shows a probe as an 8-byte UDP datagram from the node's address to its SIP port, which
Wireshark leaves undecoded (not SIP).

``QueueProbe`` is the sans-I/O part (what to send, what a probe read means); the
transport hands it datagrams from its source address (``SipTransport.probe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .layer import SipTransport

_STAMP = struct.Struct("!d")
LOOPBACK = {socket.AF_INET: "127.0.0.1", socket.AF_INET6: "::1"}


class QueueProbe:
    """Probe payloads and what a probe read at ``now`` says (sans-I/O)."""

    def __init__(self, on_delay: Callable[[float, float], object]) -> None:
        self.on_delay = on_delay  # (delay seconds, now)
        self.sent = 0
        self.received = 0

    def payload(self, now: float) -> bytes:
        self.sent += 1
        return _STAMP.pack(now)

    def arrived(self, data: bytes, now: float) -> None:
        """A datagram from the probe's address, read at ``now``: anything but a probe
        payload is ignored (nothing else comes from that socket)."""
        if len(data) != _STAMP.size:
            return
        (stamp,) = _STAMP.unpack(data)
        if not 0.0 <= now - stamp < 3600.0:
            return
        self.received += 1
        self.on_delay(now - stamp, now)


def probe_target(local: tuple[str, int]) -> tuple[int, str, int]:
    """(family, address, port) the probe sends to for a listener bound to ``local``: a
    wildcard listener is reached on loopback."""
    host, port = local[0].strip("[]"), local[1]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if host in ("0.0.0.0", "::", ""):
        host = LOOPBACK[family]
    return family, host, port


class ProbeSender:
    """The asyncio side: a UDP socket of its own sending a probe every ``interval``."""

    def __init__(self, probe: QueueProbe, target: tuple[int, str, int],
                 interval: float, activity: Callable[[], int] = lambda: 1) -> None:
        family, host, port = target
        self.probe = probe
        self.activity = activity  # a count that moves while traffic comes in
        self._seen = -1
        self.interval = interval
        self.dest = (host, port)
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.bind((host, 0))
        addr = self.sock.getsockname()
        self.address: tuple[str, int] = (str(addr[0]), int(addr[1]))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._send()

    def _send(self) -> None:
        loop = self._loop
        assert loop is not None
        seen = self.activity()
        if seen != self._seen:  # traffic since the last probe (ours counts once)
            self._seen = seen + 1
            # A full buffer (EAGAIN) or a send error: this probe is lost, the next one tries.
            with contextlib.suppress(OSError):
                self.sock.sendto(self.probe.payload(loop.time()), self.dest)
        self._handle = loop.call_later(self.interval, self._send)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.sock.close()


def attach(transport: SipTransport, interval: float,
           on_delay: Callable[[float, float], object]) -> ProbeSender:
    """Probe ``transport``'s (started) UDP listener every ``interval`` seconds; stop with
    ``close()`` on what this returns."""
    probe = QueueProbe(on_delay)
    sender = ProbeSender(probe, probe_target(transport.local), interval,
                         lambda: transport.datagrams)
    transport.probe, transport.probe_from = probe, sender.address
    sender.start()
    return sender
