"""The API over a temporary store, driven in-process through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hss.api import create_app
from hss.store.base import Store
from hss.store.sqlite import SqliteStore
from tests.hss.conftest import DOMAIN

KEY = "test-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}
V1 = "/api/v1"
IMSI = "001010000000001"
K = "465b5ce8b199b49faa5f0a2ee238a6bc"  # TS 35.208 test set 1
OP = "cdc202d5123e20f62b6d676ac72cb318"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"


def new(imsi: str = IMSI, **fields: Any) -> dict[str, Any]:
    """A POST /subscribers body."""
    return {"imsi": imsi, "k": K, "op": OP, "msisdn": "1555" + imsi[-7:], **fields}


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "hss.sqlite")
    try:
        yield s
    finally:
        s.close()


def client_for(store: Store) -> tuple[FastAPI, httpx.AsyncClient]:
    app = create_app(store, domain=DOMAIN, api_key=KEY)
    return app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                  headers=AUTH)


@pytest.fixture
async def api(sqlite_store: SqliteStore) -> AsyncIterator[httpx.AsyncClient]:
    """A client with the key, on a SQLite store (``sqlite_store``)."""
    _, client = client_for(sqlite_store)
    async with client:
        yield client
