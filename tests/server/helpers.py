"""Small helpers for the server tests: apply YAML, make a user with a role and get its token, and
store what an agent would have reported.

    from tests.server.helpers import apply_yaml, make_user

    await apply_yaml(server.admin, CLUSTER, WORKSPACE)             # asserts 200
    token = await make_user(server, "alice", role="editor", scope=("workspace", "prod"))
    alice = server.client(token)

Every helper asserts the status of the calls it makes, so a test fails where the setup broke.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from ironplane.server.db.tables import AppStatusRow, ClusterRow
from ironplane.server.services import telemetry
from ironplane.wire import agent_protocol as proto
from tests.server.conftest import Server

CLUSTER = "kind: Cluster\nname: oke-prod\nprovider: oci\nregion: us-ashburn-1\n"
WORKSPACE = "kind: Workspace\nname: prod\ncluster: oke-prod\n"
"""A cluster ``oke-prod`` and its workspace ``prod``: the usual fixture for scoped tests."""

DEFAULT_PASSWORD = "correct-horse-battery-staple"


async def apply_yaml(
    client: httpx.AsyncClient, *texts: str, source: str = "test.yaml", expect: int | None = 200
) -> httpx.Response:
    """POST /apply with the texts joined as one multi-document YAML source.

    Asserts the status is ``expect`` (pass None to check it yourself)."""
    content = "\n---\n".join(t.strip("\n") for t in texts) + "\n"
    r = await client.post("/apply", json={"documents": [{"source": source, "content": content}]})
    if expect is not None:
        assert r.status_code == expect, r.text
    return r


async def bind(
    server: Server,
    role: str,
    subject: str,
    *,
    subject_kind: str = "user",
    scope: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Bind ``role`` to a subject as the admin; scope is None (tenant) or (kind, name)."""
    body: dict[str, Any] = {"role": role, "subject_kind": subject_kind, "subject": subject}
    if scope is not None:
        body["scope_kind"], body["scope"] = scope
    r = await server.admin.post("/role-bindings", json=body)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def login(server: Server, name: str, password: str = DEFAULT_PASSWORD) -> str:
    """A session token from POST /auth/login (asserts success)."""
    r = await server.client().post("/auth/login", json={"username": name, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


async def make_user(
    server: Server,
    name: str,
    *,
    role: str | None = None,
    scope: tuple[str, str] | None = None,
    password: str = DEFAULT_PASSWORD,
) -> str:
    """Create a user (``create_user``), log in and return the session token. Costs two argon2
    hashes (~0.1 s)."""
    await create_user(server, name, role=role, scope=scope, password=password)
    return await login(server, name, password)


async def create_user(
    server: Server,
    name: str,
    *,
    role: str | None = None,
    scope: tuple[str, str] | None = None,
    password: str = DEFAULT_PASSWORD,
) -> None:
    """Create a user with a password (as the admin), optionally bind ``role`` on ``scope``
    (None: the tenant)."""
    r = await server.admin.post("/users", json={"name": name, "password": password})
    assert r.status_code == 201, r.text
    if role is not None:
        await bind(server, role, name, scope=scope)


async def gateway_token(server: Server) -> str:
    """A token of a service account ``gw`` holding gateway.serve only, as a gateway would have."""
    admin = server.admin
    r = await admin.post("/roles", json={"name": "gateway", "permissions": ["gateway.serve"]})
    assert r.status_code == 201, r.text
    assert (await admin.post("/service-accounts", json={"name": "gw"})).status_code == 201
    await bind(server, "gateway", "gw", subject_kind="service_account")
    r = await admin.post("/tokens", json={"name": "gw", "service_account": "gw"})
    assert r.status_code == 201, r.text
    secret: str = r.json()["secret"]
    return secret


async def audit(server: Server, action: str) -> list[dict[str, Any]]:
    """The audit events of ``action`` (of the latest 1000)."""
    r = await server.admin.get("/audit", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return [e for e in r.json() if e["action"] == action]


async def set_status(
    server: Server, workspace: str, app: str, data: dict[str, Any], *, cluster: str = "oke-prod"
) -> None:
    """What an agent's Status frame stores for one app."""
    async with server.app.state.services.db.session() as s:
        cluster_id = await s.scalar(select(ClusterRow.id).where(ClusterRow.name == cluster))
        assert cluster_id is not None, cluster
        s.add(AppStatusRow(cluster_id=cluster_id, workspace=workspace, app=app, data=data))


async def store_metrics(
    server: Server,
    samples: list[proto.Sample],
    *,
    at: float | None = None,
    workspaces: Collection[str] = ("prod",),
    cluster: str = "oke-prod",
) -> int:
    """Store a Metrics frame (sent ``at``, default now) as the session of ``cluster``'s agent
    would, its workspaces being ``workspaces``; returns how many samples were stored."""
    services = server.app.state.services
    frame = proto.Metrics(at=time.time() if at is None else at, samples=samples)
    async with services.db.session() as s:
        cluster_id = await s.scalar(select(ClusterRow.id).where(ClusterRow.name == cluster))
        assert cluster_id is not None, cluster
        return await telemetry.store(services, s, cluster_id, frame, set(workspaces))


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The sample ``name{labels}`` of a Prometheus text exposition (None when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def error_of(r: httpx.Response) -> dict[str, Any]:
    """The ``error`` object of an error response, after checking the body has the common shape."""
    body = r.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert {"code", "message", "diagnostics"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"], error
    return error
