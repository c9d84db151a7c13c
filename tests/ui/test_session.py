"""Signing in and out of the UI, the session cookie, CSRF and error pages."""

from __future__ import annotations

import pytest

from tests.server.conftest import Server
from tests.ui.conftest import browser, csrf_of, signed_in

pytestmark = pytest.mark.anyio


async def test_pages_need_a_session_and_redirect_to_login(server: Server) -> None:
    client = browser(server)
    r = await client.get("/ui/?x=1")
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login?next=/ui/%3Fx%3D1"
    r = await client.get("/ui/", headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/ui/login")
    r = await client.get("/")
    assert r.status_code == 307 and r.headers["location"] == "/ui/"


async def test_token_login_sets_a_session_cookie_not_the_token(server: Server) -> None:
    client = browser(server)
    r = await client.post("/ui/login", data={"token": server.admin_token, "next": "/ui/clusters"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/clusters"
    cookie = r.headers["set-cookie"]
    assert "ironplane_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert server.admin_token not in cookie
    r = await client.get("/ui/")
    assert r.status_code == 200
    assert "Overview" in r.text and "admin" in r.text


async def test_bad_credentials_and_open_redirects(server: Server) -> None:
    client = browser(server)
    r = await client.post("/ui/login", data={"token": "ipt_nope_nope"})
    assert r.status_code == 401 and "not valid" in r.text
    r = await client.post("/ui/login", data={"username": "admin", "password": "wrong"})
    assert r.status_code == 401 and "wrong user name or password" in r.text
    r = await client.post(
        "/ui/login", data={"token": server.admin_token, "next": "https://evil.example/"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/"
    r = await client.get("/ui/login?next=//evil.example/x")
    assert 'value="/ui/"' in r.text


async def test_password_login(server: Server) -> None:
    r = await server.admin.post("/users", json={"name": "ana", "password": "correct horse battery"})
    assert r.status_code == 201, r.text
    client = browser(server)
    r = await client.post(
        "/ui/login", data={"username": "ana", "password": "correct horse battery"}
    )
    assert r.status_code == 303
    assert (await client.get("/ui/")).status_code == 200


async def test_service_account_tokens_do_not_sign_in(server: Server) -> None:
    assert (await server.admin.post("/service-accounts", json={"name": "ci"})).status_code == 201
    r = await server.admin.post("/tokens", json={"name": "t", "service_account": "ci"})
    client = browser(server)
    r = await client.post("/ui/login", data={"token": r.json()["secret"]})
    assert r.status_code == 401 and "only a user&#39;s token" in r.text


async def test_the_cookie_does_not_authenticate_the_json_api(server: Server) -> None:
    client = await signed_in(server)
    r = await client.get("/api/v1/clusters")
    assert r.status_code == 401


async def test_logout_needs_csrf_and_revokes_the_session(server: Server) -> None:
    client = await signed_in(server)
    r = await client.post("/ui/logout")
    assert r.status_code == 403 and "security token" in r.text
    csrf = csrf_of((await client.get("/ui/")).text)
    r = await client.post("/ui/logout", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    # the old cookie value no longer works even if a browser kept it
    assert (await client.get("/ui/")).status_code == 303


async def test_error_pages_are_html(server: Server) -> None:
    client = await signed_in(server)
    r = await client.get("/ui/no-such-page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "not found" in r.text
