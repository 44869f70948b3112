"""What stands before every request: the API key and the body size.

A plain ASGI middleware, so it runs before routing and before any body is parsed: a
request under ``/api/`` without the key is answered 401 whatever its path, method or
body (a malformed body does not get a 422 that would tell it apart), and no body larger
than the bound is read into memory. The key is compared in constant time
(:func:`hmac.compare_digest`); the answer says no more than "unauthorized".
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException, Security
from fastapi.security import APIKeyHeader

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER = "X-API-Key"
PROTECTED = "/api/"
MAX_BODY = 256 * 1024  # bytes: a subscriber with 64 iFCs of 64 SPTs fits many times over
UNAUTHORIZED = "unauthorized"

# For the OpenAPI document (the security scheme each /api/v1 operation names) and a second
# look at the key inside the application.
api_key_header = APIKeyHeader(name=HEADER, auto_error=False,
                              description="The key of [api] api_key or <data_dir>/api-key")


def key_matches(given: str | bytes | None, key: bytes) -> bool:
    if given is None:
        return False
    raw = given.encode("latin-1", "replace") if isinstance(given, str) else given
    return hmac.compare_digest(raw, key)


def require_key(key: bytes) -> Callable[..., Awaitable[None]]:
    """A dependency refusing a request without the key (the middleware did already)."""

    async def check(given: str | None = Security(api_key_header)) -> None:
        if not key_matches(given, key):
            raise HTTPException(401, UNAUTHORIZED)

    return check


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """The ASGI middleware (see the module doc)."""

    def __init__(self, app: App, key: bytes, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.key = key
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        if str(scope.get("path", "")).startswith(PROTECTED):
            given = [v for k, v in headers if k == b"x-api-key"]
            if len(given) != 1 or not key_matches(given[0], self.key):
                await _reply(send, 401, UNAUTHORIZED)
                return
        length = [v for k, v in headers if k == b"content-length"]
        if length and (not length[0].isdigit() or int(length[0]) > self.max_body):
            await _reply(send, 413, f"request body larger than {self.max_body} bytes")
            return
        # Read the body here, bounded (a chunked one has no Content-Length), then hand it on.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _reply(send, 413, f"request body larger than {self.max_body} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # what comes next: the disconnect
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
