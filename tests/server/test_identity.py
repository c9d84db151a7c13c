"""Identity: bootstrap, bearer tokens, password login, self-service, roles and team bindings."""

from __future__ import annotations

import os
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from ironplane.api.common import API_PREFIX
from ironplane.core.files import write_private
from ironplane.server.app import create_app
from ironplane.server.db.tables import ApiTokenRow, UserRow
from tests.server.conftest import Server, make_settings
from tests.server.helpers import (
    CLUSTER,
    WORKSPACE,
    apply_yaml,
    bind,
    error_of,
    login,
    make_user,
)

pytestmark = pytest.mark.anyio

PUBLIC = {("GET", f"{API_PREFIX}/health"), ("POST", f"{API_PREFIX}/auth/login")}
"""The only API routes that answer without a token (besides FastAPI's OpenAPI and docs pages)."""
SERVICE = "kind: Service\nname: web\nworkspace: {ws}\nimage: nginx:1.27\nports: [{{port: 80}}]\n"


def assert_unauthenticated(r: httpx.Response) -> None:
    assert r.status_code == 401, (r.request.method, r.request.url, r.text)
    assert error_of(r)["code"] == "unauthenticated"
    assert r.headers.get("www-authenticate") == "Bearer"


async def token_rows(server: Server) -> list[dict[str, Any]]:
    async with server.app.state.services.db.session() as s:
        result = await s.execute(text("SELECT * FROM api_tokens"))
        return [dict(row._mapping) for row in result]


async def new_token(client: httpx.AsyncClient, name: str = "t", **body: Any) -> dict[str, Any]:
    r = await client.post("/tokens", json={"name": name, **body})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


# --- bootstrap ----------------------------------------------------------------------------------


async def test_bootstrap_makes_one_admin_once(server: Server) -> None:
    admin = server.admin
    r = await admin.get("/users")
    assert r.status_code == 200, r.text
    assert [u["name"] for u in r.json()] == ["admin"]
    r = await admin.get("/role-bindings")
    [binding] = r.json()
    assert (binding["role"], binding["subject_kind"], binding["subject"]) == (
        "admin",
        "user",
        "admin",
    )
    assert binding["scope_kind"] == "tenant"
    r = await admin.get("/auth/whoami")
    assert r.json()["name"] == "admin" and r.json()["subject_kind"] == "user"
    [token] = (await admin.get("/tokens")).json()
    assert token["name"] == "bootstrap" and token["subject"] == "user:admin"
    assert token["expires_at"] is None
    events = (await admin.get("/audit")).json()
    assert [e["action"] for e in events] == ["bootstrap"]
    assert server.admin_token not in str(events)

    # A second start on the same database: no new admin and no token.
    app2 = create_app(server.settings, announce_token=False)
    async with app2.router.lifespan_context(app2):
        assert app2.state.bootstrap_token is None
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app2),
            base_url="http://testserver" + API_PREFIX,
            headers={"Authorization": f"Bearer {server.admin_token}"},
        ) as again:
            r = await again.get("/users")
            assert r.status_code == 200, r.text
            assert [u["name"] for u in r.json()] == ["admin"]
            assert len((await again.get("/tokens?all=true")).json()) == 1
            assert len((await again.get("/role-bindings")).json()) == 1


async def test_bootstrap_token_goes_to_a_private_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "secrets" / "admin.token"
    settings = make_settings(tmp_path, None, bootstrap_token_file=target, admin_name="root")
    app = create_app(settings)  # announces, as the real server does
    async with app.router.lifespan_context(app):
        token = app.state.bootstrap_token
    assert token and target.read_text() == token + "\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    out = capsys.readouterr()
    assert str(target) in out.out and "'root'" in out.out
    assert token not in out.out + out.err


async def test_bootstrap_token_is_printed_once_without_a_token_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, None)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        token = app.state.bootstrap_token
    out = capsys.readouterr().out
    assert token and f"    {token}\n" in out and "shown only this once" in out
    again = create_app(settings)  # a restart: the admin exists, nothing is printed
    async with again.router.lifespan_context(again):
        assert again.state.bootstrap_token is None
    assert token not in capsys.readouterr().out


