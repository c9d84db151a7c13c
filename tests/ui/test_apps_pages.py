"""The apps list and an app's page: status, rollout, scaling, weights, versions, diff, charts,
and what a viewer and an outsider may see and do."""

from __future__ import annotations

import re
import time

import pytest

from ironplane.wire import agent_protocol as proto
from tests.server.conftest import Server
from tests.ui.agent_fakes import (
    CANARY,
    SECRET_LAB,
    WEB,
    add_samples,
    csrf,
    platform,
    set_status,
    sign_in,
    user,
)
from tests.ui.conftest import signed_in

pytestmark = pytest.mark.anyio

NOW = time.time()
RUNNING = {
    "workspace": "prod",
    "app": "web",
    "kind": "Service",
    "phase": "Running",
    "ready": 2,
    "desired": 3,
    "conditions": [
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}
    ],
    "events": [
        {"at": NOW - 120, "type": "Normal", "reason": "Scheduled", "message": "assigned to gpu-a"},
        {"at": NOW - 10, "type": "Warning", "reason": "BackOff", "message": "back-off pulling"},
    ],
    "error": "image pull failed for one pod",
    "scaling": {"min": 1, "max": 5, "current": 2, "desired": 3, "active": True},
    "weights": {
        "done": 10 * 2**30,
        "total": 40 * 2**30,
        "rate": 200 * 2**20,
        "eta": 150,
        "files_done": 1,
        "files_total": 4,
    },
}
ROLLOUT = {
    "workspace": "prod",
    "app": "shop",
    "kind": "Service",
    "phase": "Progressing",
    "ready": 2,
    "desired": 2,
    "rollout": {
        "strategy": "canary",
        "phase": "Paused",
        "step": 1,
        "steps": 2,
        "canary_weight": 20,
        "stable_weight": 80,
        "paused": True,
        "analysis": [
            {
                "name": "shop-analysis-2",
                "phase": "Running",
                "metrics": [{"name": "error-rate", "phase": "Successful", "value": "0.002"}],
            }
        ],
    },
}
ACTIONS = ("Roll back to", "Restart", "Delete…", "Deploy a new version", "Promote", "Abort")


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_apps_list_with_phases_and_a_workspace_filter(server: Server) -> None:
    await platform(server, WEB.format(tag=1), CANARY, SECRET_LAB)
    await set_status(server, "prod", "web", RUNNING)
    await set_status(server, "prod", "shop", ROLLOUT)
    client = await signed_in(server)
    r = await client.get("/ui/apps")
    assert r.status_code == 200
    assert '<span class="phase phase-running">Running</span>' in r.text
    assert '<span class="phase phase-progressing">Progressing</span>' in r.text
    assert "/ui/apps/lab/hidden" in r.text and "(no report yet)" in r.text
    assert "2 / 3" in r.text and "v1" in r.text
    r = await client.get("/ui/apps?workspace=lab")
    assert "/ui/apps/lab/hidden" in r.text and "/ui/apps/prod/web" not in r.text
    assert '<option value="lab" selected>' in r.text
    # deleted apps are hidden unless asked for
    assert (await server.admin.delete("/workspaces/lab/apps/hidden")).status_code == 200
    r = await client.get("/ui/apps")
    assert "/ui/apps/lab/hidden" not in r.text and "1 deleted app hidden" in r.text
    r = await client.get("/ui/apps?deleted=true")
    assert "/ui/apps/lab/hidden" in r.text


