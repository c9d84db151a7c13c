"""Setup for the cluster and app page tests: a cluster with workspaces and apps applied through
the JSON API, what an agent would have reported (nodes, app status, telemetry) written the way
the agent session writes it, users with roles signed in to the UI, and a fake hub command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ironplane.server.db.tables import ClusterRow
from ironplane.wire import agent_protocol as proto
from tests.server.conftest import Server
from tests.server.helpers import DEFAULT_PASSWORD, apply_yaml, create_user, store_metrics
from tests.server.helpers import set_status as set_status  # the UI tests import it from here
from tests.ui.conftest import browser, csrf_of

PLATFORM = (
    "kind: Cluster\nname: oke-prod\nprovider: oci\nregion: us-ashburn-1\n---\n"
    "kind: Workspace\nname: prod\ncluster: oke-prod\ngpu: true\nqueue: team-a\n---\n"
    "kind: Workspace\nname: lab\ncluster: oke-prod\n"
)
WEB = "kind: Service\nname: web\nworkspace: prod\nimage: example.com/web:{tag}\n"
CANARY = (
    "kind: Service\nname: shop\nworkspace: prod\nimage: example.com/shop:1\n"
    "ports: [{port: 8080, expose: {host: shop.example.com}}]\n"
    "rollout: {strategy: canary, steps: [{weight: 20, pause: 5m}, {weight: 50}]}\n"
)
SECRET_LAB = "kind: Service\nname: hidden\nworkspace: lab\nimage: example.com/hidden:1\n"


async def platform(server: Server, *apps: str) -> None:
    await apply_yaml(server.admin, PLATFORM, *apps)


async def cluster_id(server: Server, name: str = "oke-prod") -> int:
    async with server.app.state.services.db.session() as s:
        found = await s.scalar(select(ClusterRow.id).where(ClusterRow.name == name))
        assert found is not None
        return int(found)


async def set_nodes(server: Server, nodes: list[dict[str, Any]], name: str = "oke-prod") -> None:
    """What an agent's Inventory frame stores."""
    async with server.app.state.services.db.session() as s:
        row = await s.scalar(select(ClusterRow).where(ClusterRow.name == name))
        assert row is not None
        row.nodes = nodes


async def add_samples(server: Server, samples: list[proto.Sample]) -> None:
    """What an agent's Metrics frame stores."""
    assert await store_metrics(server, samples, workspaces={"prod", "lab"}) == len(samples)


async def user(server: Server, name: str, role: str | None, scope: tuple[str, str] | None) -> str:
    """A user with a password and, optionally, a role on a scope."""
    await create_user(server, name, role=role, scope=scope)
    return name


async def sign_in(server: Server, name: str) -> httpx.AsyncClient:
    client = browser(server)
    r = await client.post("/ui/login", data={"username": name, "password": DEFAULT_PASSWORD})
    assert r.status_code == 303, r.text
    return client


async def csrf(client: httpx.AsyncClient, path: str = "/ui/apps") -> str:
    r = await client.get(path)
    assert r.status_code == 200, r.text
    return csrf_of(r.text)


Handler = Callable[[dict[str, Any]], Awaitable[proto.CommandResult]]


def fake_hub(monkeypatch: pytest.MonkeyPatch, server: Server, handler: Handler) -> list[dict]:
    """Replace the hub's command (what would reach the agent); returns the calls it received."""
    calls: list[dict[str, Any]] = []
    hub = server.app.state.services.hub

    async def command(cluster_id: int, cluster: str, **kwargs: Any) -> proto.CommandResult:
        call = {"cluster": cluster, **kwargs}
        calls.append(call)
        return await handler(call)

    monkeypatch.setattr(hub, "command", command)
    return calls


def ok(lines: list[str] | None = None, message: str | None = None) -> proto.CommandResult:
    return proto.CommandResult(id="x", ok=True, lines=lines or [], message=message)
