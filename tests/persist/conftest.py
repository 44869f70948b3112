"""The redis-server the backend tests share (:mod:`.redis_server`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from .redis_server import redis_server


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_db(redis_url: str) -> Iterator[str]:
    """The server emptied before each test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    yield redis_url
