"""A fake control plane behind the CLI's one seam, ``ironplane.cli.session.build_client``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ironplane.cli import session
from ironplane.sdk import Client
from tests.sdk.samples import error

URL = "http://ironplane.test"
TOKEN = "ipt_env_token_value"

Answer = Any | Callable[[httpx.Request], Any]


class FakeServer:
    """Answers ``(method, path)`` with a canned JSON body; records every request."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], tuple[int, Answer]] = {}
        self.requests: list[httpx.Request] = []
        self.clients: list[tuple[str, str | None]] = []

    def on(self, method: str, path: str, body: Answer, status: int = 200) -> None:
        self.routes[(method, "/api/v1" + path)] = (status, body)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.raw_path.decode().partition("?")[0])
        if key not in self.routes:
            return httpx.Response(404, json=error("not_found", f"no route {key}"))
        status, body = self.routes[key]
        return httpx.Response(status, json=body(request) if callable(body) else body)

    def build_client(self, url: str, token: str | None) -> Client:
        self.clients.append((url, token))
        return Client(url, token, transport=httpx.MockTransport(self.handle))

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if r.method == method and r.url.raw_path.decode().partition("?")[0] == "/api/v1" + path
        ]

    def body(self, method: str, path: str) -> Any:
        [request] = self.sent(method, path)
        return json.loads(request.content)


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated config location, with no URL or token in the environment."""
    path = tmp_path / "home" / "config.yaml"
    monkeypatch.setenv("IRONPLANE_CONFIG", str(path))
    monkeypatch.delenv("IRONPLANE_URL", raising=False)
    monkeypatch.delenv("IRONPLANE_TOKEN", raising=False)
    return path


@pytest.fixture
def server(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    """A fake server the CLI reaches with URL and TOKEN from the environment."""
    fake = FakeServer()
    monkeypatch.setenv("IRONPLANE_URL", URL)
    monkeypatch.setenv("IRONPLANE_TOKEN", TOKEN)
    monkeypatch.setattr(session, "build_client", fake.build_client)
    return fake


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's working directory: ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
