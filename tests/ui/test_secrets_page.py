"""The secrets page: key names only, never a value (in the HTML, attributes or any answer)."""

from __future__ import annotations

import httpx
import pytest

from tests.server.conftest import Server
from tests.server.helpers import apply_yaml
from tests.ui.agent_fakes import sign_in, user
from tests.ui.conftest import csrf_of, signed_in

pytestmark = pytest.mark.anyio

PLATFORM = (
    "kind: Cluster\nname: oke-prod\nprovider: oci\nregion: us-ashburn-1\n---\n"
    "kind: Workspace\nname: prod\ncluster: oke-prod\n---\n"
    "kind: Workspace\nname: lab\ncluster: oke-prod\n"
)
API_VALUE = "sk-api-VALUE-d41d8cd98f00b204"
FORM_VALUE = "form-VALUE-9e107d9d372bb6826bd81d3542a419d6"
OTHER_VALUE = "second=VALUE=with-equals-77"
SECRETS = (API_VALUE, FORM_VALUE, OTHER_VALUE)


def no_secret(r: httpx.Response) -> httpx.Response:
    for value in SECRETS:
        assert value not in r.text, f"a secret value is in the answer to {r.request.url}"
    return r


async def setup(server: Server) -> None:
    await apply_yaml(server.admin, PLATFORM)
    r = await server.admin.put(
        "/workspaces/prod/secrets/llm", json={"values": {"openai-key": API_VALUE, "org": "x1"}}
    )
    assert r.status_code == 200, r.text


async def test_groups_show_key_names_only(server: Server) -> None:
    await setup(server)
    client = await signed_in(server)
    r = no_secret(await client.get("/ui/secrets"))
    assert r.status_code == 200
    assert "<code>llm</code>" in r.text and "<code>openai-key</code>" in r.text
    assert "<code>org</code>" in r.text and "x1" not in r.text
    assert "<td>lab " in r.text and "no secret groups" in r.text, "the empty workspace is listed"
    assert "Delete group llm" in r.text and "Create group" in r.text


async def test_create_from_key_value_lines_and_delete(server: Server) -> None:
    await setup(server)
    client = await signed_in(server)
    csrf = csrf_of((await client.get("/ui/secrets")).text)
    text = f"TOKEN={FORM_VALUE}\n\n  EXTRA = {OTHER_VALUE}\n"
    r = no_secret(
        await client.post(
            "/ui/secrets", data={"csrf": csrf, "workspace": "lab", "name": "db", "values": text}
        )
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/secrets?done=created"
    stored = (await server.admin.get("/workspaces/lab/secrets/db")).json()
    assert stored["values"] == {"TOKEN": FORM_VALUE, "EXTRA": " " + OTHER_VALUE}
    page = no_secret(await client.get(r.headers["location"]))
    assert "Secret group created." in page.text and "<code>TOKEN</code>" in page.text

    # the same name again is a conflict, shown on the page without the values
    r = no_secret(
        await client.post(
            "/ui/secrets",
            data={"csrf": csrf, "workspace": "lab", "name": "db", "values": f"A={FORM_VALUE}"},
        )
    )
    assert r.status_code == 409 and "already exists" in r.text
    assert (await server.admin.get("/workspaces/lab/secrets/db")).json()["values"]["TOKEN"] == (
        FORM_VALUE
    ), "the existing group is untouched"

    r = await client.post("/ui/secrets/lab/db/delete", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/ui/secrets?done=deleted"
    assert (await server.admin.get("/workspaces/lab/secrets/db")).status_code == 404


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (f"no equals sign {FORM_VALUE}", "line 1 is not KEY=value"),
        (f"ok=1\nbad key!={FORM_VALUE}", "invalid key"),
        (f"A={FORM_VALUE}\nA={FORM_VALUE}", "line 2 repeats key"),
        ("\n\n", "at least one KEY=value"),
    ],
)
async def test_form_errors_never_echo_values(server: Server, values: str, message: str) -> None:
    await setup(server)
    client = await signed_in(server)
    csrf = csrf_of((await client.get("/ui/secrets")).text)
    r = no_secret(
        await client.post(
            "/ui/secrets", data={"csrf": csrf, "workspace": "prod", "name": "new", "values": values}
        )
    )
    assert r.status_code == 400 and message in r.text and 'role="alert"' in r.text
    assert (await server.admin.get("/workspaces/prod/secrets/new")).status_code == 404


async def test_a_viewer_sees_no_actions_and_posting_is_refused(server: Server) -> None:
    await setup(server)
    await user(server, "vic", "viewer", ("workspace", "prod"))
    viewer = await sign_in(server, "vic")
    r = no_secret(await viewer.get("/ui/secrets"))
    assert "<code>openai-key</code>" in r.text, "secrets.list shows key names"
    assert "<td>lab " not in r.text, "a workspace the viewer cannot list is not shown"
    assert "Delete" not in r.text and "Create group" not in r.text and "<textarea" not in r.text
    csrf = csrf_of(r.text)
    r = no_secret(
        await viewer.post(
            "/ui/secrets",
            data={"csrf": csrf, "workspace": "prod", "name": "x2", "values": f"A={FORM_VALUE}"},
        )
    )
    assert r.status_code == 403
    r = await viewer.post("/ui/secrets", data={"csrf": csrf, "workspace": "lab", "name": "x2"})
    assert r.status_code == 404, "a workspace the viewer cannot see does not exist for them"
    r = await viewer.post("/ui/secrets/prod/llm/delete", data={"csrf": csrf})
    assert r.status_code == 403
    assert (await server.admin.get("/workspaces/prod/secrets/llm")).status_code == 200

    # an editor of prod may write there only
    await user(server, "eddie", "editor", ("workspace", "prod"))
    editor = await sign_in(server, "eddie")
    html = no_secret(await editor.get("/ui/secrets")).text
    assert 'option value="prod"' in html and 'option value="lab"' not in html


async def test_no_ui_answer_holds_a_value(server: Server) -> None:
    """Every page a signed-in admin can open after secrets exist: none quotes a value."""
    await setup(server)
    client = await signed_in(server)
    for path in ("/ui/", "/ui/secrets", "/ui/audit", "/ui/access", "/ui/tokens", "/ui/gateway"):
        r = no_secret(await client.get(path))
        assert r.status_code == 200, path
    r = no_secret(await client.get("/ui/gateway/series.json?measure=requests"))
    assert r.status_code == 200


async def test_posts_need_the_csrf_token(server: Server) -> None:
    await setup(server)
    client = await signed_in(server)
    r = await client.post("/ui/secrets", data={"workspace": "prod", "name": "zz", "values": "A=1"})
    assert r.status_code == 403
    r = await client.post("/ui/secrets/prod/llm/delete")
    assert r.status_code == 403
    assert (await server.admin.get("/workspaces/prod/secrets/llm")).status_code == 200
