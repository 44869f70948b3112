"""Start a real ``ims-core hss`` process on loopback for interop tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
HSS_HOST = f"hss.{DOMAIN}"
CLIENT_HOST = f"scscf.{DOMAIN}"


def ims_core_exe() -> str:
    exe = Path(sys.executable).with_name("ims-core")
    return str(exe) if exe.exists() else shutil.which("ims-core") or "ims-core"


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def write_config(data_dir: Path, host: str, port: int, *, extra_peers: tuple[str, ...] = (),
                 avoid_res_zero_octet: bool = False, workers: int = 4) -> Path:
    peers = [f"icscf.{DOMAIN}", f"scscf.{DOMAIN}", *extra_peers]
    cfg = data_dir / "hss.toml"
    cfg.write_text(f"""
data_dir = "{data_dir}"
workers = {workers}
[diameter]
listen_host = "{host}"
listen_port = {port}
origin_host = "{HSS_HOST}"
origin_realm = "{DOMAIN}"
peers = {peers!r}
[store]
backend = "sqlite"
path = "hss.sqlite"
[cx]
domain = "{DOMAIN}"
max_vectors = 5
avoid_res_zero_octet = {"true" if avoid_res_zero_octet else "false"}
[cx.capabilities]
server_names = ["sip:scscf.{DOMAIN}:5060"]
[log]
level = "warning"
""".replace("'", '"'))
    return cfg


@dataclass
class HssProcess:
    host: str
    port: int
    config: Path
    proc: subprocess.Popen[bytes]


def wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hss exited early with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"hss did not listen on {host}:{port} within {timeout}s")


@contextlib.contextmanager
def running_hss(data_dir: Path, *, seed: int = 10, host: str = "127.0.0.4",
                env: dict[str, str] | None = None, **cfg_kw: object) -> Iterator[HssProcess]:
    port = free_port(host)
    cfg = write_config(data_dir, host, port, **cfg_kw)  # type: ignore[arg-type]
    full_env = {**os.environ, **(env or {})}
    subprocess.run([ims_core_exe(), "subscriber", "-c", str(cfg), "seed", "--count", str(seed)],
                   check=True, capture_output=True, env=full_env, timeout=120)
    log = (data_dir / "hss.log").open("wb")
    proc = subprocess.Popen([ims_core_exe(), "hss", "-c", str(cfg)], stdout=log,
                            stderr=subprocess.STDOUT, env=full_env)
    try:
        wait_for_port(host, port, proc, timeout=20)
        yield HssProcess(host, port, cfg, proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
