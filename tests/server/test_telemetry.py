"""Agent telemetry stored and served as series; gateway usage over time."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from ironplane.sdk import AsyncClient
from ironplane.server.db.tables import ClusterRow, TelemetrySampleRow
from ironplane.server.db.types import utcnow
from ironplane.server.services import telemetry
from ironplane.server.services.usage_series import percentile
from ironplane.wire import agent_protocol as proto
from tests.server.conftest import Server
from tests.server.helpers import CLUSTER, WORKSPACE, apply_yaml, store_metrics

pytestmark = pytest.mark.anyio

SERVICE = "kind: Service\nname: chat\nworkspace: prod\nimage: example.com/chat:1\n"
OTHER = "kind: Cluster\nname: other\n---\nkind: Workspace\nname: elsewhere\ncluster: other\n"


def node(name: str, value: float, metric: str = "gpu_utilization") -> proto.Sample:
    return proto.Sample(scope="node", name=metric, value=value, node=name)


def app(
    name: str, value: float, workspace: str = "prod", metric: str = "gpu_utilization"
) -> proto.Sample:
    return proto.Sample(scope="app", name=metric, value=value, workspace=workspace, app=name)


async def test_node_and_app_series_are_stored_bucketed_and_scoped(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE, SERVICE, OTHER)
    now = time.time()
    base = now - now % 60 - 120  # two to three minutes ago, on a minute boundary
    for offset, util in ((0, 80.0), (20, 90.0), (60, 50.0)):
        stored = await store_metrics(
            server,
            [
                node("gpu-1", util),
                node("gpu-1", 1024.0, "gpu_memory_used_bytes"),
                app("chat", util / 2),
                app("chat", float("nan")),  # not a number: dropped
                app("intruder", 1.0, workspace="elsewhere"),  # not this cluster's: dropped
                proto.Sample(scope="node", name="Bad-Name", value=1.0, node="gpu-1"),
            ],
            at=base + offset,
        )
        assert stored == 3
    r = await server.admin.get(
        "/clusters/oke-prod/metrics",
        params={"name": "gpu_utilization", "since": "1h", "step": "1m"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["step"] == 60
    [series] = body["series"]
    assert series["name"] == "gpu_utilization" and series["labels"] == {"node": "gpu-1"}
    assert series["points"] == [[base, 85.0], [base + 60, 50.0]]  # 80 and 90 averaged

    r = await server.admin.get("/clusters/oke-prod/metrics", params={"since": "1h"})
    assert {s["name"] for s in r.json()["series"]} == {"gpu_utilization", "gpu_memory_used_bytes"}

    r = await server.admin.get("/workspaces/prod/apps/chat/metrics", params={"step": "1m"})
    assert r.status_code == 200, r.text
    [series] = r.json()["series"]
    assert series["labels"] == {"workspace": "prod", "app": "chat"}
    assert [p[1] for p in series["points"]] == [42.5, 25.0]
    r = await server.admin.get("/workspaces/elsewhere/apps/intruder/metrics")
    assert r.status_code == 404  # no such app, and nothing was stored for it
    r = await server.admin.get("/clusters/other/metrics")
    assert r.json()["series"] == []


async def test_bad_windows_and_names_are_refused(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE)
    for params in ({"since": "3d"}, {"since": "10"}, {"step": "0s"}, {"name": "DCGM;drop"}):
        r = await server.admin.get("/clusters/oke-prod/metrics", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["code"] == "invalid"


async def test_old_samples_are_pruned_and_a_skewed_clock_is_not_trusted(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE)
    services = server.app.state.services
    assert await store_metrics(server, [node("gpu-1", 1.0)], at=time.time() + 7200) == 1
    async with services.db.session() as s:
        at = await s.scalar(select(TelemetrySampleRow.at))
    assert at is not None and abs((at - utcnow()).total_seconds()) < 60  # stored at server time
    async with services.db.session() as s:
        row = await s.scalar(select(TelemetrySampleRow))
        assert row is not None
        row.at = utcnow() - timedelta(hours=49)
    assert await store_metrics(server, [node("gpu-1", 2.0)]) == 1
    telemetry._last_prune.pop(services.db, None)
    assert await telemetry.prune_if_due(services) == 1
    assert await telemetry.prune_if_due(services) is None  # not due again yet
    async with services.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(TelemetrySampleRow)) == 1


def record(at: float, model: str, latency: float, status: int = 200) -> dict[str, object]:
    return {
        "at": at,
        "key": "user:alice",
        "team": "ml",
        "model": model,
        "target": f"{model}-a",
        "status": status,
        "latency_ms": latency,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "cost": 0.5,
        "stream": False,
    }


async def test_gateway_usage_series_per_bucket_and_model(server: Server) -> None:
    now = time.time()
    base = now - now % 300 - 900  # three 5-minute buckets ago
    records = [record(base + 1, "llama", 100.0 + i) for i in range(98)]
    records += [record(base + 2, "llama", 2000.0, status=500) for _ in range(2)]
    records += [record(base + 301, "llama", 40.0), record(base + 302, "qwen", 10.0, 429)]
    r = await server.admin.post("/gateway/usage", json={"gateway": "gw", "records": records})
    assert r.status_code == 202 and r.json() == {"accepted": 102}

    r = await server.admin.get("/gateway/usage/series", params={"since": "1h", "by": "model"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["step"] == 300 and body["by"] == "model"
    llama, qwen = body["series"]
    assert llama["group"] == "llama" and qwen["group"] == "qwen"
    first, second = llama["buckets"]
    assert first["t"] == base and second["t"] == base + 300
    assert (first["requests"], first["errors"]) == (100, 2)
    assert (first["prompt_tokens"], first["completion_tokens"]) == (1000, 2000)
    assert first["cost"] == pytest.approx(50.0)
    assert first["p50_ms"] == pytest.approx(149.5)  # between the 50th and 51st of 100
    assert first["p99_ms"] == pytest.approx(2000.0)
    assert second["requests"] == 1 and second["p50_ms"] == pytest.approx(40.0)
    assert qwen["buckets"][0]["errors"] == 1

    r = await server.admin.get("/gateway/usage/series", params={"since": "1h"})
    [everything] = r.json()["series"]
    assert everything["group"] is None
    assert sum(b["requests"] for b in everything["buckets"]) == 102


def test_percentile_interpolates_between_the_closest_ranks() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([10.0, 20.0], 0.5) == 15.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.99) == pytest.approx(3.97)


async def test_the_sdk_reads_the_series(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE, SERVICE)
    await store_metrics(server, [node("gpu-1", 70.0), app("chat", 30.0)])
    transport = httpx.ASGITransport(app=server.app)
    client = AsyncClient("http://testserver", token=server.admin_token, transport=transport)
    try:
        nodes = await client.clusters.metrics("oke-prod", names=["gpu_utilization"], since="1h")
        assert [s.labels for s in nodes.series] == [{"node": "gpu-1"}]
        assert nodes.series[0].points[0][1] == 70.0
        apps = await client.apps.metrics("prod", "chat", since="30m", step="1m")
        assert apps.step == 60 and apps.series[0].points[0][1] == 30.0
        usage = await client.gateway.usage_series(since="1h", by="team")
        assert usage.by == "team" and usage.series == []
    finally:
        await client.aclose()


def test_node_samples_only_for_nodes_of_the_inventory() -> None:
    now = utcnow()
    frame = proto.Metrics(
        at=now.timestamp(),
        samples=[
            proto.Sample(scope="node", name="gpu_utilization", node="node-1", value=50.0),
            proto.Sample(scope="node", name="gpu_utilization", node="made-up-7", value=1.0),
        ],
    )
    rows = telemetry.rows_of(1, frame, set(), now, nodes={"node-1"})
    assert [r["node"] for r in rows] == ["node-1"]
    assert len(telemetry.rows_of(1, frame, set(), now)) == 2  # no inventory given: both


async def test_a_series_answer_is_bounded(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    await apply_yaml(server.admin, CLUSTER)
    services = server.app.state.services
    async with services.db.session() as s:
        cluster = await s.scalar(select(ClusterRow).where(ClusterRow.name == "oke-prod"))
        assert cluster is not None
        for i in range(12):
            s.add(
                TelemetrySampleRow(
                    cluster_id=cluster.id,
                    at=utcnow(),
                    scope="node",
                    name="gpu_utilization",
                    node=f"n{i}",
                    labels={},
                    value=1.0,
                )
            )
    monkeypatch.setattr(telemetry, "MAX_SERIES", 5)
    r = await server.admin.get("/clusters/oke-prod/metrics", params={"since": "5m"})
    assert r.status_code == 200 and len(r.json()["series"]) == 5
