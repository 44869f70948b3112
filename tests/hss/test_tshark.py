"""tshark decodes the HSS's Cx traffic: command names, no malformed packets, no expert
warnings or errors (captured on loopback while a Diameter client runs UAR/MAR/SAR/LIR)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from hss.server import HssServer
from ims_core.diameter import make_request
from tests.hss.conftest import DOMAIN, subscriber
from tests.hss.cxutil import IMPI, IMPU, SCSCF
from tests.hss.test_server import _client, hss_config, mar

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed"),
]


def _cx(cmd: str, origin: str, avps: list[tuple[str, object]]) -> object:
    return make_request(cmd, origin_host=origin, origin_realm=DOMAIN, destination_realm=DOMAIN,
                        avps=avps)  # type: ignore[arg-type]  # fmt: skip


async def test_tshark_decodes_cx(tmp_path: Path) -> None:
    pcap = tmp_path / "hss.pcapng"
    server = HssServer(hss_config(tmp_path))
    server.store.add([subscriber()])
    port = await server.start()
    cap = subprocess.Popen(
        ["dumpcap", "-q", "-i", "lo", "-f", f"tcp port {port}", "-w", str(pcap)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    await asyncio.sleep(1.0)
    if cap.poll() is not None:
        await server.stop()
        pytest.skip(f"cannot capture on lo: {cap.stderr.read().decode()[:200]}")  # type: ignore[union-attr]
    origin = f"scscf.{DOMAIN}"
    try:
        client = await _client(origin, port)
        uar = _cx("UAR", origin, [("User-Name", IMPI), ("Public-Identity", IMPU),
                                  ("Visited-Network-Identifier", DOMAIN.encode())])  # fmt: skip
        answers = [await client.request(uar)]  # type: ignore[arg-type]
        answers.append(await client.request(mar(origin, n=2)))
        sar = _cx("SAR", origin, [("User-Name", IMPI), ("Public-Identity", IMPU),
                                  ("Server-Name", SCSCF), ("Server-Assignment-Type", 1),
                                  ("User-Data-Already-Available", 0)])  # fmt: skip
        answers.append(await client.request(sar))  # type: ignore[arg-type]
        lir = _cx("LIR", origin, [("Public-Identity", "tel:+15550000001")])
        answers.append(await client.request(lir))  # type: ignore[arg-type]
        await client.stop()
        await asyncio.sleep(0.5)
    finally:
        await server.stop()
        cap.send_signal(signal.SIGINT)
        cap.wait(timeout=10)
        if cap.stderr:
            cap.stderr.close()
    assert all(a.result == 2001 for a in answers)
    base = ["tshark", "-n", "-r", str(pcap), "-d", f"tcp.port=={port},diameter"]
    env = {**os.environ, "HOME": str(tmp_path)}  # no user profile
    info = subprocess.run(
        [*base, "-Y", "diameter", "-T", "fields", "-e", "diameter.cmd.code",
         "-e", "diameter.flags.request", "-e", "_ws.col.Info"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    for name in ("User-Authorization", "Multimedia-Auth", "Server-Assignment", "Location-Info",
                 "Capabilities-Exchange"):  # fmt: skip
        assert f"cmd={name} Request" in info, info
        assert f"cmd={name} Answer" in info, info
    bad = subprocess.run(
        [*base, "-Y", "_ws.malformed || _ws.expert.severity >= warning"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    assert bad.strip() == "", bad
