from __future__ import annotations

import pytest

from tests.server.conftest import Server

pytestmark = pytest.mark.anyio

CLUSTER = "kind: Cluster\nname: oke-prod\nprovider: oci\nregion: us-ashburn-1\nenhanced: true\n"
WORKSPACE = "kind: Workspace\nname: prod\ncluster: oke-prod\ngpu: true\n"
SERVICE = """kind: Service
name: chat-api
workspace: prod
image: registry.example.com/chat-api:1.4.2
ports: [{port: 8000}]
"""


async def test_apply_flow(server: Server) -> None:
    admin = server.admin
    r = await admin.post(
        "/apply",
        json={
            "documents": [
                {"source": "all.yaml", "content": CLUSTER + "---\n" + WORKSPACE + "---\n" + SERVICE}
            ]
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    actions = [(c["kind"], c["action"]) for c in body["changes"]]
    assert actions == [("Cluster", "create"), ("Workspace", "create"), ("Service", "create")]
    assert body["changes"][0]["agent_token"]["secret"].startswith("ipt_")
    r = await admin.get("/clusters/oke-prod/desired")
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 1
    kinds = sorted(o["kind"] for o in r.json()["objects"])
    assert "Deployment" in kinds and "Namespace" in kinds
