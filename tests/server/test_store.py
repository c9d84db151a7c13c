"""The versioned manifest store: idempotent apply, rollback, revisions, dry runs, sync, atomicity."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from ironplane.server.services import versions as versions_module
from tests.server.conftest import Server

pytestmark = pytest.mark.anyio

PLATFORM = (
    "kind: Cluster\nname: oke-prod\nprovider: oci\n---\n"
    "kind: Workspace\nname: prod\ncluster: oke-prod\n---\n"
    "kind: Workspace\nname: staging\ncluster: oke-prod\n"
)


def service(name: str, image: str = "example.com/app:1", ws: str = "prod") -> str:
    return (
        f"kind: Service\nname: {name}\nworkspace: {ws}\nimage: {image}\nports: [{{port: 8000}}]\n"
    )


async def apply(client: httpx.AsyncClient, *texts: str, **options: Any) -> dict[str, Any]:
    documents = [{"source": f"doc{i}.yaml", "content": t} for i, t in enumerate(texts)]
    r = await client.post("/apply", json={"documents": documents, **options})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def revision(client: httpx.AsyncClient, cluster: str = "oke-prod") -> int:
    r = await client.get(f"/clusters/{cluster}")
    assert r.status_code == 200, r.text
    return int(r.json()["revision"])


async def versions(client: httpx.AsyncClient, app: str, ws: str = "prod") -> list[dict[str, Any]]:
    r = await client.get(f"/workspaces/{ws}/apps/{app}/versions")
    assert r.status_code == 200, r.text
    return list(r.json())


@pytest.fixture
async def admin(server: Server) -> httpx.AsyncClient:
    client = server.admin
    await apply(client, PLATFORM)
    return client


async def test_reapplying_an_identical_spec_creates_no_version(admin: httpx.AsyncClient) -> None:
    first = await apply(admin, service("chat"))
    rev = await revision(admin)
    again = await apply(admin, service("chat"))
    assert [c["action"] for c in first["changes"]] == ["create"]
    assert [c["action"] for c in again["changes"]] == ["unchanged"]
    assert again["changes"][0]["version"] == 1
    assert len(await versions(admin, "chat")) == 1
    assert await revision(admin) == rev
    # Reordering keys or spelling a default out changes nothing either.
    same = "kind: Service\nworkspace: prod\nname: chat\nports: [{port: 8000}]\nimage: example.com/app:1\n"
    assert (await apply(admin, same))["changes"][0]["action"] == "unchanged"


async def test_changes_make_versions_and_rollback_copies_an_old_one(
    admin: httpx.AsyncClient,
) -> None:
    await apply(admin, service("chat", "example.com/app:1"))
    changed = await apply(admin, service("chat", "example.com/app:2"), diff=True)
    change = changed["changes"][0]
    assert (change["action"], change["version"]) == ("update", 2)
    assert "-        image: example.com/app:1" in change["diff"]
    assert "+        image: example.com/app:2" in change["diff"]

    r = await admin.post("/workspaces/prod/apps/chat/rollback", json={"to": 1})
    assert r.status_code == 200, r.text
    assert (r.json()["action"], r.json()["version"]) == ("update", 3)
    v1 = (await admin.get("/workspaces/prod/apps/chat/versions/1")).json()
    v3 = (await admin.get("/workspaces/prod/apps/chat/versions/3")).json()
    assert v3["spec"] == v1["spec"] and v3["objects"] == v1["objects"] and v3["hash"] == v1["hash"]
    assert (v3["reason"], v3["rollback_of"], v3["active"]) == ("rollback", 1, True)
    history = await versions(admin, "chat")
    assert [(v["number"], v["active"]) for v in history] == [(1, False), (2, False), (3, True)]

    # Rolling back to what is active is a no-op; an unknown version is a 404 naming the range.
    r = await admin.post("/workspaces/prod/apps/chat/rollback", json={"to": 1})
    assert r.json()["action"] == "unchanged"
    r = await admin.post("/workspaces/prod/apps/chat/rollback", json={"to": 9})
    assert r.status_code == 404 and "versions 1 to 3" in r.json()["error"]["message"]

    desired = (await admin.get("/clusters/oke-prod/desired")).json()
    images = [
        c["image"]
        for o in desired["objects"]
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    ]
    assert images == ["example.com/app:1"]


async def test_every_change_moves_the_cluster_revision_by_one(admin: httpx.AsyncClient) -> None:
    start = await revision(admin)
    await apply(admin, service("one"), service("two"))  # one apply: one revision
    assert await revision(admin) == start + 1
    await apply(admin, service("one", "example.com/app:2"))
    assert await revision(admin) == start + 2
    r = await admin.delete("/workspaces/prod/apps/two")
    assert r.status_code == 200 and r.json()["action"] == "delete"
    assert await revision(admin) == start + 3
    desired = (await admin.get("/clusters/oke-prod/desired")).json()
    names = {o["metadata"]["name"] for o in desired["objects"] if o["kind"] == "Deployment"}
    assert names == {"one"}
    assert desired["revision"] == start + 3
    # A deleted app keeps its history and comes back as a new version.
    again = await apply(admin, service("two"))
    assert again["changes"][0]["version"] == 2
    r = await admin.delete("/workspaces/prod/apps/two")
    r = await admin.delete("/workspaces/prod/apps/two")
    assert r.status_code == 404 and "already deleted" in r.json()["error"]["message"]


async def test_dry_run_reports_the_plan_and_stores_nothing(admin: httpx.AsyncClient) -> None:
    await apply(admin, service("chat"))
    rev = await revision(admin)
    audit_before = len((await admin.get("/audit", params={"limit": 1000})).json())
    plan = await apply(
        admin,
        service("chat", "example.com/app:2"),
        service("fresh"),
        "kind: Workspace\nname: newws\ncluster: oke-prod\n",
        dry_run=True,
        diff=True,
    )
    assert plan["dry_run"] is True
    actions = {(c["kind"], c["name"]): c["action"] for c in plan["changes"]}
    assert actions == {
        ("Workspace", "newws"): "create",
        ("Service", "chat"): "update",
        ("Service", "fresh"): "create",
    }
    assert await revision(admin) == rev
    assert len(await versions(admin, "chat")) == 1
    assert (await admin.get("/workspaces/prod/apps/fresh")).status_code == 404
    assert (await admin.get("/workspaces/newws")).status_code == 404
    assert len((await admin.get("/audit", params={"limit": 1000})).json()) == audit_before
    # A dry run of a new cluster mints no agent token.
    plan = await apply(admin, "kind: Cluster\nname: brand-new\n", dry_run=True)
    assert plan["changes"][0]["action"] == "create"
    assert plan["changes"][0]["agent_token"] is None
    assert (await admin.get("/clusters/brand-new")).status_code == 404


async def test_sync_deletes_the_apps_whose_files_were_removed(admin: httpx.AsyncClient) -> None:
    await apply(admin, service("manual"))  # applied by hand: never pruned by a sync
    await apply(
        admin,
        service("app-a"),
        service("app-b"),
        service("app-c", ws="staging"),
        sync="git:repo#apps",
    )
    await apply(admin, service("other"), sync="git:repo#elsewhere")
    result = await apply(admin, service("app-a"), sync="git:repo#apps", diff=True)
    actions = {(c["workspace"], c["name"]): c["action"] for c in result["changes"]}
    assert actions == {
        ("prod", "app-a"): "unchanged",
        ("prod", "app-b"): "delete",
        ("staging", "app-c"): "delete",
    }
    apps = {(a["workspace"], a["name"]): a for a in (await admin.get("/apps")).json()}
    assert apps[("prod", "app-b")]["active_version"] is None
    assert apps[("prod", "manual")]["active_version"] == 1
    assert apps[("prod", "other")]["active_version"] == 1
    assert apps[("prod", "app-a")]["source"] == "git:repo#apps"


async def test_concurrent_applies_keep_revisions_gapless_and_unique(
    admin: httpx.AsyncClient, server: Server
) -> None:
    start = await revision(admin)
    n = 16
    # Half the tasks write distinct apps, half fight over one app with distinct images.
    texts = [service(f"app-{i}") for i in range(n // 2)]
    texts += [service("contended", f"example.com/app:{i}") for i in range(n // 2)]
    clients = [server.client(server.admin_token) for _ in range(n)]
    results = await asyncio.gather(
        *(
            c.post("/apply", json={"documents": [{"source": "x.yaml", "content": t}]})
            for c, t in zip(clients, texts, strict=True)
        )
    )
    assert [r.status_code for r in results] == [200] * n, [r.text for r in results]
    revisions = sorted(r.json()["changes"][0]["cluster_revision"] for r in results)
    assert revisions == list(range(start + 1, start + n + 1))
    assert await revision(admin) == start + n
    contended = await versions(admin, "contended")
    assert [v["number"] for v in contended] == list(range(1, n // 2 + 1))
    assert len({v["cluster_revision"] for v in contended}) == n // 2


async def test_a_failure_midway_leaves_nothing_half_written(
    admin: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await apply(admin, service("first"))
    rev = await revision(admin)
    audit_before = len((await admin.get("/audit", params={"limit": 1000})).json())
    real = versions_module.add_version
    calls = 0

    async def failing(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("disk on fire")
        return await real(*args, **kwargs)

    monkeypatch.setattr("ironplane.server.services.apply.add_version", failing)
    r = await admin.post(
        "/apply",
        json={
            "documents": [
                {
                    "source": "x.yaml",
                    "content": service("first", "example.com/app:2") + "---\n" + service("second"),
                }
            ]
        },
    )
    assert r.status_code == 500
    assert r.json()["error"] == {
        "code": "internal",
        "message": "internal server error; the server log has the details",
        "diagnostics": [],
    }
    assert calls == 2
    monkeypatch.setattr("ironplane.server.services.apply.add_version", real)
    assert len(await versions(admin, "first")) == 1
    assert (await admin.get("/workspaces/prod/apps/second")).status_code == 404
    assert await revision(admin) == rev
    assert len((await admin.get("/audit", params={"limit": 1000})).json()) == audit_before


async def test_spec_errors_are_located_and_store_nothing(admin: httpx.AsyncClient) -> None:
    rev = await revision(admin)
    bad = (
        service("ok-app")
        + "---\n"
        + service("gpu-app").replace("ports:", "resources: {gpu: {count: 1, type: H100}}\nports:")
    )
    r = await admin.post("/apply", json={"documents": [{"source": "apps.yaml", "content": bad}]})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_spec"
    (diag,) = err["diagnostics"]
    assert diag["source"] == "apps.yaml" and diag["line"] > 5
    assert "gpu" in diag["message"].lower() or "gpu" in str(diag["path"])
    assert await revision(admin) == rev
    assert (await admin.get("/workspaces/prod/apps/ok-app")).status_code == 404


async def test_unknown_workspace_and_cluster_are_reported(admin: httpx.AsyncClient) -> None:
    r = await admin.post(
        "/apply",
        json={
            "documents": [
                {
                    "source": "x.yaml",
                    "content": service("app-a", ws="nowhere")
                    + "---\nkind: Workspace\nname: lost\ncluster: no-such-cluster\n",
                }
            ]
        },
    )
    assert r.status_code == 400
    messages = [d["message"] for d in r.json()["error"]["diagnostics"]]
    assert "workspace 'nowhere' does not exist" in messages
    assert "cluster 'no-such-cluster' does not exist" in messages