def test_write_private_never_writes_through_a_planted_or_stale_file(tmp_path: Path) -> None:
    target = tmp_path / "admin.token"
    stale = tmp_path / ".admin.token.tmp"
    stale.write_text("left over by a crash, or planted\n")
    stale.chmod(0o666)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("untouched\n")
    planted = tmp_path / ".admin.token.planted.tmp"
    planted.symlink_to(elsewhere)
    write_private(target, "first\n")
    write_private(target, "second\n")
    assert target.read_text() == "second\n" and not target.is_symlink()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    # The temporary file has a fresh random name: nothing predictable is opened or followed.
    assert elsewhere.read_text() == "untouched\n"
    assert stale.read_text() == "left over by a crash, or planted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".admin.token.planted.tmp",
        ".admin.token.tmp",
        "admin.token",
        "elsewhere",
    ]


# --- unauthenticated requests -------------------------------------------------------------------


def _api_routes(server: Server) -> list[tuple[str, str]]:
    """Every (method, concrete path) of the OpenAPI document, path parameters filled in."""
    out: list[tuple[str, str]] = []
    for template, operations in server.app.openapi()["paths"].items():
        path = re.sub(r"\{(binding_id|number)\}", "1", template)
        path = re.sub(r"\{[a-z_]+\}", "abc", path)
        out.extend((method.upper(), path) for method in operations)
    return out


async def test_only_public_endpoints_answer_without_a_token(server: Server) -> None:
    anonymous = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.app), base_url="http://testserver"
    )
    async with anonymous:
        routes = _api_routes(server)
        assert set(routes) >= PUBLIC
        checked = 0
        for method, path in routes:
            if (method, path) in PUBLIC:
                continue
            kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            assert_unauthenticated(await anonymous.request(method, path, **kwargs))
            for header in ("Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", "Token abc"):
                r = await anonymous.request(method, path, headers={"Authorization": header})
                assert_unauthenticated(r)
            checked += 1
        assert checked >= 40

        assert (await anonymous.get(f"{API_PREFIX}/health")).status_code == 200
        r = await anonymous.get(f"{API_PREFIX}/openapi.json")
        assert r.status_code == 200 and "paths" in r.json()
        r = await anonymous.post(
            f"{API_PREFIX}/auth/login", json={"username": "admin", "password": "wrong-password"}
        )
        assert_unauthenticated(r)


