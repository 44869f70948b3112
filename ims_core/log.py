"""Logging via structlog: a human console format by default, JSON lines on request.

Nodes log one event per SIP transaction or Diameter exchange with the fields that
identify it (call-id, branch, method, status, peer, latency) rather than free text.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from ims_core.config import LogConfig


def setup(config: LogConfig | None = None, *, node: str | None = None) -> None:
    """Configure structlog and the stdlib root logger once per process."""
    cfg = config or LogConfig()
    level = getattr(logging, cfg.level.upper())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if cfg.format == "json":
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    if node is not None:
        structlog.contextvars.bind_contextvars(node=node)


def get(name: str | None = None) -> Any:
    """A bound structlog logger; ``name`` becomes the ``logger`` field."""
    log = structlog.get_logger()
    return log.bind(logger=name) if name else log
