"""The SDK against the real control plane over HTTP: every resource group and each error class."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from ironplane.sdk import (
    AsyncClient,
    Client,
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    SpecError,
    UnauthenticatedError,
    http_status,
)
from tests.sdk.live import CLUSTER, SERVICE, WORKSPACE, Live, running_server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_server(tmp_path_factory.mktemp("control-plane")) as server:
        yield server


@pytest.fixture
def admin(live: Live) -> Iterator[Client]:
    with Client(live.url, live.admin_token) as client:
        yield client


def test_apps_lifecycle(admin: Client) -> None:
    assert admin.health() == {"status": "ok"}
    assert admin.auth.whoami().name == "admin"
    first = admin.apply(
        [("platform.yaml", CLUSTER + "---\n" + WORKSPACE), ("chat.yaml", SERVICE.format(tag="1"))]
    )
    actions = [(c.kind, c.action) for c in first.changes]
    assert actions == [("Cluster", "create"), ("Workspace", "create"), ("Service", "create")]
    cluster_change = first.changes[0]
    assert cluster_change.agent_token is not None and cluster_change.agent_token.secret

    assert [c.name for c in admin.clusters.list()] == ["oke-prod"]
    assert admin.clusters.get("oke-prod").provider == "oci"
    desired = admin.clusters.desired("oke-prod")
    assert any(o["kind"] == "Deployment" for o in desired.objects)
    rotated = admin.clusters.rotate_agent_token("oke-prod")
    assert rotated.secret != cluster_change.agent_token.secret
    assert admin.workspaces.get("prod").cluster == "oke-prod"

    dry = admin.apply([("chat.yaml", SERVICE.format(tag="2"))], dry_run=True, diff=True)
    assert dry.dry_run and dry.changes[0].action == "update"
    assert dry.changes[0].diff and "chat-api:2" in dry.changes[0].diff
    assert admin.apps.get("prod", "chat-api").app.active_version == 1

    admin.apply([("chat.yaml", SERVICE.format(tag="2"))])
    assert [v.number for v in admin.apps.versions("prod", "chat-api")] in ([1, 2], [2, 1])
    assert admin.apps.version("prod", "chat-api", 1).spec["image"].endswith(":1")
    change = admin.apps.rollback("prod", "chat-api", to=1)
    assert change.version == 3
    detail = admin.apps.get("prod", "chat-api")
    assert detail.active is not None and detail.active.rollback_of == 1
    assert [a.name for a in admin.apps.list()] == ["chat-api"]
    assert [a.name for a in admin.apps.list("prod")] == ["chat-api"]

    assert admin.apps.delete("prod", "chat-api").action == "delete"
    assert admin.apps.get("prod", "chat-api").app.active_version is None

    admin.secrets.put("prod", "hf", {"HF_TOKEN": "hf_live_value"})
    assert admin.secrets.get("prod", "hf").values == {"HF_TOKEN": "hf_live_value"}
    assert [g.name for g in admin.secrets.list("prod")] == ["hf"]
    admin.secrets.delete("prod", "hf")
    assert admin.secrets.list("prod") == []

    events = admin.audit.list(limit=3)
    assert len(events) == 3
    older = admin.audit.list(limit=2, before=events[-1].id)
    assert all(e.id < events[-1].id for e in older)


def test_identity_and_access(admin: Client, live: Live) -> None:
    admin.users.create("carol", email="carol@example.com", password="a long password")
    login = admin.auth.login("carol", "a long password")
    with Client(live.url, login.token) as carol:
        assert carol.auth.whoami().name == "carol"
        with pytest.raises(ForbiddenError) as info:
            carol.users.list()
        assert http_status(info.value) == 403
    assert admin.users.update("carol", active=False).active is False

    admin.teams.create("ml", members=["carol"])
    with pytest.raises(ConflictError):
        admin.teams.create("ml")
    assert sorted(admin.teams.add_member("ml", "admin").members) == ["admin", "carol"]
    assert admin.teams.remove_member("ml", "carol").members == ["admin"]

    admin.service_accounts.create("ci", description="deploys")
    minted = admin.tokens.create("deploy", expires_in_days=None, service_account="ci")
    assert minted.token.subject == "service_account:ci" and minted.token.expires_at is None
    assert minted.token.id in {t.id for t in admin.tokens.list(all=True)}
    assert admin.tokens.revoke(minted.token.id).revoked_at is not None
    with Client(live.url, minted.secret) as revoked, pytest.raises(UnauthenticatedError):
        revoked.auth.whoami()

    admin.roles.create("deployer", permissions=["apps.read", "apps.write"])
    binding = admin.role_bindings.create("deployer", subject_kind="team", subject="ml")
    assert binding.id in {b.id for b in admin.role_bindings.list()}
    admin.role_bindings.delete(binding.id)
    admin.roles.delete("deployer")
    admin.teams.delete("ml")
    admin.service_accounts.delete("ci")
    admin.users.delete("carol")
    with pytest.raises(NotFoundError) as info:
        admin.users.get("carol")
    assert http_status(info.value) == 404


def test_spec_errors_come_back_located(admin: Client) -> None:
    bad = "kind: Service\nname: web\nworkspace: prod\nimage: nginx\nreplicas: lots\n"
    with pytest.raises(SpecError) as info:
        admin.apply([("apps/web.yaml", bad)])
    [d] = info.value.diagnostics
    assert (d.source, d.line, d.path) == ("apps/web.yaml", 5, ("replicas",))
    assert info.value.message.count("apps/web.yaml:5") == 1


def test_bad_requests_and_tokens(live: Live) -> None:
    with Client(live.url, "ipt_not_a_real_token") as client:
        with pytest.raises(UnauthenticatedError) as info:
            client.auth.whoami()
        assert "ipt_not_a_real_token" not in info.value.message
    with Client(live.url, live.admin_token) as client, pytest.raises(InvalidError):
        client.workspaces.create({"kind": "Workspace", "name": "x", "cluster": "nope", "bogus": 1})


def test_async_client(live: Live) -> None:
    async def go() -> tuple[str, int]:
        async with AsyncClient(live.url, live.admin_token) as client:
            me, users = await asyncio.gather(client.auth.whoami(), client.users.list())
            return me.name, len(users)

    name, count = asyncio.run(go())
    assert name == "admin" and count >= 1
