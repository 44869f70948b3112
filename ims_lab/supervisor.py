"""``ims-core lab``'s supervisor: starts the nodes one by one, forwards their output,
reports (and never restarts) a node that dies, stops them all in reverse order."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ims_core import runtime

from .health import metrics_url
from .procs import IMS_CORE
from .readyz import probe_http

# What a readiness check found wrong, as (what, detail) for "<node>: <what> after Ns<detail>".
Problem = tuple[str, str] | None


def say(text: str) -> None:
    print(f"ims-core lab: {text}", flush=True)


@dataclass(frozen=True, slots=True)
class NodePlan:
    """One child: its name (the ``ims-core`` subcommand), config file and the TCP address
    that answers when ready; ``args`` follow the config (``--set``s); ``http``: where its
    HTTP listener binds, whose ``/readyz`` must then answer 200 too; ``metrics``: whether
    that listener serves ``/metrics``."""

    name: str
    config: str
    probe: tuple[str, int]
    args: tuple[str, ...] = ()
    http: tuple[str, int] | None = None
    metrics: bool = False

    def argv(self) -> list[str]:
        return [*IMS_CORE, self.name, "-c", self.config, *self.args]

    def url(self, path: str) -> str:
        """``http://host:port<path>`` on the HTTP listener ("" without one)."""
        return "" if self.http is None else metrics_url(*self.http, path)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM if the lab dies (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def _answers(host: str, port: int) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class Child:
    def __init__(self, node: NodePlan, proc: asyncio.subprocess.Process) -> None:
        self.node = node
        self.proc = proc
        self.pump: asyncio.Task[None] | None = None
        self.waiter: asyncio.Task[int] = asyncio.ensure_future(proc.wait())

    @property
    def exited(self) -> bool:
        return self.proc.returncode is not None


class Supervisor:
    def __init__(self, nodes: Sequence[NodePlan], on_ready: Callable[[], None], *,
                 ready_timeout: float, stop_timeout: float) -> None:
        self.nodes = nodes
        self.on_ready = on_ready
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.children: list[Child] = []
        self.stop = asyncio.Event()  # replaced by the signal-driven one in run()
        self.width = max(len(n.name) for n in nodes)

    def _kill_all(self) -> None:
        """The second Ctrl-C: no more patience."""
        for child in self.children:
            with contextlib.suppress(ProcessLookupError):
                child.proc.kill()

    async def run(self) -> int:
        # The handlers stay installed while stopping: that is when a second signal counts.
        with runtime.stop_on_signals(again=self._kill_all) as self.stop:
            try:
                status = await self._start_all()
                if status is None:
                    self.on_ready()
                    status = await self._watch()
            finally:
                status_stop = await self._stop_all()
        return status if status else status_stop

    async def _pump(self, child: Child) -> None:
        stream = child.proc.stdout
        assert stream is not None
        prefix = f"{child.node.name:<{self.width}} | "
        while line := await stream.readline():
            sys.stdout.write(prefix + line.decode("utf-8", "replace").rstrip("\r\n") + "\n")
            sys.stdout.flush()

    async def _start_all(self) -> int | None:
        """Start each node and wait for it; a status to exit with on failure, None when
        all are ready."""
        for node in self.nodes:
            # Something already answering there (another lab, a node still stopping) would
            # pass our readiness probe while our own node fails to bind: refuse up front.
            for address in (node.probe, node.http):
                if address is not None and await _answers(*address):
                    say(f"{node.name}: {address[0]}:{address[1]} is already in use "
                        "(another lab or node running?); nothing started")
                    return 1
        for node in self.nodes:
            if self.stop.is_set():
                return 0
            proc = await asyncio.create_subprocess_exec(
                *node.argv(), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent,
            )
            child = Child(node, proc)
            child.pump = asyncio.ensure_future(self._pump(child))
            self.children.append(child)
            say(f"{node.name}: started (pid {proc.pid}, {node.config})")
            ready = await self._wait_ready(child)
            if ready is not None:
                return ready
        return None

    async def _wait_ready(self, child: Child) -> int | None:
        """Until the child accepts TCP on its probe address and, with an HTTP listener,
        its /readyz answers 200; a status to exit with when it does not."""
        node = child.node
        host, port = node.probe
        deadline = time.monotonic() + self.ready_timeout

        async def listens() -> Problem:
            return None if await _answers(host, port) else (f"not listening on {host}:{port}",
                                                            "")

        status = await self._poll(child, deadline, listens, 0.05)
        if status is not None:
            return status
        say(f"{node.name}: listening on {host}:{port}")
        url = node.url("/readyz")
        if not url:
            return None

        async def ready() -> Problem:
            verdict = await asyncio.to_thread(probe_http, node.name, url, 1.0)
            return None if verdict.healthy else ("not ready", f": {verdict.reason}")

        status = await self._poll(child, deadline, ready, 0.1)
        if status is None:
            say(f"{node.name}: ready ({url} answered 200)")
        return status

    async def _poll(self, child: Child, deadline: float,
                    check: Callable[[], Awaitable[Problem]], interval: float) -> int | None:
        """``check`` until it finds no problem (None); 1 when the child exits first or the
        deadline passes (saying what ``check`` found last), 0 on a stop signal."""
        while True:
            if child.exited:
                say(f"{child.node.name}: exited with status {child.proc.returncode} "
                    "before it was ready")
                return 1
            if self.stop.is_set():
                return 0
            problem = await check()
            if problem is None:
                return None
            if time.monotonic() > deadline:
                what, detail = problem
                say(f"{child.node.name}: {what} after {self.ready_timeout:g}s{detail}")
                return 1
            await asyncio.sleep(interval)

    async def _watch(self) -> int:
        """Until a signal (0) or a child's exit (1: reported, nothing restarted)."""
        stop = asyncio.ensure_future(self.stop.wait())
        try:
            waiters = {c.waiter: c for c in self.children}
            done, _ = await asyncio.wait([stop, *waiters], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        dead = [waiters[t] for t in done if t in waiters]
        for child in dead:
            say(f"{child.node.name} (pid {child.proc.pid}) exited with status "
                f"{child.proc.returncode}; stopping the others (nothing is restarted)")
        return 1 if dead else 0

    async def _stop_all(self) -> int:
        """Stop every child still running, upstream first; 0 if all exit cleanly."""
        status = 0
        for child in reversed(self.children):
            if not child.exited:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.shield(child.waiter), self.stop_timeout)
                except TimeoutError:
                    say(f"{child.node.name}: no exit {self.stop_timeout:g}s after "
                        "SIGTERM; SIGKILL")
                    with contextlib.suppress(ProcessLookupError):
                        child.proc.kill()
                    await child.waiter
                    status = 1
                code = child.proc.returncode
                if code not in (0, None) and status == 0 and code != -signal.SIGKILL:
                    say(f"{child.node.name}: stopped with status {code}")
                    status = 1
                else:
                    say(f"{child.node.name}: stopped")
            if child.pump is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(child.pump, 2.0)
        return status
