"""Passwords and login sessions: the current password, revoking sessions, logout, login audit."""

from __future__ import annotations

import httpx
import pytest

from tests.server.conftest import Server
from tests.server.helpers import (
    CLUSTER,
    DEFAULT_PASSWORD,
    apply_yaml,
    error_of,
    login,
    make_user,
)

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "a-brand-new-password-42"


async def whoami(server: Server, token: str) -> int:
    return (await server.client(token).get("/auth/whoami")).status_code


async def api_token(client: httpx.AsyncClient, name: str = "laptop") -> str:
    r = await client.post("/tokens", json={"name": name})
    assert r.status_code == 201, r.text
    secret: str = r.json()["secret"]
    return secret


async def test_changing_your_own_password_needs_the_current_one(server: Server) -> None:
    alice = server.client(await make_user(server, "alice"))
    for body in (
        {"password": NEW_PASSWORD},
        {"password": NEW_PASSWORD, "current_password": "not-the-password"},
        {"password": NEW_PASSWORD, "current_password": ""},
    ):
        r = await alice.patch("/users/alice", json=body)
        assert r.status_code == 403, r.text
        assert error_of(r)["code"] == "forbidden"
        assert "current_password" in error_of(r)["message"]
    await login(server, "alice", DEFAULT_PASSWORD)  # unchanged
    r = await alice.patch(
        "/users/alice", json={"password": NEW_PASSWORD, "current_password": DEFAULT_PASSWORD}
    )
    assert r.status_code == 200, r.text
    await login(server, "alice", NEW_PASSWORD)
    # The email alone needs no password.
    r = await alice.patch("/users/alice", json={"email": "alice@example.com"})
    assert r.status_code == 200, r.text

    # Who has no password yet (the bootstrap admin) sets one without.
    r = await server.admin.patch("/users/admin", json={"password": NEW_PASSWORD})
    assert r.status_code == 200 and r.json()["has_password"] is True, r.text
    r = await server.admin.patch("/users/admin", json={"password": "yet-another-password"})
    assert r.status_code == 403, r.text


async def test_an_admin_resets_a_password_without_the_old_one(server: Server) -> None:
    session = await make_user(server, "bob")
    bob = server.client(session)
    token = await api_token(bob)
    r = await server.admin.patch("/users/bob", json={"password": NEW_PASSWORD})
    assert r.status_code == 200, r.text
    await login(server, "bob", NEW_PASSWORD)
    # The reset ended bob's login session; his API token stays.
    assert await whoami(server, session) == 401
    assert await whoami(server, token) == 200
    assert await whoami(server, server.admin_token) == 200
    [event] = [e for e in (await server.admin.get("/audit")).json() if e["action"] == "user.update"]
    assert event["details"] == {"fields": ["password"], "sessions_revoked": 1}
    assert NEW_PASSWORD not in str(event)


async def test_a_new_password_ends_the_other_sessions_but_the_callers(server: Server) -> None:
    here = await make_user(server, "carol")
    there = await login(server, "carol")
    token = await api_token(server.client(here))
    r = await server.client(here).patch(
        "/users/carol", json={"password": NEW_PASSWORD, "current_password": DEFAULT_PASSWORD}
    )
    assert r.status_code == 200, r.text
    assert await whoami(server, here) == 200
    assert await whoami(server, there) == 401
    assert await whoami(server, token) == 200
    # Changing the email ends nothing.
    other = await login(server, "carol", NEW_PASSWORD)
    r = await server.client(here).patch("/users/carol", json={"email": "c@example.com"})
    assert r.status_code == 200, r.text
    assert await whoami(server, other) == 200


