"""Apply warnings for unsatisfied secret references, and the last-admin guard."""

from __future__ import annotations

import pytest

from tests.server.conftest import Server

pytestmark = pytest.mark.anyio

PLATFORM = (
    "kind: Cluster\nname: dev-cluster\n---\nkind: Workspace\nname: dev\ncluster: dev-cluster\n"
)
APP = """kind: Service
name: chat
workspace: dev
image: example.com/chat:1
env:
  PLAIN: x
  OPENAI_API_KEY: {secret: llm/openai-key}
"""


async def test_missing_secret_groups_and_keys_are_warned_about(server: Server) -> None:
    admin = server.admin
    docs = [{"source": "p.yaml", "content": PLATFORM}, {"source": "app.yaml", "content": APP}]
    r = await admin.post("/apply", json={"documents": docs, "dry_run": True})
    assert r.status_code == 200, r.text
    (warning,) = r.json()["warnings"]
    assert warning["source"] == "app.yaml" and warning["line"] == 7
    assert warning["path"] == ["env", "OPENAI_API_KEY"]
    assert "secret group 'llm' does not exist in workspace 'dev'" in warning["message"]

    await admin.post("/apply", json={"documents": docs[:1]})
    r = await admin.put("/workspaces/dev/secrets/llm", json={"values": {"other-key": "v"}})
    assert r.status_code == 200, r.text
    r = await admin.post("/apply", json={"documents": docs[1:]})
    (warning,) = r.json()["warnings"]
    assert "key 'openai-key' of 'llm' does not exist" in warning["message"]

    await admin.put("/workspaces/dev/secrets/llm", json={"values": {"openai-key": "sk-1"}})
    r = await admin.post("/apply", json={"documents": docs[1:]})
    assert r.json()["warnings"] == []


async def test_the_last_tenant_admin_binding_cannot_be_removed(server: Server) -> None:
    admin = server.admin
    bindings = (await admin.get("/role-bindings")).json()
    (mine,) = [b for b in bindings if b["role"] == "admin" and b["scope_kind"] == "tenant"]
    r = await admin.delete(f"/role-bindings/{mine['id']}")
    assert r.status_code == 409 and "last admin binding" in r.json()["error"]["message"]
    await admin.post("/users", json={"name": "second-admin"})
    r = await admin.post(
        "/role-bindings", json={"role": "admin", "subject_kind": "user", "subject": "second-admin"}
    )
    assert r.status_code == 201
    r = await admin.delete(f"/role-bindings/{mine['id']}")
    assert r.status_code == 200, r.text
    # Without a binding the former admin is now refused.
    assert (await admin.get("/users")).status_code == 403
