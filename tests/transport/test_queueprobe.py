"""The own-queue probe (overload control's view of the node's socket buffer): real UDP
sockets on 127.0.0.1, and the sans-I/O part alone."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from ims_core.sip import Request, Response
from ims_core.sip.addressing import Source
from ims_core.transport import SipTransport, TransportConfig
from ims_core.transport.queueprobe import QueueProbe, attach, probe_target


def test_probe_payloads_give_the_delay_and_anything_else_is_ignored() -> None:
    seen: list[tuple[float, float]] = []
    probe = QueueProbe(lambda delay, now: seen.append((delay, now)))
    data = probe.payload(10.0)
    probe.arrived(data, 10.25)
    probe.arrived(b"\r\n\r\n", 10.3)  # not a probe
    probe.arrived(probe.payload(11.0), 10.0)  # from the future: not ours
    assert seen == [(0.25, 10.25)] and (probe.sent, probe.received) == (2, 1)


@pytest.mark.parametrize(("local", "target"), [
    (("127.0.0.5", 5060), ("127.0.0.1", "127.0.0.5", 5060)),
    (("0.0.0.0", 5060), ("127.0.0.1", "127.0.0.1", 5060)),
    (("[::]", 5062), ("::1", "::1", 5062)),
])
def test_a_wildcard_listener_is_probed_on_loopback(local: tuple[str, int],
                                                   target: tuple[str, str, int]) -> None:
    assert probe_target(local)[1:] == target[1:]


async def test_the_probe_measures_the_time_datagrams_wait_in_the_socket() -> None:
    got: list[Request | Response] = []

    def handle(msg: Request | Response, source: Source) -> None:
        got.append(msg)

    transport = SipTransport(TransportConfig(host="127.0.0.1", port=0), handle)
    await transport.start()
    delays: list[float] = []
    sender = attach(transport, 0.01, lambda delay, now: delays.append(delay))
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        await asyncio.sleep(0.2)
        assert sender.probe.sent == sender.probe.received == 1  # idle: quiet after one
        for _ in range(40):  # traffic (keep-alives): probes every 10 ms
            client.sendto(b"\r\n\r\n", transport.local)
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)
        assert sender.probe.received >= 6 and max(delays) < 0.1  # a quick loop: no queue
        delays.clear()
        loop = asyncio.get_running_loop()
        sender.sock.sendto(sender.probe.payload(loop.time()), sender.dest)
        time.sleep(0.15)  # the loop is busy: the probe waits in the kernel meanwhile
        await asyncio.sleep(0.05)
        assert max(delays) >= 0.15
        assert got == []  # probes never reach the SIP handler
    finally:
        client.close()
        sender.close()
        await transport.close()
