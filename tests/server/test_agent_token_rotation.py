"""Rotating a cluster's agent token: the old one works until an agent connects with the new one
(then it is revoked, audited); ``revoke_old`` revokes it at once. The WebSocket side is in
tests/e2e/test_install_agent.py."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from ironplane.server.db.tables import ClusterRow
from ironplane.server.services.tokens import retire_older_agent_tokens
from tests.server.conftest import Server
from tests.server.helpers import CLUSTER, apply_yaml, audit

pytestmark = pytest.mark.anyio


async def reads(server: Server, token: str) -> int:
    return (await server.client(token).get("/clusters/oke-prod/desired")).status_code


async def rotate(server: Server, **params: Any) -> dict[str, Any]:
    r = await server.admin.post("/clusters/oke-prod/agent-token", params=params)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def connected_with(server: Server, token_id: str) -> list[str]:
    """What the agent session does once a handshake with this token succeeded."""
    async with server.app.state.services.db.session() as s:
        cluster = await s.scalar(select(ClusterRow).where(ClusterRow.name == "oke-prod"))
        assert cluster is not None
        return await retire_older_agent_tokens(s, cluster.id, token_id, source_ip="10.9.8.7")


async def test_the_old_token_works_until_an_agent_connects_with_the_new(server: Server) -> None:
    r = await apply_yaml(server.admin, CLUSTER)
    first = r.json()["changes"][0]["agent_token"]
    a = first["secret"]
    b = await rotate(server)
    c = await rotate(server)
    assert [await reads(server, t) for t in (a, b["secret"], c["secret"])] == [200, 200, 200]
    [minted] = [
        e
        for e in await audit(server, "cluster.agent_token")
        if e["details"]["token"] == c["token"]["id"]
    ]
    assert minted["details"]["valid_until_it_connects"] == [first["token"]["id"], b["token"]["id"]]

    # An agent on the oldest token reconnects: nothing is older, nothing changes.
    assert await connected_with(server, first["token"]["id"]) == []
    # One connects with the middle token: only the token older than it goes.
    assert await connected_with(server, b["token"]["id"]) == [first["token"]["id"]]
    assert [await reads(server, t) for t in (a, b["secret"], c["secret"])] == [401, 200, 200]
    # Then with the newest.
    assert await connected_with(server, c["token"]["id"]) == [b["token"]["id"]]
    assert [await reads(server, t) for t in (a, b["secret"], c["secret"])] == [401, 401, 200]
    assert await connected_with(server, c["token"]["id"]) == []  # a reconnect: nothing to do

    rotated = await audit(server, "cluster.agent_token_rotated")
    assert [(e["actor"], e["target"], e["details"], e["source_ip"]) for e in rotated] == [
        (
            "system",
            "cluster/oke-prod",
            {"token": c["token"]["id"], "revoked": [b["token"]["id"]]},
            "10.9.8.7",
        ),
        (
            "system",
            "cluster/oke-prod",
            {"token": b["token"]["id"], "revoked": [first["token"]["id"]]},
            "10.9.8.7",
        ),
    ]


async def test_revoke_old_stops_every_earlier_token_at_once(server: Server) -> None:
    r = await apply_yaml(server.admin, CLUSTER)
    first = r.json()["changes"][0]["agent_token"]
    pending = await rotate(server)
    fresh = await rotate(server, revoke_old="true")
    assert await reads(server, first["secret"]) == 401
    assert await reads(server, pending["secret"]) == 401
    assert await reads(server, fresh["secret"]) == 200
    [event] = [
        e
        for e in await audit(server, "cluster.agent_token")
        if e["details"]["token"] == fresh["token"]["id"]
    ]
    assert event["details"]["revoked"] == [first["token"]["id"], pending["token"]["id"]]
    assert event["actor"] == "user:admin"


async def test_another_clusters_token_is_never_retired(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER)
    r = await apply_yaml(server.admin, "kind: Cluster\nname: oke-dev\n")
    other = r.json()["changes"][0]["agent_token"]
    newer = await rotate(server)
    assert await connected_with(server, newer["token"]["id"]) != []
    assert await reads_other(server, other["secret"]) == 200
    # A token id of another cluster retires nothing here: it is refused.
    from ironplane.core.errors import UnauthenticatedError

    with pytest.raises(UnauthenticatedError):
        await connected_with(server, other["token"]["id"])
    assert await reads(server, newer["secret"]) == 200


async def reads_other(server: Server, token: str) -> int:
    return (await server.client(token).get("/clusters/oke-dev/desired")).status_code


async def test_generations_not_clocks_order_a_rotation(server: Server) -> None:
    """A newer token stamped earlier (replicas' clocks disagree) still retires the older one, and
    the older token's holder can never revoke the newer token."""
    from datetime import timedelta

    from sqlalchemy import update

    from ironplane.core.errors import UnauthenticatedError
    from ironplane.server.db.tables import ApiTokenRow

    r = await apply_yaml(server.admin, CLUSTER)
    old = r.json()["changes"][0]["agent_token"]
    new = await rotate(server)
    services = server.app.state.services
    async with services.db.session() as s:
        old_row = await s.get(ApiTokenRow, old["token"]["id"])
        assert old_row is not None
        await s.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.id == new["token"]["id"])
            .values(created_at=old_row.created_at - timedelta(seconds=2))
        )
    assert await connected_with(server, old["token"]["id"]) == []  # the old agent reconnects
    assert await reads(server, new["secret"]) == 200
    assert await connected_with(server, new["token"]["id"]) == [old["token"]["id"]]
    assert await reads(server, old["secret"]) == 401
    # A connection authenticated on the old token before that, finishing its handshake now, is
    # refused rather than taking the cluster over.
    with pytest.raises(UnauthenticatedError):
        await connected_with(server, old["token"]["id"])
