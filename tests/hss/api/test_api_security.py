"""The key on every /api/v1 route, the key file, bounded bodies, and the errors a broken
store gives (never a traceback)."""

from __future__ import annotations

import re
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hss.api.guard import MAX_BODY
from hss.api.process import api_key
from hss.config import ApiConfig, HssConfig, load_config
from hss.store import StoreError
from hss.store.sqlite import SqliteStore
from ims_core.config import ConfigError
from tests.hss.api.conftest import IMSI, KEY, V1, client_for, new

SAMPLES = {"imsi": IMSI, "impu": "tel:+15550000001", "push_id": "1"}


def _v1_operations(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, path with sample parameters) of every /api/v1 operation of the document."""
    return [(method.upper(), re.sub(r"\{(\w+)\}", lambda m: SAMPLES[m.group(1)], path))
            for path, item in doc["paths"].items() if path.startswith(V1) for method in item]


async def test_every_v1_route_needs_the_key(sqlite_store: SqliteStore) -> None:
    """Refused before routing and parsing: even a malformed body or an unknown path gets
    401 and nothing more."""
    app, client = client_for(sqlite_store)
    ops = _v1_operations(app.openapi())
    assert len(ops) >= 19  # the walk found the routes
    async with client as api:
        assert (await api.post(f"{V1}/subscribers", json=new())).status_code == 201
        for wrong in ({}, {"X-API-Key": ""}, {"X-API-Key": KEY[:-1]}, {"X-API-Key": KEY + "x"},
                      {"X-API-Key": f" {KEY}"}, {"X-API-Key": KEY.upper()},
                      {"Authorization": f"Bearer {KEY}"}):
            for method, path in [*ops, ("GET", f"{V1}/nothing"), ("GET", "/api/v2/x")]:
                r = await _send(api, method, path, wrong)
                assert r.status_code == 401, (method, path, wrong)
                assert r.json() == {"detail": "unauthorized"}
        # Twice the header, once right: refused too.
        r = await _send(api, "GET", f"{V1}/subscribers", [("X-API-Key", KEY)] * 2)
        assert r.status_code == 401
        assert (await api.get(f"{V1}/subscribers/{IMSI}")).status_code == 200


async def _send(api: httpx.AsyncClient, method: str, path: str,
                headers: dict[str, str] | list[tuple[str, str]]) -> httpx.Response:
    """*method* *path* with a malformed JSON body and only *headers* (not the client's)."""
    pairs = list(headers.items()) if isinstance(headers, dict) else headers
    request = httpx.Request(method, api.base_url.join(path), content=b"{not json",
                            headers=[("content-type", "application/json"), *pairs])
    return await api.send(request)


async def test_health_and_the_document_need_no_key(sqlite_store: SqliteStore) -> None:
    app, client = client_for(sqlite_store)
    async with client as api:
        for path in ("/healthz", "/readyz", "/openapi.json"):
            r = await api.send(httpx.Request("GET", api.base_url.join(path)))
            assert r.status_code == 200, path
    assert (await _get(client_for(sqlite_store)[1], "/readyz")).json()["status"] == "ready"
    doc = app.openapi()
    assert doc["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": "The key of [api] api_key or <data_dir>/api-key"}
    for path, item in doc["paths"].items():
        for op in item.values():
            if path.startswith(V1):
                assert op["security"] == [{"APIKeyHeader": []}], path
                assert {"401", "413", "503"} <= set(op["responses"]), path
            else:
                assert "security" not in op, path


async def _get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    async with client as api:
        return await api.get(path)


async def test_bodies_are_bounded(api: httpx.AsyncClient) -> None:
    big = b"[" + b" " * MAX_BODY + b"]"
    r = await api.put(f"{V1}/subscribers/{IMSI}/ifcs", content=big,
                      headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for _ in range(MAX_BODY // 1024 + 2):
            yield b" " * 1024

    r = await api.put(f"{V1}/subscribers/{IMSI}/ifcs", content=chunks(),
                      headers={"content-type": "application/json"})
    assert r.status_code == 413
    # Within the bound: read whole, and the route sees it.
    r = await api.post(f"{V1}/subscribers", json=new())
    assert r.status_code == 201
    long_uri = "sip:" + "a" * 300 + "@example.org"
    r = await api.post(f"{V1}/subscribers/{IMSI}/impus", json={"impu": long_uri})
    assert r.status_code == 422


# -- the key -------------------------------------------------------------------------------


def test_a_key_is_generated_once_into_the_data_dir(tmp_path: Path) -> None:
    cfg = HssConfig(data_dir=str(tmp_path / "data"))
    first = api_key(cfg)
    path = tmp_path / "data" / "api-key"
    assert first.created and first.path == path and len(first.value) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == first.value
    again = api_key(cfg)
    assert again.value == first.value and not again.created
    other = api_key(HssConfig(data_dir=str(tmp_path / "other")))
    assert other.value != first.value  # random per store
    configured = api_key(HssConfig(data_dir=str(tmp_path / "data"),
                                   api=ApiConfig(api_key="x" * 24)))
    assert configured.value == "x" * 24 and configured.path is None
    path.write_text("short\n")
    with pytest.raises(ConfigError, match="holds no API key"):
        api_key(cfg)


def test_api_config(tmp_path: Path) -> None:
    assert (HssConfig().api.host, HssConfig().api.port, HssConfig().api.api_key) == (
        "127.0.0.1", 8080, "")
    p = tmp_path / "hss.toml"
    p.write_text('[api]\nport = 18080\n')
    assert load_config(p).api.port == 18080
    assert load_config(p, environ={"IMS_CORE__API__API_KEY": "k" * 16}).api.api_key == "k" * 16
    for bad in ("api.port=70000", 'api.api_key="short"', 'api.api_key=" padded-key-0123456 "',
                'api.api_key="ключ-ключ-ключ-ключ"'):
        with pytest.raises(ConfigError, match="api"):
            load_config(p, overrides=[bad])


# -- a store that fails ----------------------------------------------------------------


@pytest.mark.parametrize("failure", [
    sqlite3.OperationalError("unable to open database file"),
    StoreError("cannot connect to PostgreSQL: connection refused (dsn=secret)"),
])
async def test_an_unreachable_store_is_503(sqlite_store: SqliteStore, failure: Exception,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _, client = client_for(sqlite_store)
    async with client as api:
        assert (await api.post(f"{V1}/subscribers", json=new())).status_code == 201

        def fail() -> None:
            raise failure

        monkeypatch.setattr(sqlite_store, "_conn", fail)
        for method, path, body in (
            ("GET", f"{V1}/subscribers", None),
            ("GET", f"{V1}/subscribers/{IMSI}", None),
            ("POST", f"{V1}/subscribers", new("001010000000002")),
            ("PATCH", f"{V1}/subscribers/{IMSI}", {"barred": True}),
            ("DELETE", f"{V1}/subscribers/{IMSI}", None),
            ("POST", f"{V1}/subscribers/{IMSI}/reset-sqn", None),
        ):
            r = await api.request(method, path, json=body)
            assert r.status_code == 503, (method, path, r.text)
            assert r.json() == {"detail": "the subscriber store is unavailable"}
        r = await api.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        assert (await api.get("/healthz")).status_code == 200


async def test_the_unexpected_is_a_bare_500(sqlite_store: SqliteStore,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = client_for(sqlite_store)

    def broken(imsi: str) -> None:
        raise KeyError("internal detail")

    monkeypatch.setattr(sqlite_store, "get", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api",
                                 headers={"X-API-Key": KEY}) as api:
        r = await api.get(f"{V1}/subscribers/{IMSI}")
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert "internal detail" not in r.text and "Traceback" not in r.text


async def test_unknown_query_parameters_and_methods(api: httpx.AsyncClient) -> None:
    """A mistyped filter is refused, not ignored (it would list everything); a 405 names
    every method of the path."""
    r = await api.get(f"{V1}/subscribers", params={"imsiprefix": "001"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "imsiprefix"]
    assert (await api.get(f"{V1}/pushes/1", params={"wait": "1"})).status_code == 422
    assert (await api.get(f"{V1}/subscribers", params={"limit": "1"})).status_code == 200
    r = await api.delete(f"{V1}/subscribers")
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    r = await api.post(f"{V1}/subscribers/{IMSI}")
    assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET, PATCH, PUT"
    r = await api.get(f"{V1}/subscribers/{IMSI}/deregister")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
