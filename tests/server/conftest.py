"""A control plane per test on SQLite and on PostgreSQL (its own database), driven over ASGI.

PostgreSQL comes from IRONPLANE_TEST_POSTGRES (an admin URL; default: the local server). Under CI
it is required; elsewhere its tests skip when it is not reachable.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from ironplane.server.app import create_app
from ironplane.server.settings import ServerSettings

PG_ADMIN = os.environ.get(
    "IRONPLANE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
API = "/api/v1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _pg_available() -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(PG_ADMIN, timeout=3)
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


@pytest.fixture(scope="session")
def pg_ok() -> bool:
    ok = _pg_available()
    if not ok and os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required under CI and is not reachable at {PG_ADMIN}")
    return ok


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def pg_database(pg_ok: bool) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not pg_ok:
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN}")
    name = f"ironplane_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Server:
    """One running control plane and an admin token for it."""

    app: Any
    settings: ServerSettings
    admin_token: str
    backend: str
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=self.app, client=("10.1.2.3", 5555), raise_app_exceptions=False
            ),
            base_url="http://testserver" + API,
            headers=headers,
        )
        self._clients.append(client)
        return client

    @property
    def admin(self) -> httpx.AsyncClient:
        return self.client(self.admin_token)


def make_settings(tmp_path: Path, database_url: str | None, **overrides: Any) -> ServerSettings:
    return ServerSettings(data_dir=tmp_path / "data", database_url=database_url, **overrides)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    if backend == "sqlite":
        return None
    return str(request.getfixturevalue("pg_database"))


async def start(settings: ServerSettings, backend: str) -> AsyncIterator[Server]:
    app = create_app(settings, announce_token=False)
    async with app.router.lifespan_context(app):
        token = app.state.bootstrap_token
        assert token, "the first start must create an admin token"
        server = Server(app=app, settings=settings, admin_token=token, backend=backend)
        try:
            yield server
        finally:
            for c in server._clients:
                await c.aclose()


@pytest.fixture
async def server(tmp_path: Path, database_url: str | None, backend: str) -> AsyncIterator[Server]:
    async for s in start(make_settings(tmp_path, database_url), backend):
        yield s
