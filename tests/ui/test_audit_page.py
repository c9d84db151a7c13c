"""The audit log page: newest first, filters, paging by the API's ``before`` cursor."""

from __future__ import annotations

import re

import pytest

from tests.server.conftest import Server
from tests.server.helpers import apply_yaml
from tests.ui.agent_fakes import sign_in, user
from tests.ui.conftest import csrf_of, signed_in

pytestmark = pytest.mark.anyio

PLATFORM = (
    "kind: Cluster\nname: oke-prod\nprovider: oci\nregion: us-ashburn-1\n---\n"
    "kind: Workspace\nname: prod\ncluster: oke-prod\n"
)
VALUE = "audit-secret-value-3f9a1c"


def targets(html: str) -> list[str]:
    """The target column of the events table, in order."""
    rows = re.findall(r"<tr>\s*<td><span title=.*?</tr>", html, re.S)
    return [re.findall(r"<td>(.*?)</td>", row, re.S)[3] for row in rows]


async def setup(server: Server) -> None:
    await apply_yaml(server.admin, PLATFORM)
    for name in ("u1", "u2", "u3", "u4", "u5"):
        assert (await server.admin.post("/users", json={"name": name})).status_code == 201
    r = await server.admin.put("/workspaces/prod/secrets/llm", json={"values": {"key": VALUE}})
    assert r.status_code == 200


async def test_newest_first_with_details_and_no_secret_values(server: Server) -> None:
    await setup(server)
    client = await signed_in(server)
    r = await client.get("/ui/audit")
    assert r.status_code == 200 and VALUE not in r.text
    shown = targets(r.text)
    assert shown[0] == "user/admin", "the UI sign-in itself"
    assert shown[1:7] == [
        "secret_group/prod/llm",
        "user/u5",
        "user/u4",
        "user/u3",
        "user/u2",
        "user/u1",
    ]
    assert "<code>secret_group.put</code>" in r.text and "&#34;keys&#34;: [&#34;key&#34;]" in r.text
    assert "10.1.2.3" in r.text, "the source address of the API calls"


async def test_filters_and_paging(server: Server) -> None:
    await setup(server)
    client = await signed_in(server)
    r = await client.get("/ui/audit", params={"action": "user.", "limit": "2"})
    assert targets(r.text) == ["user/u5", "user/u4"]
    older = re.search(r'href="(/ui/audit\?[^"]+)" rel="next"', r.text)
    assert older, "a next-page link"
    link = older.group(1).replace("&amp;", "&")
    assert "action=user." in link and "before=" in link
    r = await client.get(link)
    assert targets(r.text) == ["user/u3", "user/u2"]
    assert 'href="/ui/audit?action=user.&amp;limit=2">Newest</a>' in r.text
    link = re.search(r'href="(/ui/audit\?[^"]+)" rel="next"', r.text).group(1)  # type: ignore[union-attr]
    r = await client.get(link.replace("&amp;", "&"))
    assert targets(r.text) == ["user/u1"]
    assert 'rel="next"' not in r.text, "the end of the log"

    r = await client.get("/ui/audit", params={"actor": "user:admin", "action": "secret_group."})
    assert targets(r.text) == ["secret_group/prod/llm"]
    r = await client.get("/ui/audit", params={"actor": "user:nobody"})
    assert targets(r.text) == [] and "No events match these filters" in r.text

    # a refused write is audited as denied
    await user(server, "vic", "viewer", None)
    viewer = await sign_in(server, "vic")
    assert (await viewer.post("/ui/access/teams", data={"csrf": "x"})).status_code == 403
    r = await viewer.post(
        "/ui/access/teams", headers={"X-CSRF-Token": csrf_of((await viewer.get("/ui/access")).text)}
    )
    assert r.status_code == 403
    r = await client.get("/ui/audit", params={"outcome": "denied"})
    # both refusals are there: the stale CSRF token and the missing permission
    assert targets(r.text) == ["/ui/access/teams", "/ui/access/teams"]
    assert "user:vic" in r.text and "teams.write" in r.text


async def test_needs_audit_read(server: Server) -> None:
    await setup(server)
    await user(server, "vic", "viewer", None)
    viewer = await sign_in(server, "vic")
    assert (await viewer.get("/ui/audit")).status_code == 403
    assert 'href="/ui/audit"' not in (await viewer.get("/ui/")).text
    await user(server, "wanda", "admin", ("workspace", "prod"))
    scoped = await sign_in(server, "wanda")
    assert (await scoped.get("/ui/audit")).status_code == 403, "audit.read is a tenant permission"
