"""POST /gateway/usage (ingestion, bounds, validation, retention) and GET /gateway/usage."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from ironplane.core.errors import InvalidError
from ironplane.server.db.tables import GatewayUsageRow
from ironplane.server.db.types import utcnow
from ironplane.server.services import usage
from tests.server.conftest import Server
from tests.server.helpers import error_of

pytestmark = pytest.mark.anyio


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "at": time.time() - 60,
        "key": "user:alice",
        "team": "ml",
        "model": "llama-3.1-8b",
        "target": "model:prod/llama/llama-3.1-8b",
        "status": 200,
        "latency_ms": 100.0,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "cost": 0.001,
        "stream": False,
    }
    return base | fields


def batch(records: list[dict[str, Any]], gateway: str = "gw-a-1", dropped: int = 0) -> Any:
    return {"gateway": gateway, "dropped": dropped, "records": records}


async def stored(server: Server) -> int:
    async with server.app.state.services.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(GatewayUsageRow)) or 0)


async def test_ingest_and_aggregate_by_key_model_and_team(server: Server) -> None:
    admin = server.admin
    now = time.time()
    records = [
        record(at=now - 30, latency_ms=100.0),
        record(at=now - 20, status=500, latency_ms=300.0, cost=0.002),
        record(at=now - 10, key="user:bob", team=None, model="mistral", cost=0.0005),
        record(at=now - 2 * 3600, key="service_account:ci", team=None, cost=1.0),
    ]
    r = await admin.post("/gateway/usage", json=batch(records))
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 4}

    r = await admin.get("/gateway/usage", params={"by": "key", "since": "1h"})
    assert r.status_code == 200, r.text
    assert r.json() == [
        {
            "group": "user:alice",
            "requests": 2,
            "errors": 1,
            "prompt_tokens": 20,
            "completion_tokens": 40,
            "cost": pytest.approx(0.003),
            "avg_latency_ms": pytest.approx(200.0),
        },
        {
            "group": "user:bob",
            "requests": 1,
            "errors": 0,
            "prompt_tokens": 10,
            "completion_tokens": 20,
            "cost": pytest.approx(0.0005),
            "avg_latency_ms": pytest.approx(100.0),
        },
    ]
    # A wider window takes in the older, more expensive record: it sorts first.
    r = await admin.get("/gateway/usage", params={"by": "key", "since": "3h"})
    assert [row["group"] for row in r.json()] == ["service_account:ci", "user:alice", "user:bob"]
    r = await admin.get("/gateway/usage", params={"by": "model", "since": "1h"})
    assert [(row["group"], row["requests"]) for row in r.json()] == [
        ("llama-3.1-8b", 2),
        ("mistral", 1),
    ]
    r = await admin.get("/gateway/usage", params={"by": "team", "since": "1d"})
    assert [(row["group"], row["requests"]) for row in r.json()] == [(None, 2), ("ml", 2)]
    # The default: by key over the last 24 hours.
    r = await admin.get("/gateway/usage")
    assert len(r.json()) == 3

    r = await admin.get("/gateway/replicas")
    assert r.status_code == 200
    [replica] = r.json()
    assert (replica["gateway"], replica["accepted"], replica["dropped"]) == (
        "user:admin/gw-a-1",
        4,
        0,
    )


async def test_dropped_records_add_up_per_replica(server: Server) -> None:
    admin = server.admin
    for dropped in (3, 4):
        r = await admin.post("/gateway/usage", json=batch([record()], dropped=dropped))
        assert r.status_code == 202, r.text
    r = await admin.post("/gateway/usage", json=batch([], gateway="gw-b-2", dropped=1))
    assert r.json() == {"accepted": 0}
    rows = {
        x["gateway"]: (x["accepted"], x["dropped"])
        for x in (await admin.get("/gateway/replicas")).json()
    }
    # The replica is named by the principal that posted, then by what it calls itself.
    assert rows == {"user:admin/gw-a-1": (2, 7), "user:admin/gw-b-2": (0, 1)}


async def test_batches_are_bounded_and_records_validated(server: Server) -> None:
    admin = server.admin
    r = await admin.post("/gateway/usage", json=batch([record()] * 5000))
    assert r.status_code == 202 and r.json() == {"accepted": 5000}
    r = await admin.post("/gateway/usage", json=batch([record()] * 5001))
    assert r.status_code == 422
    assert error_of(r)["diagnostics"][0]["path"] == ["body", "records"]
    bad = [
        ("status", 99),
        ("latency_ms", -1),
        ("prompt_tokens", -5),
        ("cost", -0.5),
        # Sums must stay finite: one huge cost would turn a group's total into inf, then 0.
        ("cost", 1e300),
        ("key", ""),
        ("at", 0),
        ("unknown", 1),
    ]
    for field, value in bad:
        r = await admin.post("/gateway/usage", json=batch([record(), record(**{field: value})]))
        assert r.status_code == 422, (field, r.text)
        [diagnostic] = error_of(r)["diagnostics"]
        assert diagnostic["path"] == ["body", "records", 1, field], (field, diagnostic)
    # A record from the future: a gateway host with a wrong clock.
    r = await admin.post("/gateway/usage", json=batch([record(at=time.time() + 7200)]))
    assert r.status_code == 400
    assert "records[0].at" in error_of(r)["message"] and "clock" in error_of(r)["message"]
    for gateway in ("gw\nforged log line", "-dash-first", "x" * 121):
        r = await admin.post("/gateway/usage", json=batch([record()], gateway=gateway))
        assert r.status_code == 422, gateway
    assert await stored(server) == 5000  # nothing of the refused batches


async def test_old_records_are_skipped_and_deleted(server: Server) -> None:
    old = (utcnow() - usage.RETENTION - timedelta(days=1)).timestamp()
    r = await server.admin.post("/gateway/usage", json=batch([record(at=old), record()]))
    assert r.json() == {"accepted": 1}
    # Rows that aged past the retention are deleted by a later ingestion's clean-up.
    async with server.app.state.services.db.session() as s:
        s.add(
            GatewayUsageRow(
                at=utcnow() - usage.RETENTION - timedelta(hours=1),
                key="k",
                team=None,
                model="m",
                target=None,
                status=200,
                latency_ms=1.0,
                prompt_tokens=0,
                completion_tokens=0,
                cost=0.0,
                stream=False,
                gateway="g",
            )
        )
    assert await stored(server) == 2
    db = server.app.state.services.db
    assert await usage.prune_if_due(db, utcnow()) is None  # the first ingestion just did it
    usage._last_prune.pop(db)
    r = await server.admin.post("/gateway/usage", json=batch([record()]))
    assert r.status_code == 202
    assert await stored(server) == 2  # one deleted, one added


async def test_since_is_parsed_and_bounded(server: Server) -> None:
    for text in ("15m", "24h", "7d", "1d12h", "90d", "30s"):
        r = await server.admin.get("/gateway/usage", params={"since": text})
        assert r.status_code == 200, (text, r.text)
    for text, needle in (
        ("91d", "90 days"),
        ("24", "add a unit"),
        ("yesterday", "not a duration"),
        ("0m", "empty window"),
        ("", "not a duration"),
    ):
        r = await server.admin.get("/gateway/usage", params={"since": text})
        assert r.status_code == 400, (text, r.text)
        assert needle in error_of(r)["message"], (text, r.text)
    r = await server.admin.get("/gateway/usage", params={"by": "region"})
    assert r.status_code == 422
    assert error_of(r)["diagnostics"][0]["path"] == ["query", "by"]


def test_parse_since() -> None:
    assert usage.parse_since("1d12h") == timedelta(hours=36)
    assert usage.parse_since(" 15m ") == timedelta(minutes=15)
    with pytest.raises(InvalidError, match="15m, 24h or 7d"):
        usage.parse_since("1w")


@pytest.mark.parametrize("text", ["1000000000d", "99999999999h", "9" * 30 + "s"])
def test_huge_windows_are_refused_not_crashed_on(text: str) -> None:
    with pytest.raises(InvalidError, match="further back than"):
        usage.parse_since(text)