async def test_bad_expired_and_revoked_tokens_are_refused(server: Server) -> None:
    admin = server.admin
    good = server.admin_token
    _, token_id, secret = good.split("_", 2)
    other = await new_token(admin, "other")
    other_secret = other["secret"].split("_", 2)[2]
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for bad in (
        "garbage",
        "ipt_",
        "ipt__",
        f"ipt_{token_id}",
        f"ipt_{token_id}_",
        f"ipt_{token_id}_{flipped}",  # the right id, a wrong secret
        f"ipt_{token_id}_{other_secret}",  # the right id, another token's secret
        f"ipt_{token_id}_{secret}x",
        f"ipt_{token_id.upper()}_{secret}",
        f"ipt_{'0' * 16}_{secret}",
        "ipt_" + "a" * 500,
        good[:-1],
        good + " extra",
        secret,
    ):
        assert_unauthenticated(await server.client(bad).get("/auth/whoami"))
    # The scheme is case-insensitive; the token is not.
    r = await server.client().get("/auth/whoami", headers={"Authorization": f"bearer {good}"})
    assert r.status_code == 200, r.text

    # Expired: still in the table, its expiry in the past.
    expiring = await new_token(admin, "expiring", expires_in_days=1)
    expires = datetime.fromisoformat(expiring["token"]["expires_at"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(days=1)
    client = server.client(expiring["secret"])
    assert (await client.get("/auth/whoami")).status_code == 200
    async with server.app.state.services.db.session() as s:
        row = await s.get(ApiTokenRow, expiring["token"]["id"])
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert_unauthenticated(await client.get("/auth/whoami"))
    assert_unauthenticated(await client.get("/users"))

    # Revoked.
    revoked = await new_token(admin, "revoked")
    client = server.client(revoked["secret"])
    assert (await client.get("/auth/whoami")).status_code == 200
    r = await admin.delete(f"/tokens/{revoked['token']['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None
    assert_unauthenticated(await client.get("/auth/whoami"))
    listed = {t["id"]: t for t in (await admin.get("/tokens")).json()}
    assert listed[revoked["token"]["id"]]["revoked_at"] is not None
    # The admin's own token is untouched by all this.
    assert (await admin.get("/auth/whoami")).status_code == 200


async def test_tokens_are_stored_hashed(server: Server) -> None:
    admin = server.admin
    r = await apply_yaml(admin, CLUSTER)
    secrets = [server.admin_token, r.json()["changes"][0]["agent_token"]["secret"]]
    secrets.append((await new_token(admin, "api"))["secret"])
    r = await admin.post("/service-accounts", json={"name": "ci"})
    assert r.status_code == 201, r.text
    secrets.append((await new_token(admin, "ci", service_account="ci"))["secret"])
    r = await admin.post("/clusters/oke-prod/agent-token", params={"revoke_old": "true"})
    assert r.status_code == 201, r.text
    secrets.append(r.json()["secret"])
    secrets.append(await make_user(server, "alice"))

    rows = await token_rows(server)
    assert len(rows) == len(secrets)
    dump = repr(rows)
    for secret in secrets:
        assert secret.startswith("ipt_")
        random_part = secret.split("_", 2)[2]
        assert len(random_part) >= 40
        assert secret not in dump
        assert random_part not in dump
        assert random_part[:16] not in dump
    for row in rows:
        assert len(row["secret_hash"]) == 64 and row["secret_hash"] not in {*secrets}
    # Each secret still authenticates (the second agent token revoked the first one).
    for secret in (secrets[0], secrets[2], secrets[3], secrets[5]):
        assert (await server.client(secret).get("/auth/whoami")).status_code == 200
    assert_unauthenticated(await server.client(secrets[1]).get("/clusters/oke-prod/desired"))
    r = await server.client(secrets[4]).get("/clusters/oke-prod/desired")
    assert r.status_code == 200, r.text


# --- passwords ----------------------------------------------------------------------------------


async def test_password_login_and_deactivation(server: Server) -> None:
    admin = server.admin
    password = "Tr0ub4dor&3-horse"
    r = await admin.post("/users", json={"name": "alice", "email": "a@x.io", "password": password})
    assert r.status_code == 201, r.text
    assert r.json()["has_password"] is True
    r = await admin.post("/users", json={"name": "nopass"})
    assert r.status_code == 201 and r.json()["has_password"] is False
    async with server.app.state.services.db.session() as s:
        hashes = {u.name: u.password_hash for u in await s.scalars(select(UserRow))}
    assert hashes["alice"] is not None and hashes["alice"].startswith("$argon2id$")
    assert password not in hashes["alice"]
    assert hashes["nopass"] is None and hashes["admin"] is None

    anonymous = server.client()
    r = await anonymous.post("/auth/login", json={"username": "alice", "password": password})
    assert r.status_code == 200, r.text
    session = r.json()["token"]
    expires = datetime.fromisoformat(r.json()["expires_at"])
    ttl = timedelta(hours=server.settings.session_ttl_hours)
    assert ttl - timedelta(minutes=1) < expires - datetime.now(UTC) <= ttl
    me = server.client(session)
    r = await me.get("/auth/whoami")
    assert r.status_code == 200 and r.json()["name"] == "alice", r.text

    wrong = [
        ("alice", password + "x"),
        ("alice", password.upper()),
        ("alice", ""),
        ("nobody", password),
        ("nopass", password),
        ("admin", ""),
    ]
    messages = set()
    for username, attempt in wrong:
        r = await anonymous.post("/auth/login", json={"username": username, "password": attempt})
        assert_unauthenticated(r)
        messages.add(error_of(r)["message"])
    assert len(messages) == 1, "a wrong password and an unknown user must read the same"

    events = (await admin.get("/audit", params={"limit": 1000})).json()
    logins = [e for e in events if e["action"] == "auth.login"]
    denied = [e for e in logins if e["outcome"] == "denied"]
    assert len(denied) == len(wrong)
    # A name that is no user's is not recorded: it may be a password typed in the wrong field.
    assert {e["target"] for e in denied} == {"user/alice", "user/?", "user/nopass", "user/admin"}
    assert all(e["actor"] == "system" and e["source_ip"] == "10.1.2.3" for e in denied)
    [ok] = [e for e in logins if e["outcome"] == "ok"]
    assert (ok["actor"], ok["target"], ok["source_ip"]) == ("user:alice", "user/alice", "10.1.2.3")
    assert password not in str(events)

    # Deactivation: every token of the user stops working, and so does login.
    api = (await new_token(me, "laptop"))["secret"]
    assert (await server.client(api).get("/auth/whoami")).status_code == 200
    r = await admin.patch("/users/alice", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False, r.text
    assert_unauthenticated(await me.get("/auth/whoami"))
    assert_unauthenticated(await server.client(api).get("/auth/whoami"))
    r = await anonymous.post("/auth/login", json={"username": "alice", "password": password})
    assert_unauthenticated(r)
    r = await admin.patch("/users/alice", json={"active": True})
    assert r.status_code == 200, r.text
    assert (await server.client(api).get("/auth/whoami")).status_code == 200

    # Nobody deactivates or deletes themselves.
    r = await admin.patch("/users/admin", json={"active": False})
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"
    r = await admin.delete("/users/admin")
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"


async def test_users_manage_only_their_own_record(server: Server) -> None:
    alice = server.client(await make_user(server, "alice", password="alice-password-1"))
    r = await server.admin.post("/users", json={"name": "bob", "password": "bob-password-1"})
    assert r.status_code == 201

    r = await alice.get("/users/alice")
    assert r.status_code == 200 and r.json()["name"] == "alice", r.text
    for method, url, body in (
        ("GET", "/users/bob", None),
        ("GET", "/users", None),
        ("PATCH", "/users/bob", {"password": "hijacked-password"}),
        ("PATCH", "/users/bob", {"email": "evil@x.io"}),
        ("DELETE", "/users/bob", None),
        ("PATCH", "/users/alice", {"active": False}),
        ("PATCH", "/users/alice", {"active": True}),
        ("PATCH", "/users/alice", {"password": "alice-password-2", "active": True}),
        ("DELETE", "/users/alice", None),
        ("POST", "/users", {"name": "carol"}),
    ):
        r = await alice.request(method, url, json=body)
        assert r.status_code == 403, (method, url, r.text)
        assert error_of(r)["code"] == "forbidden"
    # Bob is unchanged, alice's password too (the refused PATCH changed nothing).
    await login(server, "bob", "bob-password-1")
    await login(server, "alice", "alice-password-1")

    r = await alice.patch(
        "/users/alice",
        json={
            "password": "alice-password-2",
            "current_password": "alice-password-1",
            "email": "a@x.io",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "a@x.io" and r.json()["active"] is True
    r = await server.client().post(
        "/auth/login", json={"username": "alice", "password": "alice-password-1"}
    )
    assert_unauthenticated(r)
    await login(server, "alice", "alice-password-2")
    r = await alice.patch("/users/alice", json={"password": "short"})
    assert r.status_code == 422 and error_of(r)["code"] == "invalid"


# --- tokens -------------------------------------------------------------------------------------


async def test_token_lists_and_revocation(server: Server) -> None:
    admin = server.admin
    alice = server.client(await make_user(server, "alice"))
    bob = server.client(await make_user(server, "bob"))
    a1, a2 = await new_token(alice, "a1"), await new_token(alice, "a2")
    b1 = await new_token(bob, "b1")

    mine = (await alice.get("/tokens")).json()
    assert sorted(t["name"] for t in mine) == ["a1", "a2", "login session"]
    assert {t["subject"] for t in mine} == {"user:alice"}
    r = await alice.get("/tokens", params={"all": "true"})
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"

    # Someone else's token is invisible: 404, and it keeps working.
    for token_id in (b1["token"]["id"], "0123456789abcdef"):
        r = await alice.delete(f"/tokens/{token_id}")
        assert r.status_code == 404 and error_of(r)["code"] == "not_found", r.text
    bob_api = server.client(b1["secret"])
    assert (await bob_api.get("/auth/whoami")).json()["name"] == "bob"

    r = await alice.delete(f"/tokens/{a1['token']['id']}")
    assert r.status_code == 200 and r.json()["revoked_at"], r.text
    assert_unauthenticated(await server.client(a1["secret"]).get("/auth/whoami"))
    assert (await server.client(a2["secret"]).get("/auth/whoami")).status_code == 200

    everyone = (await admin.get("/tokens", params={"all": "true"})).json()
    by_name = {t["name"]: t for t in everyone}
    assert {"bootstrap", "a1", "a2", "b1"} <= set(by_name)
    assert by_name["b1"]["subject"] == "user:bob"
    assert by_name["a1"]["revoked_at"] is not None and by_name["a2"]["revoked_at"] is None
    assert [t["name"] for t in (await admin.get("/tokens")).json()] == ["bootstrap"]
    r = await admin.delete(f"/tokens/{b1['token']['id']}")
    assert r.status_code == 200, r.text
    assert_unauthenticated(await bob_api.get("/auth/whoami"))
    actions = [e["action"] for e in (await admin.get("/audit")).json()]
    assert actions.count("token.revoke") == 2 and actions.count("token.create") == 3


async def test_service_account_tokens_carry_its_bindings(server: Server) -> None:
    admin = server.admin
    r = await admin.post("/service-accounts", json={"name": "ci", "description": "pipelines"})
    assert r.status_code == 201, r.text
    created = await new_token(admin, "ci-token", service_account="ci", expires_in_days=None)
    assert created["token"]["subject"] == "service_account:ci"
    assert created["token"]["expires_at"] is None
    ci = server.client(created["secret"])

    r = await ci.get("/auth/whoami")
    assert r.status_code == 200, r.text
    assert (r.json()["subject_kind"], r.json()["name"], r.json()["bindings"]) == (
        "service_account",
        "ci",
        [],
    )
    r = await ci.get("/users")
    assert r.status_code == 403, r.text

    await bind(server, "viewer", "ci", subject_kind="service_account")
    r = await ci.get("/users")
    assert r.status_code == 200 and [u["name"] for u in r.json()] == ["admin"], r.text
    r = await ci.post("/users", json={"name": "mallory"})
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden", r.text
    assert [b["role"] for b in (await ci.get("/auth/whoami")).json()["bindings"]] == ["viewer"]

    # A service account mints no tokens (for itself or others); a plain user cannot mint one.
    r = await ci.post("/tokens", json={"name": "more"})
    assert r.status_code == 403, r.text
    r = await ci.post("/tokens", json={"name": "more", "service_account": "ci"})
    assert r.status_code == 403, r.text
    alice = server.client(await make_user(server, "alice", role="viewer"))
    r = await alice.post("/tokens", json={"name": "steal", "service_account": "ci"})
    assert r.status_code == 403 and "service_accounts.write" in error_of(r)["message"]
    r = await admin.post("/tokens", json={"name": "x", "service_account": "nobody"})
    assert r.status_code == 404, r.text

    # Its token dies with it.
    r = await admin.delete("/service-accounts/ci")
    assert r.status_code == 200, r.text
    assert_unauthenticated(await ci.get("/auth/whoami"))


# --- roles and bindings -------------------------------------------------------------------------


async def test_custom_roles(server: Server) -> None:
    admin = server.admin
    r = await admin.post(
        "/roles", json={"name": "user-reader", "permissions": ["users.read", "users.read"]}
    )
    assert r.status_code == 201, r.text
    assert r.json()["permissions"] == ["users.read"] and r.json()["builtin"] is False
    r = await admin.post("/roles", json={"name": "user-reader", "permissions": ["teams.read"]})
    assert r.status_code == 409 and error_of(r)["code"] == "conflict"

    carol = server.client(await make_user(server, "carol", role="user-reader"))
    r = await carol.get("/users")
    assert r.status_code == 200 and {u["name"] for u in r.json()} == {"admin", "carol"}
    for method, url, body in (
        ("GET", "/teams", None),
        ("GET", "/roles", None),
        ("POST", "/users", {"name": "dave"}),
        ("GET", "/audit", None),
    ):
        r = await carol.request(method, url, json=body)
        assert r.status_code == 403, (url, r.text)
        assert error_of(r)["code"] == "forbidden"

    r = await admin.post(
        "/roles", json={"name": "typo", "permissions": ["users.read", "user.write"]}
    )
    assert r.status_code == 400, r.text
    err = error_of(r)
    assert err["code"] == "invalid"
    assert "'user.write'" in err["message"] and "did you mean 'users.write'" in err["message"]
    r = await admin.post("/roles", json={"name": "empty", "permissions": []})
    assert r.status_code == 422, r.text
    names = [x["name"] for x in (await admin.get("/roles")).json()]
    assert "typo" not in names and "empty" not in names
    assert names[:3] == ["admin", "editor", "viewer"]

    # A bound role cannot go; built-in roles never can.
    r = await admin.delete("/roles/user-reader")
    assert r.status_code == 409 and error_of(r)["code"] == "conflict", r.text
    assert "bound" in error_of(r)["message"]
    for builtin in ("admin", "editor", "viewer"):
        r = await admin.delete(f"/roles/{builtin}")
        assert r.status_code == 409 and error_of(r)["code"] == "conflict", r.text
    r = await admin.delete("/roles/nonexistent")
    assert r.status_code == 404, r.text
    [binding] = [b for b in (await admin.get("/role-bindings")).json() if b["subject"] == "carol"]
    r = await admin.delete(f"/role-bindings/{binding['id']}")
    assert r.status_code == 200, r.text
    assert (await carol.get("/users")).status_code == 403
    r = await admin.delete("/roles/user-reader")
    assert r.status_code == 200, r.text
    r = await admin.post(
        "/role-bindings", json={"role": "user-reader", "subject_kind": "user", "subject": "carol"}
    )
    assert r.status_code == 404, r.text


async def test_team_bindings_grant_their_members(server: Server) -> None:
    admin = server.admin
    staging = "kind: Workspace\nname: staging\ncluster: oke-prod\n"
    await apply_yaml(admin, CLUSTER, WORKSPACE, staging)
    dave = server.client(await make_user(server, "dave"))
    erin = server.client(await make_user(server, "erin"))
    r = await admin.post("/teams", json={"name": "ml", "members": ["dave"]})
    assert r.status_code == 201 and r.json()["members"] == ["dave"], r.text
    await bind(server, "editor", "ml", subject_kind="team", scope=("workspace", "prod"))

    who = (await dave.get("/auth/whoami")).json()
    assert [(b["role"], b["subject"], b["scope"]) for b in who["bindings"]] == [
        ("editor", "ml", "prod")
    ]
    r = await apply_yaml(dave, SERVICE.format(ws="prod"))
    assert [(c["kind"], c["action"]) for c in r.json()["changes"]] == [("Service", "create")]
    assert (await dave.get("/workspaces/prod/apps/web")).status_code == 200
    # Only on that workspace.
    r = await apply_yaml(dave, SERVICE.format(ws="staging"), expect=None)
    assert 400 <= r.status_code < 500, r.text
    r = await dave.get("/workspaces/staging/apps")
    assert r.status_code == 404, r.text
    r = await dave.get("/users")
    assert r.status_code == 403, r.text

    # A non-member has nothing there: the workspace does not even show.
    r = await apply_yaml(erin, SERVICE.format(ws="prod").replace("web", "web2"), expect=None)
    assert 400 <= r.status_code < 500, r.text
    assert (await erin.get("/workspaces/prod/apps")).status_code == 404
    # With viewer there she sees it, and still cannot write.
    await bind(server, "viewer", "erin", scope=("workspace", "prod"))
    r = await apply_yaml(erin, SERVICE.format(ws="prod").replace("web", "web2"), expect=403)
    assert "apps.write" in error_of(r)["message"]
    r = await erin.delete("/workspaces/prod/apps/web")
    assert r.status_code == 403, r.text
    assert [a["name"] for a in (await erin.get("/workspaces/prod/apps")).json()] == ["web"]

    # Leaving the team takes the grant away at once.
    r = await admin.delete("/teams/ml/members/dave")
    assert r.status_code == 200 and r.json()["members"] == [], r.text
    r = await apply_yaml(dave, SERVICE.format(ws="prod").replace("web", "web3"), expect=None)
    assert 400 <= r.status_code < 500, r.text
    r = await admin.get("/workspaces/prod/apps")
    assert [a["name"] for a in r.json()] == ["web"]
