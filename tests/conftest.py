"""Shared fixtures: real SQLite and PostgreSQL databases built by the real migrations,
real Redis, and the app served in-process over HTTP (ASGI)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from app.migrate import upgrade
from app.settings import Settings

IN_CI = os.environ.get("CI") == "true"
PG_ADMIN_DSN = os.environ.get("LEITSTAND_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LEITSTAND_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def all_tables() -> str:
    from app.models import metadata

    return ", ".join(f'"{t}"' for t in metadata.tables)


def unavailable(what: str, why: Exception) -> None:
    """Services are part of the test setup: missing in CI is a failure, locally a skip."""
    if IN_CI:
        pytest.fail(f"{what} is not reachable in CI: {why}")
    pytest.skip(f"{what} is not reachable here: {why}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One migrated database for the whole run; each test starts from empty tables."""
    name = f"leitstand_test_{os.getpid()}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    upgrade(url)
    yield url
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_pg(url: str) -> None:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {all_tables()} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "leitstand.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "leitstand.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "redis_url": None,
        "triage_enabled": False,
        "log_json": True,
        "log_level": "WARNING",
        "queue_stream_prefix": f"test-{uuid.uuid4().hex[:8]}",
        "sweeper_interval_s": 3600.0,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Running:
    app: Any
    client: httpx.AsyncClient

    @property
    def services(self) -> Any:
        return self.app.state.services


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[Running]:
    """The app on the parametrised database, in-process queue, no triage model."""
    async with serve(make_settings(database_url)) as r:
        yield r


class serve:
    def __init__(self, settings: Settings, **app_kwargs: Any) -> None:
        from app.main import create_app

        self.app = create_app(settings, **app_kwargs)

    async def __aenter__(self) -> Running:
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        return Running(app=self.app, client=self.client)

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        await self._lifespan.__aexit__(None, None, None)


async def wait_for(predicate: Any, *, timeout_s: float = 10.0, interval_s: float = 0.05) -> Any:
    """Poll an async predicate until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s (last: {value!r})")
        await asyncio.sleep(interval_s)


class live_server:
    """The app served by a real uvicorn on a free 127.0.0.1 port, on the test's event loop."""

    def __init__(self, settings: Settings, **app_kwargs: Any) -> None:
        import socket

        import uvicorn

        from app.main import create_app

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.app = create_app(settings, **app_kwargs)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def __aenter__(self) -> live_server:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.02)
        self.client = httpx.AsyncClient(base_url=self.url, timeout=30)
        return self

    @property
    def services(self) -> Any:
        return self.app.state.services

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        self.server.should_exit = True
        await self._task
