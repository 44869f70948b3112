"""Child processes for labs, tests and benchmarks, synchronously: start one with its
output in a file, wait until it listens, stop it by its own PID (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# The ``ims-core`` command of this interpreter and source tree.
IMS_CORE: tuple[str, ...] = (sys.executable, "-m", "ims_lab.cli")


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free for TCP and UDP on ``host`` right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no free UDP+TCP port on {host}")


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM,
                 timeout: float = 10.0) -> int:
    """Signal ``proc`` (by its PID), wait, SIGKILL it if it does not exit; its status."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return int(proc.returncode)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Processes:
    """Children started by one owner, output in ``workdir/<name>.log``; each is stopped by
    its own PID, the last started first."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None
              ) -> Child:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.workdir, env={**os.environ, **(env or {})},
            )
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def stop(self, child: Child, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signal the child, wait, kill it if it does not exit; returns its exit code."""
        return stop_process(child.proc, sig, timeout)

    def stop_all(self) -> None:
        for child in reversed(self.children):
            self.stop(child)


def wait_listening(host: str, port: int, *, timeout: float = 20.0,
                   proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until something accepts TCP on host:port (our nodes bind UDP first, then TCP).
    RuntimeError when ``proc`` exits first, TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:g}s")
