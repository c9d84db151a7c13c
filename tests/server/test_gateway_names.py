"""A gateway name belongs to the first Model app that claims it: apply says so to the others."""

from __future__ import annotations

import pytest

from tests.server.conftest import Server

pytestmark = pytest.mark.anyio

PLATFORM = (
    "kind: Cluster\nname: gwc\n---\n"
    "kind: Workspace\nname: ws-a\ncluster: gwc\n---\nkind: Workspace\nname: ws-b\ncluster: gwc\n"
)


def model(workspace: str, name: str) -> str:
    return (
        f"kind: Model\nname: {name}\nworkspace: {workspace}\nengine: vllm\n"
        "model: org/m\ngateway: {name: shared}\n"
    )


async def _apply(server: Server, text: str) -> list[str]:
    r = await server.admin.post(
        "/apply", json={"documents": [{"source": "m.yaml", "content": text}]}
    )
    assert r.status_code == 200, r.text
    return [w["message"] for w in r.json()["warnings"]]


async def test_a_second_app_claiming_a_gateway_name_is_warned(server: Server) -> None:
    assert not any(
        "gateway name" in w
        for w in await _apply(server, PLATFORM + "---\n" + model("ws-a", "first"))
    )
    warnings = await _apply(server, model("ws-b", "second"))
    assert any("gateway name 'shared' is served by ws-a/first" in w for w in warnings), warnings
    # The holder re-applied: nothing to say.
    assert not any("gateway name" in w for w in await _apply(server, model("ws-a", "first")))
    snapshot = (await server.admin.get("/gateway/snapshot")).json()
    [served] = [m for m in snapshot["config"]["models"] if m["name"] == "shared"]
    assert [t["provider"] for t in served["targets"]] == ["model:ws-a/first"]
