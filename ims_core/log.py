"""Logging via structlog: a human console format by default, JSON lines on request.

Nodes log one event per SIP transaction or Diameter exchange with the fields that
identify it (call-id, branch, method, status, peer, latency) rather than free text.

structlog is imported on first use, not at import: it pulls in asyncio, and the sans-I/O
cores that hold a module-level ``_log = log.get(...)`` must import without it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from ims_core.config import LogConfig


def setup(config: LogConfig | None = None, *, node: str | None = None,
          stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib root logger once per process, writing to
    ``stream`` (default stderr; the node processes log to stdout)."""
    import structlog

    out = sys.stderr if stream is None else stream

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
        processors.append(structlog.dev.ConsoleRenderer(colors=out.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level, stream=out, format="%(name)s %(levelname)s %(message)s")
    global _exchange_level
    wanted = {"auto": "info" if cfg.format == "json" else "debug"}.get(cfg.exchanges,
                                                                      cfg.exchanges)
    _exchange_level = (None if wanted == "off" or getattr(logging, wanted.upper()) < level
                       else wanted)
    if node is not None:
        structlog.contextvars.bind_contextvars(node=node)


# The level of the exchange lines (LogConfig.exchanges), None when they are not shown;
# None until setup(), so cores driven by tests build no fields for them.
_exchange_level: str | None = None


def exchanges_enabled() -> bool:
    """Whether the one-line-per-exchange events are shown: ask before building fields."""
    return _exchange_level is not None


def exchange(logger: Any, event: str, **fields: Any) -> None:
    """Emit one exchange line (a SIP transaction, a Diameter request/answer) at the level
    :func:`setup` chose for them; nothing when they are off."""
    if _exchange_level is not None:
        getattr(logger, _exchange_level)(event, **fields)


class _Named:
    """A logger bound to ``logger=name`` on first use, not at creation: a module-level
    ``_log = log.get(...)`` runs at import, before :func:`setup` has set level and format.

    Each method is looked up on the bound logger once and then kept on this object, so
    a call costs what the bound logger's costs: nothing much for a level the filter
    drops. Callers whose fields are costly to build ask ``is_enabled_for(level)`` first.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._bound: Any = None

    def __getattr__(self, attr: str) -> Any:
        bound = self._bound
        if bound is None:
            import structlog

            bound = self._bound = structlog.get_logger().bind(logger=self._name)
        value = getattr(bound, attr)
        # Only reached while `attr` is not yet an instance attribute: keep it, so later
        # calls skip this method (the bound logger never changes once made).
        self.__dict__[attr] = value
        return value


def get(name: str | None = None) -> Any:
    """A structlog logger; ``name`` becomes the ``logger`` field."""
    if name:
        return _Named(name)
    import structlog

    return structlog.get_logger()
