"""Restart and rollout steering from an app's page: the agent command each sends, the audit
event, the notice htmx swaps in, and what happens when no agent is connected."""

from __future__ import annotations

from typing import Any

import pytest

from ironplane.core.errors import ConflictError
from ironplane.wire import agent_protocol as proto
from tests.server.conftest import Server
from tests.server.helpers import audit
from tests.ui.agent_fakes import CANARY, WEB, csrf, fake_hub, ok, platform
from tests.ui.conftest import signed_in

pytestmark = pytest.mark.anyio


async def test_restart_asks_the_agent_and_is_audited(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    await platform(server, WEB.format(tag=1))

    async def answer(call: dict[str, Any]) -> proto.CommandResult:
        return ok()

    calls = fake_hub(monkeypatch, server, answer)
    client = await signed_in(server)
    token = await csrf(client)
    r = await client.post("/ui/apps/prod/web/restart", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/ui/apps/prod/web?restarted=true"
    r = await client.post(
        "/ui/apps/prod/web/restart", headers={"HX-Request": "true", "X-CSRF-Token": token}
    )
    assert r.status_code == 200
    assert r.text.strip() == '<div class="notice" role="status">prod/web is restarting.</div>'
    assert [(c["op"], c["workspace"], c["app"]) for c in calls] == [("restart", "prod", "web")] * 2
    events = await audit(server, "app.restart")
    assert len(events) == 2 and events[0]["target"] == "app/prod/web"


async def test_promote_full_and_abort_reach_the_agent(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    await platform(server, CANARY)

    async def answer(call: dict[str, Any]) -> proto.CommandResult:
        return ok(message=f"{call['op']}d (full={call['full']})")

    calls = fake_hub(monkeypatch, server, answer)
    client = await signed_in(server)
    token = await csrf(client)
    htmx = {"HX-Request": "true", "X-CSRF-Token": token}
    r = await client.post("/ui/apps/prod/shop/rollout/promote", headers=htmx, data={"full": "true"})
    assert r.status_code == 200 and "promote: promoted (full=True)" in r.text
    r = await client.post("/ui/apps/prod/shop/rollout/promote", headers=htmx)
    assert "promote: promoted (full=False)" in r.text
    r = await client.post("/ui/apps/prod/shop/rollout/abort", data={"csrf": token})
    assert r.status_code == 303
    assert [(c["op"], c["full"]) for c in calls] == [
        ("promote", True),
        ("promote", False),
        ("abort", False),
    ]
    assert len(await audit(server, "rollout.promote")) == 2


async def test_a_rolling_app_cannot_be_promoted(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    await platform(server, WEB.format(tag=1))
    client = await signed_in(server)
    r = await client.post(
        "/ui/apps/prod/web/rollout/promote",
        headers={"HX-Request": "true", "X-CSRF-Token": await csrf(client)},
    )
    assert r.status_code == 400 and r.headers["HX-Retarget"] == "#alerts"
    assert "rolling" in r.text


async def test_without_an_agent_the_error_says_so(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    await platform(server, WEB.format(tag=1))
    client = await signed_in(server)
    token = await csrf(client)
    r = await client.post("/ui/apps/prod/web/restart", data={"csrf": token})
    assert r.status_code == 503 and "is not connected" in r.text

    async def refuse(call: dict[str, Any]) -> proto.CommandResult:
        raise ConflictError("a restart is already in progress")

    fake_hub(monkeypatch, server, refuse)
    r = await client.post(
        "/ui/apps/prod/web/restart", headers={"HX-Request": "true", "X-CSRF-Token": token}
    )
    assert r.status_code == 409 and "already in progress" in r.text
    assert r.headers["HX-Retarget"] == "#alerts"
