"""Deploying from the browser: preview (a dry run with the diff), apply, located errors, files,
and who may."""

from __future__ import annotations

import re

import pytest

from tests.server.conftest import Server
from tests.ui.agent_fakes import WEB, csrf, platform, sign_in, user
from tests.ui.conftest import signed_in

pytestmark = pytest.mark.anyio

HTMX = {"HX-Request": "true"}


async def _versions(server: Server, app: str = "web") -> list[int]:
    r = await server.admin.get(f"/workspaces/prod/apps/{app}/versions")
    if r.status_code == 404:
        return []
    return [v["number"] for v in r.json()]


async def test_the_form(server: Server) -> None:
    await platform(server)
    client = await signed_in(server)
    r = await client.get("/ui/deploy?workspace=prod")
    assert r.status_code == 200
    assert '<label for="spec">' in r.text and 'id="spec" name="spec"' in r.text
    assert '<input id="files" name="files" type="file"' in r.text
    assert '<option value="prod" selected>' in r.text and '<option value="lab">' in r.text
    assert 'hx-post="/ui/deploy/preview"' in r.text and 'action="/ui/deploy/apply"' in r.text


async def test_preview_shows_the_diff_and_stores_nothing(server: Server) -> None:
    await platform(server, WEB.format(tag=1))
    client = await signed_in(server)
    token = await csrf(client, "/ui/deploy")
    r = await client.post(
        "/ui/deploy/preview",
        headers=HTMX,
        data={"csrf": token, "spec": WEB.format(tag=2), "workspace": ""},
    )
    assert r.status_code == 200, r.text
    assert "<html" not in r.text, "htmx gets a fragment"
    assert "A dry run" in r.text
    assert re.search(
        r"<th scope=\"row\">Service</th><td>web</td><td>prod</td>\s*<td class=\"ok\">update</td>",
        r.text,
    )
    assert '<span class="diff-add">+' in r.text and "example.com/web:2" in r.text
    assert '<span class="diff-del">-' in r.text and "example.com/web:1" in r.text
    assert await _versions(server) == [1]
    # without htmx: the whole form again, the text kept, the preview below it
    r = await client.post("/ui/deploy/preview", data={"csrf": token, "spec": WEB.format(tag=2)})
    assert r.status_code == 200 and "<html" in r.text
    assert "example.com/web:2\n</textarea>" in r.text and "A dry run" in r.text


async def test_apply_stores_a_version_and_goes_to_the_app(server: Server) -> None:
    await platform(server, WEB.format(tag=1))
    client = await signed_in(server)
    token = await csrf(client, "/ui/deploy")
    r = await client.post("/ui/deploy/apply", data={"csrf": token, "spec": WEB.format(tag=2)})
    assert r.status_code == 303 and r.headers["location"] == "/ui/apps/prod/web?applied=2"
    assert await _versions(server) == [1, 2]
    r = await client.get(r.headers["location"])
    assert "Version 2 applied" in r.text
    assert 'hx-get="/ui/apps/prod/web/live" hx-trigger="every 3s"' in r.text
    # the same spec again: nothing new, and no "applied" notice
    r = await client.post("/ui/deploy/apply", data={"csrf": token, "spec": WEB.format(tag=2)})
    assert r.headers["location"] == "/ui/apps/prod/web"
    assert await _versions(server) == [1, 2]


async def test_files_and_a_default_workspace(server: Server) -> None:
    await platform(server)
    client = await signed_in(server)
    token = await csrf(client, "/ui/deploy")
    files = [
        ("files", ("a.yaml", b"kind: Service\nname: alpha\nimage: x/a:1\n", "application/yaml")),
        ("files", ("b.yaml", b"kind: Service\nname: beta\nimage: x/b:1\n", "application/yaml")),
    ]
    r = await client.post(
        "/ui/deploy/apply",
        data={"csrf": token, "spec": "", "workspace": "prod"},
        files=files,
    )
    assert r.status_code == 200, r.text
    assert 'href="/ui/apps/prod/alpha"' in r.text and 'href="/ui/apps/prod/beta"' in r.text
    assert await _versions(server, "alpha") == [1] and await _versions(server, "beta") == [1]


