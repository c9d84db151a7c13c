"""The audit log: who did what, when and from where; the database refuses edits and deletes."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from ironplane.server.db.tables import AuditEventRow
from tests.server.conftest import Server

pytestmark = pytest.mark.anyio


async def test_changes_and_denials_are_recorded_with_actor_and_address(server: Server) -> None:
    admin = server.admin
    assert (await admin.post("/users", json={"name": "carol"})).status_code == 201
    assert (
        await admin.post("/teams", json={"name": "ml", "members": ["carol"]})
    ).status_code == 201
    r = await server.client().post(
        "/auth/login", json={"username": "carol", "password": "nope-nope"}
    )
    assert r.status_code == 401
    events = (await admin.get("/audit", params={"limit": 10})).json()
    got = [(e["actor"], e["action"], e["target"], e["outcome"]) for e in events[:3]]
    assert got == [
        ("system", "auth.login", "user/carol", "denied"),
        ("user:admin", "team.create", "team/ml", "ok"),
        ("user:admin", "user.create", "user/carol", "ok"),
    ]
    assert {e["source_ip"] for e in events[:3]} == {"10.1.2.3"}
    # A write refused by a guard is recorded too.
    await admin.patch("/users/carol", json={"password": "carol-password-1"})
    token = (
        await server.client().post(
            "/auth/login", json={"username": "carol", "password": "carol-password-1"}
        )
    ).json()["token"]
    r = await server.client(token).post("/users", json={"name": "mallory"})
    assert r.status_code == 403
    latest = (await admin.get("/audit", params={"limit": 1})).json()[0]
    assert (latest["actor"], latest["action"], latest["outcome"]) == (
        "user:carol",
        "POST /api/v1/users",
        "denied",
    )
    assert "needs users.write on tenant" in latest["details"]["reason"]
    page = (await admin.get("/audit", params={"limit": 2, "before": latest["id"]})).json()
    assert [e["id"] for e in page] == [latest["id"] - 1, latest["id"] - 2]


@pytest.mark.parametrize("statement", ["update", "delete"])
async def test_the_database_refuses_to_edit_or_delete_events(
    server: Server, statement: str
) -> None:
    db = server.app.state.services.db
    query = (
        update(AuditEventRow).values(actor="someone-else")
        if statement == "update"
        else delete(AuditEventRow)
    )
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.session() as session:
            await session.execute(query)
    async with db.session() as session:
        actors = (await session.execute(text("SELECT actor FROM audit_events"))).scalars().all()
    assert actors and "someone-else" not in actors
