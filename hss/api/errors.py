"""Every error a request can meet, as a JSON answer with a status that says what to do:
404 unknown, 409 clashes with what is stored, 422 bad input (the body FastAPI gives a
validation error, for the rules JSON Schema cannot say), 503 store unreachable. No
traceback ever reaches a client; the unexpected is logged and answered 500 without one.
"""

from __future__ import annotations

import sqlite3
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from hss import admin, provision
from hss.api.routes import RouteTable
from hss.api.schemas import ErrorOut
from hss.store import DuplicateError, StoreError, UnknownSubscriber
from ims_core import log

_log = log.get("hss-api")

UNAVAILABLE = "the subscriber store is unavailable"

# Documented on every /api/v1 operation (any of them can meet these).
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body cannot be read (no UTF-8 JSON)"},
    401: {"model": ErrorOut, "description": "No or a wrong X-API-Key"},
    413: {"model": ErrorOut, "description": "Request body too large"},
    503: {"model": ErrorOut, "description": "The subscriber store is unreachable"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such subscriber, identity or push"},
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "Clashes with what is stored"},
}


def error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def invalid(detail: str) -> JSONResponse:
    """422 in the shape of FastAPI's validation errors (one body schema for all 422s)."""
    return JSONResponse(
        {"detail": [{"loc": ["body"], "msg": detail, "type": "value_error"}]}, status_code=422
    )


def _driver_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """(the database cannot be reached or is busy, a constraint refused a write)."""
    unreachable: tuple[type[Exception], ...] = (sqlite3.OperationalError,)
    refused: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
    try:
        import psycopg
    except ImportError:  # optional extra
        return unreachable, refused
    return ((*unreachable, psycopg.OperationalError, psycopg.InterfaceError),
            (*refused, psycopg.IntegrityError))


def install(app: FastAPI, routes: RouteTable) -> None:
    """Register the handlers (Starlette picks the most specific class of an error)."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        allowed = routes.allowed(request.url.path) if exc.status_code == 405 else []
        if allowed:
            return JSONResponse({"detail": exc.detail}, status_code=405,
                                headers={"Allow": ", ".join(allowed)})
        return await http_exception_handler(request, exc)

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return error(404, str(exc) or "not found")

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        return error(409, str(exc))

    async def bad_input(request: Request, exc: Exception) -> JSONResponse:
        return invalid(str(exc))

    async def unreachable(request: Request, exc: Exception) -> JSONResponse:
        _log.warning("hss_api_store_unavailable", path=request.url.path, error=str(exc))
        return error(503, UNAVAILABLE)

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        return error(409, "conflicts with what is stored")

    async def unknown_subscriber(request: Request, exc: Exception) -> JSONResponse:
        return error(404, f"no subscriber {exc}")

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The plain traceback, not exc_info: a renderer showing frame locals would log the
        # API key and credentials from the request.
        _log.error("hss_api_internal_error", path=request.url.path, method=request.method,
                   error=f"{type(exc).__name__}: {exc}",
                   traceback="".join(traceback.format_tb(exc.__traceback__)))
        return error(500, "internal error")

    down, constraint = _driver_errors()
    handlers: list[tuple[type[Exception], Any]] = [
        (StarletteHTTPException, http_error),
        (admin.NotFound, not_found),
        (provision.UnknownIdentity, not_found),
        (UnknownSubscriber, unknown_subscriber),
        (admin.Conflict, conflict),
        (admin.NotRoutable, conflict),
        (provision.IdentityExists, conflict),
        (DuplicateError, conflict),
        (provision.ProvisionError, bad_input),
        (StoreError, unreachable),
        *((cls, unreachable) for cls in down),
        *((cls, refused) for cls in constraint),
        (Exception, unexpected),
    ]
    for cls, handler in handlers:
        app.add_exception_handler(cls, handler)