async def test_errors_are_located_next_to_the_text(server: Server) -> None:
    await platform(server)
    client = await signed_in(server)
    token = await csrf(client, "/ui/deploy")
    bad_yaml = "kind: Service\nname: web\nworkspace: prod\nimage: [unclosed\n"
    r = await client.post(
        "/ui/deploy/preview", headers=HTMX, data={"csrf": token, "spec": bad_yaml}
    )
    assert r.status_code == 400
    assert '<div class="alert" role="alert">' in r.text
    assert re.search(r"<code>editor\.yaml:\d+:\d+</code>", r.text), r.text
    typo = "kind: Service\nname: web\nworkspace: prod\nimage: x/y:1\nreplicaz: 2\n"
    r = await client.post("/ui/deploy/apply", data={"csrf": token, "spec": typo})
    assert r.status_code == 400 and "<html" in r.text
    assert "<code>editor.yaml:5:1</code>" in r.text
    assert "did you mean &#39;replicas&#39;?" in r.text
    assert "replicaz: 2\n</textarea>" in r.text, "the text is kept for fixing"
    assert await _versions(server) == []
    r = await client.post("/ui/deploy/apply", data={"csrf": token, "spec": "  "})
    assert r.status_code == 400 and "paste spec documents" in r.text


async def test_csrf_and_permissions(server: Server) -> None:
    await platform(server)
    client = await signed_in(server)
    r = await client.post("/ui/deploy/apply", data={"spec": WEB.format(tag=1)})
    assert r.status_code == 403 and "security token" in r.text
    r = await client.post("/ui/deploy/preview", data={"spec": WEB.format(tag=1), "csrf": "0" * 40})
    assert r.status_code == 403
    assert await _versions(server) == []

    await user(server, "vera", "viewer", None)
    viewer = await sign_in(server, "vera")
    assert (await viewer.get("/ui/deploy")).status_code == 403
    token = await csrf(viewer)
    for path in ("/ui/deploy/preview", "/ui/deploy/apply"):
        r = await viewer.post(path, data={"csrf": token, "spec": WEB.format(tag=1)})
        assert r.status_code == 403 and "apps.write" in r.text
    assert await _versions(server) == []

    # an editor of lab only: the page works, but a prod document is refused, located
    await user(server, "eddie", "editor", ("workspace", "lab"))
    editor = await sign_in(server, "eddie")
    r = await editor.get("/ui/deploy")
    assert r.status_code == 200 and '<option value="lab">' in r.text
    assert '<option value="prod">' not in r.text
    token = await csrf(editor, "/ui/deploy")
    r = await editor.post("/ui/deploy/apply", data={"csrf": token, "spec": WEB.format(tag=1)})
    assert r.status_code == 400, "prod is out of sight: reported like a missing workspace"
    assert "workspace &#39;prod&#39; does not exist" in r.text
    assert await _versions(server) == []


async def test_a_document_the_user_may_not_write_is_refused_next_to_the_text(
    server: Server,
) -> None:
    await platform(server)
    await user(server, "mia", "editor", ("workspace", "lab"))
    await server.admin.post(
        "/role-bindings",
        json={
            "role": "viewer",
            "subject_kind": "user",
            "subject": "mia",
            "scope_kind": "workspace",
            "scope": "prod",
        },
    )
    client = await sign_in(server, "mia")
    token = await csrf(client, "/ui/deploy")
    r = await client.post(
        "/ui/deploy/preview", headers=HTMX, data={"csrf": token, "spec": WEB.format(tag=1)}
    )
    assert r.status_code == 403
    assert '<div class="alert" role="alert">' in r.text and "HX-Retarget" not in r.headers
    assert "needs apps.write on workspace/prod" in r.text
    assert await _versions(server) == []
