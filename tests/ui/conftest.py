"""A control plane per test (SQLite) driven over ASGI, with a browser-like client for /ui."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import Server, make_settings, start


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async for s in start(make_settings(tmp_path, None), "sqlite"):
        yield s


def browser(server: Server) -> httpx.AsyncClient:
    """A client that keeps cookies and does not follow redirects (tests look at them)."""
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.app, client=("10.9.8.7", 4444)),
        base_url="http://testserver",
        follow_redirects=False,
    )
    server._clients.append(client)
    return client


async def signed_in(server: Server, token: str | None = None) -> httpx.AsyncClient:
    """A browser signed in with an API token (the admin's by default)."""
    client = browser(server)
    r = await client.post("/ui/login", data={"token": token or server.admin_token, "next": "/ui/"})
    assert r.status_code == 303, r.text
    return client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)