async def test_app_page_shows_status_scaling_weights_versions_and_charts(server: Server) -> None:
    await platform(server, WEB.format(tag=1))
    await set_status(server, "prod", "web", RUNNING)
    client = await signed_in(server)
    r = await client.get("/ui/apps/prod/web")
    assert r.status_code == 200, r.text
    page = text(r.text)
    assert "Running , 2 of 3 replicas ready" in page
    assert "image pull failed for one pod" in page
    assert "MinimumReplicasUnavailable" in page
    # events newest first
    assert page.index("BackOff") < page.index("Scheduled")
    assert "2 replicas now, 3 wanted, between 1 and 5; active" in page
    assert "10.0 GiB of 40.0 GiB (25%), 1 of 4 files, 200.0 MiB/s, 2 min 30 s left" in page
    assert 'aria-valuenow="25"' in r.text
    # not settled (a download in flight): the live part polls every 3 s
    assert 'hx-get="/ui/apps/prod/web/live" hx-trigger="every 3s"' in r.text
    assert (
        'data-src="/ui/apps/prod/web/series.json?name=latency_p50_ms&amp;name=latency_p99_ms"'
        in r.text
    )
    for title in ("Requests per second", "Errors per second", "GPU utilisation", "GPU memory used"):
        assert title in page
    assert "v1 active" in page
    r = await client.get("/ui/apps/prod/web/live", headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.text.startswith('<div id="app-live"')
    assert "<html" not in r.text


async def test_rollout_view_and_its_buttons(server: Server) -> None:
    await platform(server, CANARY)
    await set_status(server, "prod", "shop", ROLLOUT)
    client = await signed_in(server)
    r = await client.get("/ui/apps/prod/shop/live", headers={"HX-Request": "true"})
    live = text(r.text)
    assert 'hx-trigger="every 3s"' in r.text
    assert "Rollout (canary)" in live and "Phase Paused Step 1 of 2" in live
    assert "Step 1 of 2" in live and "stable 80% · canary 20%" in live
    assert "shop-analysis-2" in live and "error-rate Successful 0.002" in live
    r = await client.get("/ui/apps/prod/shop")
    for label in ("Promote", "Promote to the end", "Abort rollout"):
        assert f">{label}</button>" in r.text
    # a rolling app has no rollout buttons
    await server.admin.post(
        "/apply",
        json={"documents": [{"source": "w.yaml", "content": WEB.format(tag=1)}]},
    )
    r = await client.get("/ui/apps/prod/web")
    assert ">Promote</button>" not in r.text and ">Restart</button>" in r.text


async def test_live_part_polls_slowly_once_settled(server: Server) -> None:
    await platform(server, WEB.format(tag=1))
    await set_status(server, "prod", "web", {**RUNNING, "weights": None})
    client = await signed_in(server)
    r = await client.get("/ui/apps/prod/web/live", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 15s"' in r.text


async def test_a_viewer_sees_no_actions_and_cannot_post(server: Server) -> None:
    await platform(server, WEB.format(tag=1), CANARY)
    await server.admin.post(
        "/apply", json={"documents": [{"source": "w.yaml", "content": WEB.format(tag=2)}]}
    )
    await set_status(server, "prod", "shop", ROLLOUT)
    await user(server, "vic", "viewer", ("workspace", "prod"))
    viewer = await sign_in(server, "vic")
    for path in ("/ui/apps/prod/web", "/ui/apps/prod/shop"):
        r = await viewer.get(path)
        assert r.status_code == 200
        for label in ACTIONS:
            assert label not in r.text, (path, label)
        assert "Live logs" in r.text
    assert "Deploy…" not in (await viewer.get("/ui/apps")).text
    token = await csrf(viewer)
    for path, data in (
        ("/ui/apps/prod/web/rollback", {"to": "1"}),
        ("/ui/apps/prod/web/delete", {}),
        ("/ui/apps/prod/web/restart", {}),
        ("/ui/apps/prod/shop/rollout/promote", {"full": "true"}),
        ("/ui/apps/prod/shop/rollout/abort", {}),
    ):
        r = await viewer.post(path, data={"csrf": token, **data})
        assert r.status_code == 403, path
        assert "apps.write" in r.text
    assert (await viewer.get("/ui/apps/prod/web/delete")).status_code == 403
    versions = (await server.admin.get("/workspaces/prod/apps/web/versions")).json()
    assert len(versions) == 2


async def test_an_outsider_gets_not_found(server: Server) -> None:
    await platform(server, WEB.format(tag=1), SECRET_LAB)
    await user(server, "otto", "editor", ("workspace", "lab"))
    client = await sign_in(server, "otto")
    for path in (
        "/ui/apps/prod/web",
        "/ui/apps/prod/web/live",
        "/ui/apps/prod/web/diff?a=1&b=1",
        "/ui/apps/prod/web/series.json?name=requests_per_second",
        "/ui/apps/prod/web/logs",
    ):
        assert (await client.get(path)).status_code == 404, path
    r = await client.post(
        "/ui/apps/prod/web/rollback", data={"csrf": await csrf(client), "to": "1"}
    )
    assert r.status_code == 404
    r = await client.get("/ui/apps")
    assert "/ui/apps/lab/hidden" in r.text and "/ui/apps/prod/web" not in r.text
    assert (await client.get("/ui/apps/lab/hidden")).status_code == 200


async def test_rollback_makes_a_new_version_with_the_old_spec(server: Server) -> None:
    await platform(server, WEB.format(tag=1))
    await server.admin.post(
        "/apply", json={"documents": [{"source": "w.yaml", "content": WEB.format(tag=2)}]}
    )
    client = await signed_in(server)
    page = (await client.get("/ui/apps/prod/web")).text
    assert ">Roll back to v1</button>" in page and ">Roll back to v2</button>" not in page
    token = await csrf(client)
    r = await client.post("/ui/apps/prod/web/rollback", data={"to": "1"})
    assert r.status_code == 403, "no CSRF token"
    r = await client.post("/ui/apps/prod/web/rollback", data={"to": "1", "csrf": token})
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/apps/prod/web?rolled=1&applied=3"
    page = text((await client.get(r.headers["location"])).text)
    assert "Rolled back to version 1: version 3 is now active." in page
    assert "v3 active" in page and "rollback to v1" in page
    v3 = (await server.admin.get("/workspaces/prod/apps/web/versions/3")).json()
    assert v3["spec"]["image"] == "example.com/web:1" and v3["reason"] == "rollback"


async def test_diff_of_any_two_versions(server: Server) -> None:
    await platform(server, WEB.format(tag=1))
    for tag in (2, 3):
        await server.admin.post(
            "/apply", json={"documents": [{"source": "w.yaml", "content": WEB.format(tag=tag)}]}
        )
    client = await signed_in(server)
    r = await client.get("/ui/apps/prod/web/diff?a=1&b=3", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert '<span class="diff-del">-image: example.com/web:1</span>' in r.text
    assert '<span class="diff-add">+image: example.com/web:3</span>' in r.text
    assert "web:2" not in r.text
    # without htmx the page itself carries the diff, and the form preselects the two versions
    r = await client.get("/ui/apps/prod/web?a=3&b=2")
    assert '<span class="diff-del">-image: example.com/web:3</span>' in r.text
    assert '<option value="3" selected>' in r.text
    r = await client.get("/ui/apps/prod/web/diff?a=2&b=2", headers={"HX-Request": "true"})
    assert r.status_code == 400 and r.headers["HX-Retarget"] == "#alerts"
    r = await client.get("/ui/apps/prod/web/diff?a=1&b=9")
    assert r.status_code == 404 and "no version 9" in r.text


async def test_delete_after_a_confirmation(server: Server) -> None:
    await platform(server, WEB.format(tag=1))
    client = await signed_in(server)
    r = await client.get("/ui/apps/prod/web/delete")
    assert r.status_code == 200 and ">Delete web</button>" in r.text
    r = await client.post("/ui/apps/prod/web/delete", data={})
    assert r.status_code == 403
    r = await client.post("/ui/apps/prod/web/delete", data={"csrf": await csrf(client)})
    assert r.status_code == 303 and r.headers["location"] == "/ui/apps/prod/web?removed=true"
    page = text((await client.get(r.headers["location"])).text)
    assert "Deleted: the app left the desired state." in page
    assert "Restart" not in page and "Roll back to v1" in page
    app = (await server.admin.get("/workspaces/prod/apps/web")).json()["app"]
    assert app["active_version"] is None


async def test_app_charts_come_from_telemetry(server: Server) -> None:
    await platform(server, WEB.format(tag=1))
    await add_samples(
        server,
        [
            proto.Sample(
                scope="app", name="latency_p50_ms", value=41.0, workspace="prod", app="web"
            ),
            proto.Sample(
                scope="app", name="latency_p99_ms", value=250.0, workspace="prod", app="web"
            ),
            proto.Sample(
                scope="app", name="requests_per_second", value=7.0, workspace="prod", app="web"
            ),
        ],
    )
    client = await signed_in(server)
    r = await client.get("/ui/apps/prod/web/series.json?name=latency_p50_ms&name=latency_p99_ms")
    assert r.status_code == 200
    assert {s["label"]: s["points"][0][1] for s in r.json()["series"]} == {
        "p50": 41.0,
        "p99": 250.0,
    }
    page = text((await client.get("/ui/apps/prod/web")).text)
    assert "requests per second requests per second 7 " in page
    assert "latency p99 ms p99 250 " in page
    assert (await client.get("/ui/apps/prod/nope/series.json")).status_code == 404
