"""The access page: users, teams, service accounts, roles and bindings, and its forms, which keep
the API's escalation rules (nobody hands over what they do not hold; the tenant keeps an admin)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.server.conftest import Server
from tests.server.helpers import apply_yaml, bind
from tests.ui.agent_fakes import sign_in, user
from tests.ui.conftest import csrf_of, signed_in

pytestmark = pytest.mark.anyio

PLATFORM = (
    "kind: Cluster\nname: oke-prod\nprovider: oci\nregion: us-ashburn-1\n---\n"
    "kind: Workspace\nname: prod\ncluster: oke-prod\n"
)
PASSWORD = "a-password-never-echoed-4711"


async def post(client: httpx.AsyncClient, path: str, **data: Any) -> httpx.Response:
    csrf = csrf_of((await client.get("/ui/access")).text)
    return await client.post(path, data={"csrf": csrf, **data})


async def test_the_page_lists_everything_for_an_admin(server: Server) -> None:
    await apply_yaml(server.admin, PLATFORM)
    await user(server, "ana", "editor", ("workspace", "prod"))
    assert (
        await server.admin.post("/teams", json={"name": "ml", "members": ["ana"]})
    ).status_code == 201
    assert (
        await server.admin.post("/service-accounts", json={"name": "ci", "description": "builds"})
    ).status_code == 201
    r = await server.admin.post("/roles", json={"name": "reader", "permissions": ["apps.read"]})
    assert r.status_code == 201
    client = await signed_in(server)
    html = (await client.get("/ui/access")).text
    for text in ("ana", "ml", "builds", "reader", "<code>apps.read</code>", "custom", "built in"):
        assert text in html, text
    assert "editor" in html and "workspace prod" in html, "the binding and its scope"
    for form in (
        "/ui/access/users",
        "/ui/access/teams",
        "/ui/access/service-accounts",
        "/ui/access/bindings",
        "/ui/access/teams/ml/members",
    ):
        assert f'action="{form}"' in html, form
    assert "Delete binding" in html and 'aria-label="Remove ana from team ml"' in html


async def test_forms_create_and_change_through_the_services(server: Server) -> None:
    await apply_yaml(server.admin, PLATFORM)
    client = await signed_in(server)
    r = await post(
        client, "/ui/access/users", name="bob", email="bob@example.com", password=PASSWORD
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/access?done=user"
    bob = (await server.admin.get("/users/bob")).json()
    assert bob["email"] == "bob@example.com" and bob["has_password"] is True

    assert (await post(client, "/ui/access/teams", name="ml")).status_code == 303
    assert (await post(client, "/ui/access/teams/ml/members", user="bob")).status_code == 303
    assert (await server.admin.get("/teams/ml")).json()["members"] == ["bob"]
    r = await post(client, "/ui/access/teams/ml/members/bob/remove")
    assert r.status_code == 303 and r.headers["location"] == "/ui/access?done=removed"
    assert (await server.admin.get("/teams/ml")).json()["members"] == []
    assert (await post(client, "/ui/access/service-accounts", name="ci")).status_code == 303

    r = await post(
        client,
        "/ui/access/bindings",
        role="editor",
        subject_kind="user",
        subject="bob",
        scope_kind="workspace",
        scope="prod",
    )
    assert r.status_code == 303, r.text
    bindings = (await server.admin.get("/role-bindings")).json()
    made = next(b for b in bindings if b["subject"] == "bob")
    assert (made["role"], made["scope_kind"], made["scope"]) == ("editor", "workspace", "prod")
    r = await post(client, f"/ui/access/bindings/{made['id']}/delete")
    assert r.status_code == 303 and r.headers["location"] == "/ui/access?done=unbound"
    assert all(b["subject"] != "bob" for b in (await server.admin.get("/role-bindings")).json())
    assert "Role binding deleted." in (await client.get("/ui/access?done=unbound")).text


async def test_errors_are_shown_and_never_echo_a_password(server: Server) -> None:
    client = await signed_in(server)
    r = await post(client, "/ui/access/users", name="bob", password="short")
    assert r.status_code == 400 and "password" in r.text and 'role="alert"' in r.text
    assert (await post(client, "/ui/access/users", name="bob")).status_code == 303
    r = await post(client, "/ui/access/users", name="bob", password=PASSWORD)
    assert r.status_code == 409 and "already exists" in r.text and PASSWORD not in r.text
    r = await post(
        client,
        "/ui/access/bindings",
        role="viewer",
        subject_kind="user",
        subject="bob",
        scope_kind="tenant",
        scope="prod",
    )
    assert r.status_code == 400 and "names no scope" in r.text
    r = await post(client, "/ui/access/bindings", role="nope", subject_kind="user", subject="bob")
    assert r.status_code == 404 and "role &#39;nope&#39; not found" in r.text


async def test_the_tenant_keeps_an_admin(server: Server) -> None:
    client = await signed_in(server)
    admin_binding = next(
        b for b in (await server.admin.get("/role-bindings")).json() if b["role"] == "admin"
    )
    r = await post(client, f"/ui/access/bindings/{admin_binding['id']}/delete")
    assert r.status_code == 409 and "without an admin" in r.text
    assert any(b["role"] == "admin" for b in (await server.admin.get("/role-bindings")).json())


async def test_escalation_rules_still_apply(server: Server) -> None:
    """A user who may write roles, teams and users but is no admin hands over nothing they lack."""
    await apply_yaml(server.admin, PLATFORM)
    perms = ["users.read", "users.write", "teams.read", "teams.write", "roles.read", "roles.write"]
    r = await server.admin.post("/roles", json={"name": "steward", "permissions": perms})
    assert r.status_code == 201, r.text
    await user(server, "sam", "steward", None)
    assert (await server.admin.post("/teams", json={"name": "admins"})).status_code == 201
    await bind(server, "admin", "admins", subject_kind="team")
    sam = await sign_in(server, "sam")
    html = (await sam.get("/ui/access")).text
    assert "Bind role" in html and "Create team" in html

    r = await post(sam, "/ui/access/bindings", role="admin", subject_kind="user", subject="sam")
    assert r.status_code == 403 and "which you do not hold there yourself" in r.text
    r = await post(sam, "/ui/access/teams/admins/members", user="sam")
    assert r.status_code == 403 and "do not hold" in r.text
    assert (await server.admin.get("/teams/admins")).json()["members"] == []
    r = await post(
        sam,
        "/ui/access/bindings",
        role="steward",
        subject_kind="user",
        subject="sam",
        scope_kind="tenant",
    )
    assert r.status_code == 303, "what sam holds, sam may hand over"
    audit = (await server.admin.get("/audit", params={"limit": 20})).json()
    assert any(e["outcome"] == "denied" and e["actor"] == "user:sam" for e in audit)


async def test_a_viewer_sees_no_forms_and_posting_is_refused(server: Server) -> None:
    await apply_yaml(server.admin, PLATFORM)
    await user(server, "vic", "viewer", None)
    assert (await server.admin.post("/teams", json={"name": "ml"})).status_code == 201
    viewer = await sign_in(server, "vic")
    r = await viewer.get("/ui/access")
    assert r.status_code == 200 and "vic" in r.text and "ml" in r.text
    for text in (
        "Create user",
        "Create team",
        "Bind role",
        "Delete binding",
        "Remove",
        "Add to",
        "Create service account",
        'method="post" action="/ui/access',
    ):
        assert text not in r.text, text
    for path, data in [
        ("/ui/access/users", {"name": "eve"}),
        ("/ui/access/teams", {"name": "evil"}),
        ("/ui/access/teams/ml/members", {"user": "vic"}),
        ("/ui/access/service-accounts", {"name": "bot"}),
        ("/ui/access/bindings", {"role": "viewer", "subject_kind": "user", "subject": "vic"}),
        ("/ui/access/bindings/1/delete", {}),
    ]:
        assert (await post(viewer, path, **data)).status_code == 403, path
    assert [u["name"] for u in (await server.admin.get("/users")).json()] == ["admin", "vic"]

    await user(server, "wanda", "viewer", ("workspace", "prod"))
    scoped = await sign_in(server, "wanda")
    assert (await scoped.get("/ui/access")).status_code == 403, "users.read is a tenant permission"


async def test_posts_need_the_csrf_token(server: Server) -> None:
    client = await signed_in(server)
    for path in (
        "/ui/access/users",
        "/ui/access/teams",
        "/ui/access/bindings",
        "/ui/access/bindings/1/delete",
        "/ui/access/service-accounts",
        "/ui/access/teams/ml/members",
        "/ui/access/teams/ml/members/admin/remove",
    ):
        r = await client.post(
            path,
            data={
                "name": "zed",
                "role": "admin",
                "subject_kind": "user",
                "subject": "zed",
                "user": "admin",
            },
        )
        assert r.status_code == 403 and "security token" in r.text, path
    assert [u["name"] for u in (await server.admin.get("/users")).json()] == ["admin"]
