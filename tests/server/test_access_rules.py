"""Access rules beyond the matrix: agent tokens, workspace policy, sync scope, audited denials,
and revisions under concurrent platform changes."""

from __future__ import annotations

import asyncio

import pytest

from tests.server.conftest import Server
from tests.server.helpers import CLUSTER, WORKSPACE, apply_yaml, make_user

pytestmark = pytest.mark.anyio


def service(name: str, ws: str = "prod", image: str = "example.com/app:1") -> str:
    return f"kind: Service\nname: {name}\nworkspace: {ws}\nimage: {image}\n"


async def test_rotating_an_agent_token_needs_secret_access_to_the_whole_cluster(
    server: Server,
) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE)
    r = await server.admin.post(
        "/roles", json={"name": "cl-ops", "permissions": ["clusters.read", "clusters.write"]}
    )
    assert r.status_code == 201
    ops = await make_user(server, "cl-ops-user", role="cl-ops", scope=("cluster", "oke-prod"))
    r = await server.client(ops).post("/clusters/oke-prod/agent-token")
    assert r.status_code == 403
    assert "secrets.read on cluster/oke-prod" in r.json()["error"]["message"]
    # An admin of the cluster holds secrets.read there and may rotate it.
    admin = await make_user(server, "cl-admin", role="admin", scope=("cluster", "oke-prod"))
    assert (await server.client(admin).post("/clusters/oke-prod/agent-token")).status_code == 201


async def test_workspace_policy_is_the_cluster_admins_call(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE)
    ws_admin = server.client(
        await make_user(server, "ws-admin", role="admin", scope=("workspace", "prod"))
    )
    privileged = WORKSPACE + "privileged: true\n"
    r = await apply_yaml(ws_admin, privileged, expect=403)
    assert "workspaces.create on cluster/oke-prod" in r.json()["error"]["message"]
    r = await ws_admin.get("/workspaces/prod")
    assert r.json()["privileged"] is False
    cl_admin = server.client(
        await make_user(server, "cl-admin", role="admin", scope=("cluster", "oke-prod"))
    )
    r = await apply_yaml(cl_admin, privileged)
    assert r.json()["changes"][0]["action"] == "update"


async def test_sync_never_reaches_apps_the_caller_cannot_write(server: Server) -> None:
    await apply_yaml(
        server.admin, CLUSTER, WORKSPACE, "kind: Workspace\nname: other\ncluster: oke-prod\n"
    )
    r = await server.admin.post(
        "/apply",
        json={
            "documents": [{"source": "a", "content": service("payroll", ws="other")}],
            "sync": "git:x#apps",
        },
    )
    assert r.status_code == 200
    editor = server.client(
        await make_user(server, "ed", role="editor", scope=("workspace", "prod"))
    )
    r = await editor.post(
        "/apply",
        json={"documents": [{"source": "a", "content": service("mine")}], "sync": "git:x#apps"},
    )
    assert r.status_code == 200, r.text
    assert [(c["name"], c["action"]) for c in r.json()["changes"]] == [("mine", "create")]
    apps = {a["name"]: a for a in (await server.admin.get("/apps")).json()}
    assert apps["payroll"]["active_version"] == 1


async def test_a_workspace_document_only_does_not_prune_an_app_of_the_same_name(
    server: Server,
) -> None:
    ws = "kind: Workspace\nname: mlw\ncluster: oke-prod\n"
    await apply_yaml(server.admin, CLUSTER)
    for docs in ([ws, service("mlw", ws="mlw")], [ws]):
        r = await server.admin.post(
            "/apply",
            json={"documents": [{"source": "a", "content": "---\n".join(docs)}], "sync": "s"},
        )
        assert r.status_code == 200, r.text
    actions = [(c["kind"], c["action"]) for c in r.json()["changes"]]
    assert actions == [("Workspace", "unchanged"), ("Service", "delete")]


async def test_a_hidden_cluster_looks_like_a_missing_one_to_apply(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE, "kind: Cluster\nname: secret-cl\n")
    editor = server.client(await make_user(server, "ed", role="admin", scope=("workspace", "prod")))
    for name in ("secret-cl", "made-up-cl"):
        r = await apply_yaml(
            editor, f"kind: Workspace\nname: new-ws\ncluster: {name}\n", expect=400
        )
        assert r.json()["error"]["diagnostics"][0]["message"] == f"cluster {name!r} does not exist"


async def test_denials_inside_handlers_are_audited(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE)
    viewer = server.client(await make_user(server, "vw", role="viewer"))
    r = await apply_yaml(viewer, service("nope"), expect=403)
    latest = (await server.admin.get("/audit", params={"limit": 1})).json()[0]
    assert (latest["actor"], latest["action"], latest["outcome"]) == (
        "user:vw",
        "POST /api/v1/apply",
        "denied",
    )
    assert "apps.write" in latest["details"]["reason"]
    assert r.json()["error"]["code"] == "forbidden"


async def test_new_workspaces_and_app_changes_at_once_get_distinct_revisions(
    server: Server,
) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE, service("base"))
    start = (await server.admin.get("/clusters/oke-prod")).json()["revision"]
    n = 6
    texts = [
        f"kind: Workspace\nname: ws-{i}\ncluster: oke-prod\n---\n{service('app-a', ws=f'ws-{i}')}"
        for i in range(n)
    ]
    texts += [service("base", image=f"example.com/app:{i + 2}") for i in range(n)]
    results = await asyncio.gather(
        *(apply_yaml(server.client(server.admin_token), t) for t in texts)
    )
    revisions = sorted(
        max(c["cluster_revision"] or 0 for c in r.json()["changes"]) for r in results
    )
    assert revisions == list(range(start + 1, start + 2 * n + 1))
    versions = (await server.admin.get("/workspaces/prod/apps/base/versions")).json()
    assert [v["number"] for v in versions] == list(range(1, n + 2))
    # The last writer's image is what the store holds: no update was lost.
    last = max(versions, key=lambda v: v["cluster_revision"])
    assert last["active"] is True


async def test_an_object_cannot_be_produced_twice_in_a_cluster(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER + "enhanced: true\n", WORKSPACE)
    shared = "identity: {service_account: shared-sa}\n"
    await apply_yaml(server.admin, service("web-a") + shared)
    r = await apply_yaml(server.admin, service("web-b") + shared, expect=400)
    (diag,) = r.json()["error"]["diagnostics"]
    assert diag["message"] == "ServiceAccount prod/shared-sa is already produced by app prod/web-a"
    r = await apply_yaml(
        server.admin,
        service("web-c") + "identity: {service_account: ironplane-workload}\n",
        expect=400,
    )
    assert "already produced by workspace 'prod'" in r.json()["error"]["diagnostics"][0]["message"]
    # Re-applying the owner itself (changed) is fine.
    await apply_yaml(server.admin, service("web-a", image="example.com/app:2") + shared)