async def test_sessions_are_listed_and_can_be_revoked(server: Server) -> None:
    admin = server.admin
    dave_session = await make_user(server, "dave")
    erin_session = await make_user(server, "erin")
    dave = server.client(dave_session)

    [listed] = (await dave.get("/tokens")).json()
    assert (listed["name"], listed["subject"]) == ("login session", "user:dave")
    assert listed["expires_at"] is not None and listed["revoked_at"] is None
    everyone = (await admin.get("/tokens", params={"all": "true"})).json()
    sessions = {t["subject"]: t for t in everyone if t["name"] == "login session"}
    assert set(sessions) == {"user:dave", "user:erin"}

    # The admin ends erin's session; dave ends his own from another one.
    r = await admin.delete(f"/tokens/{sessions['user:erin']['id']}")
    assert r.status_code == 200 and r.json()["revoked_at"], r.text
    assert await whoami(server, erin_session) == 401
    second = server.client(await login(server, "dave"))
    r = await second.delete(f"/tokens/{listed['id']}")
    assert r.status_code == 200, r.text
    assert await whoami(server, dave_session) == 401
    assert (await second.get("/auth/whoami")).status_code == 200
    # Nobody else's session is theirs to see or end.
    r = await second.delete(f"/tokens/{sessions['user:erin']['id']}")
    assert r.status_code == 404, r.text


async def test_logout_revokes_the_token_of_the_call(server: Server) -> None:
    admin = server.admin
    session = await make_user(server, "frank")
    other = await login(server, "frank")
    frank = server.client(session)
    r = await frank.post("/auth/logout")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["subject"] == "user:frank" and body["name"] == "login session"
    assert body["revoked_at"] is not None
    assert await whoami(server, session) == 401
    r = await frank.post("/auth/logout")
    assert r.status_code == 401 and error_of(r)["code"] == "unauthenticated"
    assert await whoami(server, other) == 200  # only the session used

    # Any user or service-account token logs out the same way; an agent's does not.
    token = await api_token(server.client(other))
    assert (await server.client(token).post("/auth/logout")).status_code == 200
    assert await whoami(server, token) == 401
    assert (await admin.post("/service-accounts", json={"name": "ci"})).status_code == 201
    r = await admin.post("/tokens", json={"name": "ci", "service_account": "ci"})
    ci = r.json()["secret"]
    r = await server.client(ci).post("/auth/logout")
    assert r.status_code == 200 and r.json()["subject"] == "service_account:ci", r.text
    assert await whoami(server, ci) == 401
    r = await apply_yaml(admin, CLUSTER)
    agent = server.client(r.json()["changes"][0]["agent_token"]["secret"])
    r = await agent.post("/auth/logout")
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden", r.text
    assert (await agent.get("/clusters/oke-prod/desired")).status_code == 200

    events = (await admin.get("/audit")).json()
    logouts = [(e["actor"], e["target"]) for e in events if e["action"] == "auth.logout"]
    assert ("user:frank", f"token/{body['id']}") in logouts
    assert len(logouts) == 3


async def test_logins_are_audited_without_what_was_typed_as_the_name(server: Server) -> None:
    await make_user(server, "grace")
    anonymous = server.client()
    typed_password = "Grace-P4ssw0rd-typed-as-the-name"
    for username, password in (
        ("grace", "wrong-password"),
        (typed_password, DEFAULT_PASSWORD),
        ("nobody", DEFAULT_PASSWORD),
    ):
        r = await anonymous.post("/auth/login", json={"username": username, "password": password})
        assert r.status_code == 401
    events = (await server.admin.get("/audit")).json()
    logins = [
        (e["actor"], e["target"], e["outcome"], e["source_ip"])
        for e in events
        if e["action"] == "auth.login"
    ]
    assert logins == [
        ("system", "user/?", "denied", "10.1.2.3"),
        ("system", "user/?", "denied", "10.1.2.3"),
        ("system", "user/grace", "denied", "10.1.2.3"),
        ("user:grace", "user/grace", "ok", "10.1.2.3"),  # make_user's login
    ]
    assert typed_password not in str(events)
    assert "wrong-password" not in str(events)
