"""The HSS over real TCP on loopback: our Diameter client against HssServer."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hss import sqn as sqnmod
from hss.config import DiameterConfig as HssDiameterConfig
from hss.config import HssConfig, StoreConfig
from hss.server import HssServer
from hss.store.base import Store
from ims_core import auth
from ims_core.diameter import (
    DiameterConfig,
    DiameterUnavailable,
    Message,
    ResultCode,
    make_request,
)
from ims_core.diameter.node import DiameterNode
from tests.hss.conftest import DOMAIN, subscriber
from tests.hss.cxutil import IMPI, IMPU, SCSCF

CLIENTS = 6


def hss_config(tmp_path: Path, **store: str) -> HssConfig:
    peers = (*(f"scscf{i}.{DOMAIN}" for i in range(CLIENTS)), f"icscf.{DOMAIN}", f"scscf.{DOMAIN}")
    return HssConfig(
        data_dir=str(tmp_path),
        workers=4,
        diameter=HssDiameterConfig(listen_host="127.0.0.1", listen_port=0, peers=peers),
        store=StoreConfig(**store) if store else StoreConfig(),
    )


def mar(origin: str, n: int = 2) -> Message:
    return make_request(
        "MAR", origin_host=origin, origin_realm=DOMAIN, destination_realm=DOMAIN,
        avps=[("User-Name", IMPI), ("Public-Identity", IMPU), ("SIP-Number-Auth-Items", n),
              ("SIP-Auth-Data-Item", [("SIP-Authentication-Scheme", "Digest-AKAv1-MD5")]),
              ("Server-Name", SCSCF)],
    )  # fmt: skip


async def _client(origin: str, port: int) -> DiameterNode:
    node = DiameterNode(DiameterConfig(origin, DOMAIN, watchdog_jitter=0))
    await node.connect("127.0.0.1", port, timeout=5)
    return node


def _sqns(ans: Message) -> list[int]:
    s = subscriber()
    out = []
    for it in ans.get_all("SIP-Auth-Data-Item"):
        sa = it.get_bytes("SIP-Authenticate")
        ue = auth.check_autn(s.k, s.opc, sa[:16], sa[16:])
        assert ue is not None
        out.append(sqnmod.from_bytes(ue[0]))
    return out


async def test_concurrent_mars_from_many_connections(store: Store, tmp_path: Path) -> None:
    """No two vectors share an SQN under concurrent MARs over several TCP connections."""
    store.add([subscriber()])
    server = HssServer(hss_config(tmp_path), store=store)
    port = await server.start()
    clients = [await _client(f"scscf{i}.{DOMAIN}", port) for i in range(CLIENTS)]
    try:
        reqs = [c.request(mar(f"scscf{i}.{DOMAIN}"), timeout=20)
                for i, c in enumerate(clients) for _ in range(25)]  # fmt: skip
        answers = await asyncio.gather(*reqs)
    finally:
        for c in clients:
            await c.stop()
        await server.stop()
    assert all(a.result_code == ResultCode.SUCCESS for a in answers)
    sqns = [x for a in answers for x in _sqns(a)]
    assert len(sqns) == CLIENTS * 25 * 2
    assert len(set(sqns)) == len(sqns)


async def test_unknown_peer_refused(tmp_path: Path) -> None:
    server = HssServer(hss_config(tmp_path))
    port = await server.start()
    try:
        node = DiameterNode(DiameterConfig(f"stranger.{DOMAIN}", DOMAIN, watchdog_jitter=0,
                                           reconnect_min=30))  # fmt: skip
        with pytest.raises(DiameterUnavailable):
            await node.connect("127.0.0.1", port, timeout=3)
        await node.stop()
    finally:
        await server.stop()


async def test_uar_over_tcp_and_unknown_user(tmp_path: Path) -> None:
    server = HssServer(hss_config(tmp_path))
    server.store.add([subscriber()])
    port = await server.start()
    client = await _client(f"icscf.{DOMAIN}", port)
    try:
        uar = make_request(
            "UAR", origin_host=f"icscf.{DOMAIN}", origin_realm=DOMAIN, destination_realm=DOMAIN,
            avps=[("User-Name", IMPI), ("Public-Identity", IMPU),
                  ("Visited-Network-Identifier", DOMAIN.encode())],
        )  # fmt: skip
        ans = await client.request(uar, timeout=5)
        assert ans.experimental_result == (10415, 2001)
        assert ans.get_grouped("Server-Capabilities") is not None
        ans = await client.request(mar(f"icscf.{DOMAIN}"), timeout=5)
        assert ans.result_code == ResultCode.SUCCESS
        bad = mar(f"icscf.{DOMAIN}")
        bad.remove("User-Name")
        bad.add("User-Name", "nobody@x")
        ans = await client.request(bad, timeout=5)
        assert ans.experimental_result == (10415, 5001)
        assert ans.get_str("User-Name") == "nobody@x"
    finally:
        await client.stop()
        await server.stop()


def _write_config(tmp_path: Path, port: int, level: str = "info") -> Path:
    cfg = tmp_path / "hss.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path}"\n'
        f'[diameter]\nlisten_host = "127.0.0.1"\nlisten_port = {port}\n'
        f'[log]\nlevel = "{level}"\nformat = "json"\n'
    )
    return cfg


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.integration
async def test_ims_core_hss_process(tmp_path: Path) -> None:
    """`ims-core subscriber seed` then `ims-core hss -c …` as a process; SIGTERM stops it.
    The exchange line per Cx request is shown (JSON logs: at info)."""
    port = _free_port()
    cfg = _write_config(tmp_path, port, level="debug")
    exe = [sys.executable, "-m", "ims_lab.cli"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([*exe, "subscriber", "-c", str(cfg), "seed", "--count", "3"],
                   check=True, env=env, capture_output=True)  # fmt: skip
    proc = subprocess.Popen([*exe, "hss", "-c", str(cfg)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not _listening(port):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "HSS did not start listening"
            await asyncio.sleep(0.1)
        client = await _client(f"scscf.{DOMAIN}", port)
        req = mar(f"scscf.{DOMAIN}", n=1)
        req.remove("User-Name")
        req.remove("Public-Identity")
        req.add("User-Name", IMPI)
        req.add("Public-Identity", IMPU)
        ans = await client.request(req, timeout=5)
        assert ans.result_code == ResultCode.SUCCESS
        await client.stop()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    assert '"event": "hss_started"' in out and '"event": "cx_exchange"' in out


def test_config_file_parses() -> None:
    from hss.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[2] / "config" / "hss.toml")
    assert cfg.diameter.listen_host == "127.0.0.4" and cfg.diameter.listen_port == 3868
    assert cfg.diameter.origin_host == f"hss.{DOMAIN}"
    assert set(cfg.diameter.peers) == {f"icscf.{DOMAIN}", f"scscf.{DOMAIN}"}
    assert cfg.cx.capabilities.server_names == (SCSCF,)
    assert dataclasses.replace(cfg).store.backend == "sqlite"
