"""The tokens page: list, create (the secret shown exactly once), revoke."""

from __future__ import annotations

import re

import pytest

from tests.server.conftest import Server
from tests.ui.agent_fakes import sign_in, user
from tests.ui.conftest import csrf_of, signed_in

pytestmark = pytest.mark.anyio

SECRET = re.compile(r"ipt_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}")


async def test_create_shows_the_secret_once_and_it_works(server: Server) -> None:
    client = await signed_in(server)
    page = await client.get("/ui/tokens")
    assert (
        page.status_code == 200 and "login session" in page.text and "(this session)" in page.text
    )
    csrf = csrf_of(page.text)
    r = await client.post(
        "/ui/tokens", data={"csrf": csrf, "name": "laptop", "expires_in_days": "7"}
    )
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    secrets = SECRET.findall(r.text)
    assert len(secrets) == 1, "the secret is in the answer exactly once"
    secret = secrets[0]
    assert r.text.count(secret) == 1
    assert "shown only this once" in r.text and 'for="new-token"' in r.text

    # it authenticates, and it is listed, but never shown again
    api = server.client(secret)
    assert (await api.get("/tokens")).status_code == 200
    listing = await client.get("/ui/tokens")
    assert "laptop" in listing.text and secret not in listing.text
    assert not SECRET.findall(listing.text)
    token_id = secret.split("_")[1]
    assert f"<code>{token_id}</code>" in listing.text
    everyone = await client.get("/ui/tokens?all=true")
    assert secret not in everyone.text and "<strong>Everyone's tokens</strong>" in everyone.text

    # revoke it
    r = await client.post(f"/ui/tokens/{token_id}/revoke", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/ui/tokens?done=revoked"
    assert (await api.get("/tokens")).status_code == 401
    assert "Token revoked" in (await client.get(r.headers["location"])).text


async def test_never_expiring_and_service_account_tokens(server: Server) -> None:
    assert (await server.admin.post("/service-accounts", json={"name": "ci"})).status_code == 201
    client = await signed_in(server)
    csrf = csrf_of((await client.get("/ui/tokens")).text)
    assert 'option value="ci"' in (await client.get("/ui/tokens")).text
    r = await client.post(
        "/ui/tokens",
        data={"csrf": csrf, "name": "deploy", "never": "on", "service_account": "ci"},
    )
    assert r.status_code == 201, r.text
    assert "created for service_account:ci" in r.text
    tokens = (await server.admin.get("/tokens", params={"all": "true"})).json()
    made = next(t for t in tokens if t["name"] == "deploy")
    assert made["subject"] == "service_account:ci" and made["expires_at"] is None
    r = await client.post("/ui/tokens", data={"csrf": csrf, "name": "", "expires_in_days": "7"})
    assert r.status_code == 400 and 'role="alert"' in r.text and not SECRET.findall(r.text)


async def test_a_viewer_manages_only_their_own_tokens(server: Server) -> None:
    await user(server, "vic", "viewer", None)
    assert (await server.admin.post("/service-accounts", json={"name": "ci"})).status_code == 201
    admin_token = server.admin_token.split("_")[1]
    viewer = await sign_in(server, "vic")
    page = await viewer.get("/ui/tokens")
    assert page.status_code == 200
    assert admin_token not in page.text and "user:admin" not in page.text
    assert "Everyone" not in page.text and 'name="service_account"' not in page.text
    assert "Revoke" in page.text, "their own login session"
    csrf = csrf_of(page.text)
    assert (await viewer.get("/ui/tokens?all=true")).status_code == 403
    r = await viewer.post(f"/ui/tokens/{admin_token}/revoke", data={"csrf": csrf})
    assert r.status_code == 404
    assert (await server.admin.get("/tokens")).status_code == 200, "the admin token still works"
    r = await viewer.post("/ui/tokens", data={"csrf": csrf, "name": "sa", "service_account": "ci"})
    assert r.status_code == 403 and not SECRET.findall(r.text)
    r = await viewer.post("/ui/tokens", data={"csrf": csrf, "name": "mine"})
    assert r.status_code == 201 and len(SECRET.findall(r.text)) == 1


async def test_posts_need_the_csrf_token(server: Server) -> None:
    client = await signed_in(server)
    r = await client.post("/ui/tokens", data={"name": "x"})
    assert r.status_code == 403 and not SECRET.findall(r.text)
    admin_token = server.admin_token.split("_")[1]
    r = await client.post(f"/ui/tokens/{admin_token}/revoke")
    assert r.status_code == 403
    assert (await server.admin.get("/tokens")).status_code == 200
