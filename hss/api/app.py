"""The FastAPI application: the /api/v1 routes behind the key, health, the error answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse

import ims_core
from hss.api import actions, errors, subscribers
from hss.api.context import ApiContext, Ctx
from hss.api.guard import MAX_BODY, Guard, require_key
from hss.api.routes import RouteTable, known_query
from hss.api.schemas import HealthOut
from hss.store import Store

PREFIX = "/api/v1"
TITLE = "ims-core HSS provisioning API"


def create_app(store: Store, *, domain: str, api_key: str, max_body: int = MAX_BODY) -> FastAPI:
    """The API over *store* (opened by the caller, who closes it); *domain* is the home
    domain (``cx.domain``); every /api/v1 request needs ``X-API-Key: api_key``."""
    if not api_key:
        raise ValueError("an API key is needed")
    key = api_key.encode()
    app = FastAPI(
        title=TITLE, version=ims_core.__version__, redoc_url=None,
        description="Subscribers of the HSS's store (the one `ims-core subscriber` and "
                    "the Cx server use): changes reach Cx at once; RTR and PPR go through "
                    "the outbox the running HSS sends. Every /api/v1 request needs the "
                    "X-API-Key header.",
    )  # fmt: skip
    app.state.ctx = ApiContext(store=store, domain=domain)
    v1 = APIRouter(prefix=PREFIX, responses=errors.COMMON_RESPONSES,
                   dependencies=[Depends(require_key(key)), Depends(known_query)])
    v1.include_router(subscribers.router)
    v1.include_router(actions.router)
    app.include_router(v1)
    health = _health()
    app.include_router(health)
    app.state.routes = RouteTable([(PREFIX, subscribers.router), (PREFIX, actions.router),
                                   ("", health)])
    errors.install(app, app.state.routes)
    app.add_middleware(Guard, key=key, max_body=max_body)
    return app


def _health() -> APIRouter:
    health = APIRouter(tags=["health"])

    @health.get("/healthz", summary="200 while the process serves")
    async def healthz() -> HealthOut:
        return HealthOut(status="ok")

    unready: dict[int | str, dict[str, Any]] = {
        503: {"model": HealthOut, "description": "The store is unreachable"}}

    @health.get("/readyz", summary="200 while the store answers, else 503",
                response_model=HealthOut, responses=unready)  # fmt: skip
    def readyz(ctx: Ctx) -> Any:
        try:
            ctx.store.count()
        except Exception:  # whatever the driver raises: not ready, and say no more
            body = HealthOut(status="unavailable", reasons=[errors.UNAVAILABLE])
            return JSONResponse(body.model_dump(), status_code=503)
        return HealthOut(status="ready")

    return health


__all__ = ["ApiContext", "create_app"]
