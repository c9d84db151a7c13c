"""Sign-in and session rules found by review: throttling per address for tokens, no session from
a session, sessions capped at their token's expiry, passwords kept as typed, signed-out posts,
htmx and chart requests after a session ends, and tenant-wide pages kept out of the navigation
of users who cannot open them."""

from __future__ import annotations

import pytest

from tests.server.conftest import Server
from tests.server.helpers import CLUSTER, WORKSPACE, apply_yaml, make_user
from tests.ui.conftest import browser, csrf_of, signed_in

pytestmark = pytest.mark.anyio


async def _audit_count(server: Server) -> int:
    return len((await server.admin.get("/audit", params={"limit": 1000})).json())


async def test_token_sign_ins_count_per_address_and_never_clear_a_users_failures(
    server: Server,
) -> None:
    await make_user(server, "victim", password="right password 1")
    client = browser(server)
    for _ in range(5):
        r = await client.post("/ui/login", data={"username": "victim", "password": "wrong"})
        assert r.status_code == 401
    # A good token sign-in by someone else, naming the victim, does not reset the victim's count.
    r = await client.post("/ui/login", data={"username": "victim", "token": server.admin_token})
    assert r.status_code == 303
    r = await browser(server).post("/ui/login", data={"username": "victim", "password": "wrong"})
    assert r.status_code == 429
    # Bad tokens from one address do not lock out token sign-ins from another.
    for _ in range(6):
        await client.post("/ui/login", data={"token": "ipt_0123456789abcdef_nope"})
    assert (await client.post("/ui/login", data={"token": server.admin_token})).status_code == 429
    other = browser(server)
    other._transport.client = ("10.9.9.9", 1234)  # type: ignore[attr-defined]
    assert (await other.post("/ui/login", data={"token": server.admin_token})).status_code == 303


async def test_a_session_cannot_sign_in_as_a_token_and_sessions_keep_to_their_tokens_expiry(
    server: Server,
) -> None:
    client = await signed_in(server)
    cookie = client.cookies.get("ironplane_session")
    assert cookie
    r = await browser(server).post("/ui/login", data={"token": cookie})
    assert r.status_code == 401 and "not a session" in r.text
    made = await server.admin.post("/tokens", json={"name": "short", "expires_in_days": 1})
    assert made.status_code == 201, made.text
    short = browser(server)
    assert (await short.post("/ui/login", data={"token": made.json()["secret"]})).status_code == 303
    sessions = [
        t for t in (await server.admin.get("/tokens")).json() if t["name"] == "login session"
    ]
    assert max(s["expires_at"] for s in sessions) <= made.json()["token"]["expires_at"]


async def test_a_password_set_in_the_ui_is_kept_as_typed(server: Server) -> None:
    admin = await signed_in(server)
    csrf = csrf_of((await admin.get("/ui/access")).text)
    typed = "  spaced password 123  "
    r = await admin.post(
        "/ui/access/users", data={"csrf": csrf, "name": "spacey", "password": typed}
    )
    assert r.status_code == 303, r.text
    r = await browser(server).post("/ui/login", data={"username": "spacey", "password": typed})
    assert r.status_code == 303


async def test_signed_out_posts_go_to_login_and_are_not_audited(server: Server) -> None:
    before = await _audit_count(server)
    r = await browser(server).post("/ui/tokens", data={"name": "x"})
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    assert await _audit_count(server) == before


async def test_ended_sessions_send_htmx_back_to_the_page_and_charts_a_401(
    server: Server,
) -> None:
    client = browser(server)
    r = await client.get(
        "/ui/",
        headers={
            "HX-Request": "true",
            "HX-Current-URL": "http://testserver/ui/apps?workspace=prod",
        },
    )
    assert r.status_code == 204
    assert r.headers["HX-Redirect"] == "/ui/login?next=/ui/apps%3Fworkspace%3Dprod"
    await apply_yaml(server.admin, CLUSTER)
    r = await client.get("/ui/clusters/oke-prod/series.json?name=gpu_utilization")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/json")


async def test_tenant_pages_are_not_offered_to_workspace_scoped_users(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE)
    await make_user(server, "val", role="admin", scope=("workspace", "prod"))
    client = browser(server)
    r = await client.post(
        "/ui/login", data={"username": "val", "password": "correct-horse-battery-staple"}
    )
    assert r.status_code == 303, r.text
    html = (await client.get("/ui/")).text
    for entry in ('href="/ui/access"', 'href="/ui/audit"', 'href="/ui/gateway"'):
        assert entry not in html
    assert 'href="/ui/apps"' in html


async def test_a_refused_deploy_from_the_ui_is_audited_like_the_apis(server: Server) -> None:
    await apply_yaml(
        server.admin, CLUSTER, WORKSPACE, "kind: Workspace\nname: lab\ncluster: oke-prod\n"
    )
    await make_user(server, "eddie", role="editor", scope=("workspace", "prod"))
    from tests.server.helpers import bind

    await bind(server, "viewer", "eddie", scope=("workspace", "lab"))
    client = browser(server)
    r = await client.post(
        "/ui/login", data={"username": "eddie", "password": "correct-horse-battery-staple"}
    )
    assert r.status_code == 303
    csrf = csrf_of((await client.get("/ui/deploy")).text)
    spec = "kind: Service\nname: web\nworkspace: lab\nimage: example.com/web:1\n"
    r = await client.post("/ui/deploy/apply", data={"csrf": csrf, "spec": spec, "workspace": ""})
    assert r.status_code == 403
    events = (await server.admin.get("/audit", params={"limit": 1000})).json()
    assert any(e["outcome"] == "denied" and e["actor"].endswith("eddie") for e in events)


async def test_ui_answers_carry_security_headers_and_refuse_cross_site_posts(
    server: Server,
) -> None:
    client = browser(server)
    for path in ("/ui/login", "/ui/static/app.css", "/ui/"):
        r = await client.get(path)
        assert "script-src 'self'" in r.headers["content-security-policy"], path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
    # A login form posted from another site (login CSRF) is refused before it is read.
    r = await client.post(
        "/ui/login", data={"token": server.admin_token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert r.status_code == 403 and "ironplane_session" not in r.headers.get("set-cookie", "")
    r = await client.post(
        "/ui/login", data={"token": server.admin_token}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert r.status_code == 303
    # The JSON API is not the UI's: no such headers or checks are added there.
    r = await server.admin.get("/clusters")
    assert "content-security-policy" not in r.headers
