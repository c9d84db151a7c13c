"""Small helpers for the server tests: apply YAML, make a user with a role and get its token.

    from tests.server.helpers import apply_yaml, make_user

    await apply_yaml(server.admin, CLUSTER, WORKSPACE)             # asserts 200
    token = await make_user(server, "alice", role="editor", scope=("workspace", "prod"))
    alice = server.client(token)

Every helper asserts the status of the calls it makes, so a test fails where the setup broke.
"""

from __future__ import annotations

from typing import Any

import httpx

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
    """Create a user with a password (as the admin), optionally bind ``role`` on ``scope``
    (None: the tenant), log in and return the session token. Costs two argon2 hashes (~0.1 s)."""
    r = await server.admin.post("/users", json={"name": name, "password": password})
    assert r.status_code == 201, r.text
    if role is not None:
        await bind(server, role, name, scope=scope)
    return await login(server, name, password)


def error_of(r: httpx.Response) -> dict[str, Any]:
    """The ``error`` object of an error response, after checking the body has the common shape."""
    body = r.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert {"code", "message", "diagnostics"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"], error
    return error
