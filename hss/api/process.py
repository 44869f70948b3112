"""``ims-core hss-api -c config/hss.toml``: the API as a process of its own (uvicorn).

Start-up: the store, the listening socket on ``[api] host:port``, the API key (``[api]
api_key``, else ``<data_dir>/api-key``, made at the first start that gets this far:
``secrets.token_urlsafe(32)``, mode 0600, logged that once); then serve until SIGINT or
SIGTERM. Exit status as the HSS's (:mod:`ims_core.runtime`): 0 stopped by a signal,
1 failure, 2 bad configuration, 3 cannot listen, 4 store unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from hss.api.app import create_app
from hss.config import HssConfig
from hss.store import Store, StoreError
from ims_core import log, runtime
from ims_core.config import ConfigError

KEY_FILE = "api-key"
MIN_KEY = 16


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKey:
    """The key and where it came from: ``path`` None when the config gave it; ``created``
    when this start made it (the one time it is shown)."""

    value: str
    path: Path | None = None
    created: bool = False


def api_key(cfg: HssConfig) -> ApiKey:
    """``[api] api_key``, or the key kept in ``<data_dir>/api-key``, made there when missing
    (:class:`ConfigError` for a file that holds no usable key, OSError when it cannot be
    read or written)."""
    if cfg.api.api_key:
        return ApiKey(cfg.api.api_key)
    path = Path(cfg.data_dir) / KEY_FILE
    while True:
        try:
            text = path.read_bytes().decode("ascii").strip()
        except FileNotFoundError:
            pass
        except UnicodeDecodeError:
            text = ""
        else:
            if len(text) < MIN_KEY or not text.isprintable():
                raise ConfigError(f"{path} holds no API key (delete it for a new one)")
            return ApiKey(text, path)
        key = secrets.token_urlsafe(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: of two processes starting at once, one makes it, the other reads it
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key + "\n")
        return ApiKey(key, path, created=True)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (OSError when the address cannot be had)."""
    family, kind, proto, _, addr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: :func:`ims_core.runtime.stop_on_signals`
    ends it, and the process exits 0 like every node (uvicorn would re-raise the signal)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(app: FastAPI, sock: socket.socket, stop: asyncio.Event | None = None) -> None:
    """Serve *app* on *sock* until SIGINT/SIGTERM or, embedded, *stop*."""
    config = uvicorn.Config(app, log_config=None, access_log=False, server_header=False,
                            lifespan="off", proxy_headers=False, timeout_graceful_shutdown=5)
    server = _Server(config)
    with runtime.stop_on_signals(stop) as stopped:
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        waiter = asyncio.ensure_future(stopped.wait())
        try:
            await asyncio.wait({serving, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            server.should_exit = True
            waiter.cancel()
            await serving


def run(cfg: HssConfig) -> int:
    log.setup(cfg.log, node="hss-api", stream=sys.stdout)
    logger = log.get("hss-api")
    from hss.server import open_hss_store

    try:
        store = open_hss_store(cfg)
    except StoreError as exc:
        logger.error("hss_api_store_unreachable", error=str(exc))
        return runtime.EXIT_STORE
    try:
        return _serve(cfg, store, logger)
    finally:
        store.close()


def _serve(cfg: HssConfig, store: Store, logger: Any) -> int:
    # The store and the address first: a key made at a start that fails would never be
    # shown (the next start finds the file).
    try:
        sock = bind(cfg.api.host, cfg.api.port)
    except OSError as exc:
        logger.error("hss_api_listen_failed", host=cfg.api.host, port=cfg.api.port,
                     error=exc.strerror or str(exc))
        return runtime.EXIT_LISTEN
    try:
        key = api_key(cfg)
    except (ConfigError, OSError) as exc:
        sock.close()
        logger.error("hss_api_bad_key", error=str(exc))
        return runtime.EXIT_CONFIG if isinstance(exc, ConfigError) else runtime.EXIT_FAILED
    if key.created:
        # The one time it is shown: operators copy it from here or read the file.
        logger.warning("hss_api_key_created", api_key=key.value, path=str(key.path))
    app = create_app(store, domain=cfg.cx.domain, api_key=key.value)
    logger.info("hss_api_started", host=cfg.api.host, port=sock.getsockname()[1],
                store=cfg.store.backend, openapi="/openapi.json")
    runtime.run(serve(app, sock))
    logger.info("hss_api_stopped")
    return runtime.EXIT_OK
