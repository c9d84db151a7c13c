"""No escalation through custom roles, and never without a tenant admin.

Whoever hands permissions over must hold each of them on the scope concerned: binding a role,
adding a user to a team, minting a service account's token, taking over another user's login.
And no change may leave the tenant without an active user holding ``admin`` there.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from ironplane.core.errors import ConflictError
from ironplane.server.context import Caller
from ironplane.server.security.principals import Principal
from ironplane.server.services import roles
from tests.server.conftest import Server
from tests.server.helpers import (
    CLUSTER,
    DEFAULT_PASSWORD,
    WORKSPACE,
    apply_yaml,
    bind,
    error_of,
    login,
    make_user,
)

pytestmark = pytest.mark.anyio

OTHER_CLUSTER = "kind: Cluster\nname: oke-dev\nprovider: oci\n"
OTHER_WORKSPACE = "kind: Workspace\nname: dev\ncluster: oke-dev\n"


async def only(server: Server, user: str, permission: str) -> httpx.AsyncClient:
    """A user whose one binding (on the tenant) is a custom role holding just ``permission``."""
    role = "only-" + permission.replace(".", "-").replace("_", "-")
    r = await server.admin.post("/roles", json={"name": role, "permissions": [permission]})
    assert r.status_code == 201, r.text
    return server.client(await make_user(server, user, role=role))


def assert_forbidden(r: httpx.Response, *needles: str) -> None:
    assert r.status_code == 403, r.text
    error = error_of(r)
    assert error["code"] == "forbidden"
    for needle in needles:
        assert needle in error["message"], error["message"]


# --- the four escalations -----------------------------------------------------------------------


async def test_service_accounts_write_cannot_mint_an_admin_service_accounts_token(
    server: Server,
) -> None:
    admin = server.admin
    for sa in ("root-bot", "plain-bot"):
        assert (await admin.post("/service-accounts", json={"name": sa})).status_code == 201
    await bind(server, "admin", "root-bot", subject_kind="service_account")
    mallory = await only(server, "mallory", "service_accounts.write")

    r = await mallory.post("/tokens", json={"name": "steal", "service_account": "root-bot"})
    # The message names the first permission she lacks and where.
    assert_forbidden(r, "users.read on tenant", "root-bot")
    rows = (await admin.get("/tokens", params={"all": "true"})).json()
    assert not [t for t in rows if t["subject"] == "service_account:root-bot"]

    # A service account with nothing bound, she may; the tenant admin may for either.
    r = await mallory.post("/tokens", json={"name": "ok", "service_account": "plain-bot"})
    assert r.status_code == 201, r.text
    r = await admin.post("/tokens", json={"name": "ok", "service_account": "root-bot"})
    assert r.status_code == 201, r.text
    root = server.client(r.json()["secret"])
    assert (await root.get("/audit")).status_code == 200


async def test_teams_write_cannot_join_an_admin_team(server: Server) -> None:
    admin = server.admin
    for team in ("root-team", "plain-team"):
        assert (await admin.post("/teams", json={"name": team})).status_code == 201
    await bind(server, "admin", "root-team", subject_kind="team")
    mallory = await only(server, "mallory", "teams.write")

    r = await mallory.put("/teams/root-team/members/mallory")
    assert_forbidden(r, "users.read on tenant", "root-team")
    assert (await admin.get("/teams/root-team")).json()["members"] == []
    assert (await mallory.get("/users")).status_code == 403

    r = await mallory.put("/teams/plain-team/members/mallory")
    assert r.status_code == 200 and r.json()["members"] == ["mallory"], r.text
    r = await admin.put("/teams/root-team/members/mallory")
    assert r.status_code == 200, r.text
    assert (await mallory.get("/users")).status_code == 200


async def test_users_write_cannot_take_over_an_admins_login(server: Server) -> None:
    admin = server.admin
    await make_user(server, "root2", role="admin")
    await make_user(server, "plain")
    mallory = await only(server, "mallory", "users.write")

    for body in ({"password": "mallory-owns-it"}, {"email": "mallory@evil.example"}):
        r = await mallory.patch("/users/root2", json=body)
        assert_forbidden(r, "users.read on tenant", "root2")
    await login(server, "root2")  # the password is unchanged
    assert (await admin.get("/users/root2")).json()["email"] is None

    # Re-activating an admin is taking over too (the tenant admin deactivated root2).
    r = await admin.patch("/users/root2", json={"active": False})
    assert r.status_code == 200, r.text
    r = await mallory.patch("/users/root2", json={"active": True})
    assert_forbidden(r, "users.read on tenant")
    assert (await admin.get("/users/root2")).json()["active"] is False

    # A user with no grants she may reset; the tenant admin may reset anyone.
    r = await mallory.patch("/users/plain", json={"password": "plain-new-password"})
    assert r.status_code == 200, r.text
    await login(server, "plain", "plain-new-password")
    r = await admin.patch("/users/root2", json={"active": True, "password": "root2-new-password"})
    assert r.status_code == 200, r.text
    await login(server, "root2", "root2-new-password")


async def test_roles_write_cannot_bind_admin_to_itself(server: Server) -> None:
    admin = server.admin
    mallory = await only(server, "mallory", "roles.write")
    await make_user(server, "friend")

    def binding(role: str, subject: str) -> dict[str, Any]:
        return {"role": role, "subject_kind": "user", "subject": subject}

    for role in ("admin", "viewer"):
        r = await mallory.post("/role-bindings", json=binding(role, "mallory"))
        assert_forbidden(r, "users.read on tenant", repr(role))
    assert len((await admin.get("/role-bindings")).json()) == 2  # admin's and mallory's own

    # What she holds herself she may hand over.
    r = await mallory.post("/role-bindings", json=binding("only-roles-write", "friend"))
    assert r.status_code == 201, r.text
    r = await admin.post("/role-bindings", json=binding("admin", "mallory"))
    assert r.status_code == 201, r.text
    assert (await mallory.get("/audit")).status_code == 200


async def test_a_cluster_admin_binds_within_its_cluster_only(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE, OTHER_CLUSTER, OTHER_WORKSPACE)
    boss = server.client(
        await make_user(server, "cl-boss", role="admin", scope=("cluster", "oke-prod"))
    )
    ed = server.client(await make_user(server, "ed"))

    def editor_on(kind: str, scope: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"role": "editor", "subject_kind": "user", "subject": "ed"}
        body["scope_kind"] = kind
        if scope is not None:
            body["scope"] = scope
        return body

    r = await boss.post("/role-bindings", json=editor_on("workspace", "prod"))
    assert r.status_code == 201, r.text
    assert (r.json()["role"], r.json()["scope_kind"], r.json()["scope"]) == (
        "editor",
        "workspace",
        "prod",
    )
    assert (await ed.get("/workspaces/prod/secrets")).status_code == 200
    r = await boss.post("/role-bindings", json=editor_on("cluster", "oke-prod"))
    assert r.status_code == 201, r.text

    # Another cluster's workspace: it cannot even see it, so it does not exist for it.
    r = await boss.post("/role-bindings", json=editor_on("workspace", "dev"))
    assert r.status_code == 404 and error_of(r)["code"] == "not_found", r.text
    r = await boss.post("/role-bindings", json=editor_on("cluster", "oke-dev"))
    assert r.status_code == 404 and error_of(r)["code"] == "not_found", r.text
    r = await boss.post("/role-bindings", json=editor_on("tenant", None))
    assert_forbidden(r, "roles.write on tenant")
    assert (await ed.get("/workspaces/dev/secrets")).status_code == 404
    assert (await ed.get("/users")).status_code == 403

    # roles.write on a cluster is not enough to bind a role holding more than the binder.
    r = await server.admin.post(
        "/roles", json={"name": "binder", "permissions": ["roles.write", "apps.read"]}
    )
    assert r.status_code == 201, r.text
    binder = server.client(
        await make_user(server, "binder", role="binder", scope=("cluster", "oke-prod"))
    )
    r = await binder.post("/role-bindings", json=editor_on("workspace", "prod"))
    assert_forbidden(r, "users.read on workspace/prod")
    r = await binder.post(
        "/role-bindings",
        json={
            "role": "binder",
            "subject_kind": "user",
            "subject": "ed",
            "scope_kind": "workspace",
            "scope": "prod",
        },
    )
    assert r.status_code == 201, r.text


# --- the last tenant admin ----------------------------------------------------------------------


async def sole_admin_via_team(server: Server) -> dict[str, httpx.AsyncClient]:
    """``boss`` is the only admin, through team ``admins``; ``hr``, ``tm`` and ``rb`` hold
    users.write, teams.write and roles.write alone. The bootstrap admin holds nothing now."""
    clients = {
        "hr": await only(server, "hr", "users.write"),
        "tm": await only(server, "tm", "teams.write"),
        "rb": await only(server, "rb", "roles.write"),
        "boss": server.client(await make_user(server, "boss")),
    }
    admin = server.admin
    r = await admin.post("/teams", json={"name": "admins", "members": ["boss"]})
    assert r.status_code == 201, r.text
    await bind(server, "admin", "admins", subject_kind="team")
    [mine] = [b for b in (await admin.get("/role-bindings")).json() if b["subject"] == "admin"]
    r = await admin.delete(f"/role-bindings/{mine['id']}")
    assert r.status_code == 200, r.text
    assert (await clients["boss"].get("/audit")).status_code == 200
    return clients


def assert_last_admin(r: httpx.Response) -> None:
    assert r.status_code == 409, r.text
    error = error_of(r)
    assert error["code"] == "conflict"
    assert "without an admin" in error["message"] and "last admin binding" in error["message"]


async def test_the_last_admin_user_cannot_be_deleted_or_deactivated(server: Server) -> None:
    c = await sole_admin_via_team(server)
    assert_last_admin(await c["hr"].delete("/users/boss"))
    assert_last_admin(await c["hr"].patch("/users/boss", json={"active": False}))
    assert (await c["boss"].get("/audit")).status_code == 200
    # Deleting a user who is no admin is fine; so is deleting boss once another admin exists.
    assert (await c["hr"].delete("/users/admin")).status_code == 200
    r = await c["hr"].post("/users", json={"name": "boss2", "password": DEFAULT_PASSWORD})
    assert r.status_code == 201, r.text
    boss2 = server.client(await login(server, "boss2"))
    r = await c["boss"].post(
        "/role-bindings", json={"role": "admin", "subject_kind": "user", "subject": "boss2"}
    )
    assert r.status_code == 201, r.text
    r = await c["hr"].patch("/users/boss", json={"active": False})
    assert r.status_code == 200, r.text
    assert_last_admin(await c["hr"].delete("/users/boss2"))
    assert_last_admin(await c["hr"].patch("/users/boss2", json={"active": False}))
    assert (await boss2.get("/audit")).status_code == 200


async def test_the_last_admin_team_cannot_be_deleted_or_emptied(server: Server) -> None:
    c = await sole_admin_via_team(server)
    assert_last_admin(await c["tm"].delete("/teams/admins"))
    assert_last_admin(await c["tm"].delete("/teams/admins/members/boss"))
    team = (await c["boss"].get("/teams/admins")).json()
    assert team["members"] == ["boss"]

    # An inactive member does not count as an admin.
    assert (await c["boss"].post("/users", json={"name": "ghost"})).status_code == 201
    assert (await c["boss"].put("/teams/admins/members/ghost")).status_code == 200
    assert (await c["boss"].patch("/users/ghost", json={"active": False})).status_code == 200
    assert_last_admin(await c["tm"].delete("/teams/admins/members/boss"))
    assert (await c["boss"].patch("/users/ghost", json={"active": True})).status_code == 200
    r = await c["tm"].delete("/teams/admins/members/boss")
    assert r.status_code == 200 and r.json()["members"] == ["ghost"], r.text
    assert (await c["boss"].get("/audit")).status_code == 403


async def test_the_last_admin_binding_cannot_be_deleted(server: Server) -> None:
    c = await sole_admin_via_team(server)
    [team_binding] = [
        b for b in (await c["boss"].get("/role-bindings")).json() if b["subject"] == "admins"
    ]
    assert_last_admin(await c["rb"].delete(f"/role-bindings/{team_binding['id']}"))
    # Other bindings go as before.
    [rb] = [b for b in (await c["boss"].get("/role-bindings")).json() if b["subject"] == "rb"]
    assert (await c["rb"].delete(f"/role-bindings/{rb['id']}")).status_code == 200


async def test_concurrent_removals_leave_an_admin(server: Server) -> None:
    """Both admins' bindings deleted at once: one of the two deletions must lose."""
    await make_user(server, "second", role="admin")
    r = await server.admin.post(
        "/roles", json={"name": "binding-keeper", "permissions": ["roles.read", "roles.write"]}
    )
    assert r.status_code == 201, r.text
    keeper = server.client(await make_user(server, "keeper", role="binding-keeper"))

    async def admin_bindings() -> list[dict[str, Any]]:
        listed = (await keeper.get("/role-bindings")).json()
        return [b for b in listed if b["role"] == "admin" and b["scope_kind"] == "tenant"]

    bindings = await admin_bindings()
    assert len(bindings) == 2
    results = await asyncio.gather(*(keeper.delete(f"/role-bindings/{b['id']}") for b in bindings))
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    [left] = await admin_bindings()
    token = server.admin_token if left["subject"] == "admin" else await login(server, "second")
    assert (await server.client(token).get("/audit")).status_code == 200


async def test_removals_take_turns_so_both_cannot_pass(server: Server) -> None:
    """Two transactions each delete one of two admin bindings: the second waits for the first
    (PostgreSQL's advisory lock, SQLite's write lock) and then sees it, so it fails."""
    await make_user(server, "second", role="admin")
    listed = (await server.admin.get("/role-bindings")).json()
    first, second = [b["id"] for b in listed if b["role"] == "admin"]
    db = server.app.state.services.db
    caller = Caller(Principal(kind="user", name="tester", id=0), None)

    async def remove(binding_id: int) -> None:
        async with db.session() as session:
            await roles.delete_binding(session, caller, binding_id)

    async with db.session() as session:
        await roles.delete_binding(session, caller, first)  # passes: "second" is still admin
        racing = asyncio.create_task(remove(second))
        await asyncio.sleep(0.5)
        assert not racing.done(), "the second removal must wait for the first to commit"
    with pytest.raises(ConflictError, match="without an admin"):
        await racing
    second_admin = server.client(await login(server, "second"))
    [left] = [b for b in (await second_admin.get("/role-bindings")).json() if b["role"] == "admin"]
    assert left["id"] == second
