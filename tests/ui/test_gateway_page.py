"""The gateway page: models and keys of the snapshot (never a hash or secret), usage by group,
and the chart data over time from the request logs a gateway posted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import Server, make_settings, pg_database, pg_ok, start

__all__ = ["pg_database", "pg_ok"]  # fixtures: PostgreSQL for one test
from tests.server.helpers import apply_yaml, gateway_token, set_status
from tests.ui.agent_fakes import sign_in, user
from tests.ui.conftest import signed_in

pytestmark = pytest.mark.anyio

PLATFORM = (
    "kind: Cluster\nname: oke-prod\nprovider: oci\nregion: us-ashburn-1\n---\n"
    "kind: Workspace\nname: prod\ncluster: oke-prod\ngpu: true\n"
)
LLAMA = (
    "kind: Model\nname: llama\nworkspace: prod\nengine: vllm\n"
    "model: meta-llama/Llama-3.1-8B-Instruct\nresources: {gpu: {count: 1, type: H100}}\n"
    "gateway: {name: llama-3.1-8b}\n"
)


def record(at: float, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "at": at,
        "key": "user:alice",
        "team": "ml",
        "model": "llama-3.1-8b",
        "target": "model:prod/llama",
        "status": 200,
        "latency_ms": 100.0,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "cost": 0.001,
        "stream": False,
    }
    return base | fields


async def setup(server: Server) -> None:
    await apply_yaml(server.admin, PLATFORM, LLAMA)
    await set_status(
        server,
        "prod",
        "llama",
        {
            "phase": "Progressing",
            "rollout": {"strategy": "canary", "phase": "Progressing", "canary_weight": 20},
        },
    )
    now = time.time()
    records = [
        record(now - 120, latency_ms=100.0),
        record(now - 110, latency_ms=200.0, status=500),
        record(now - 100, latency_ms=300.0, cost=0.01),
        record(now - 90, key="user:bob", team=None, model="mistral", latency_ms=50.0),
    ]
    gw = server.client(await gateway_token(server))
    r = await gw.post("/gateway/usage", json={"gateway": "gw-1", "records": records})
    assert r.status_code == 202 and r.json() == {"accepted": 4}, r.text


async def test_models_keys_and_usage(server: Server) -> None:
    await setup(server)
    snapshot = (await server.admin.get("/gateway/snapshot")).json()
    hashes = [k["hash"] for k in snapshot["config"]["keys"]]
    assert hashes
    client = await signed_in(server)
    r = await client.get("/ui/gateway")
    assert r.status_code == 200
    html = r.text
    # models: name, app, targets, canary weight
    assert "<code>llama-3.1-8b</code>" in html and "prod/llama" in html
    assert "http://llama-canary.prod.svc.cluster.local:8000/v1" in html and "20%" in html
    # keys: owners and token ids, never a hash or a secret
    assert "service_account:gw" in html and "user:admin" in html
    for h in hashes:
        assert h not in html and h.removeprefix("sha256:") not in html
    assert server.admin_token not in html and "sha256:" not in html
    # usage by model, with the totals as the charts' text alternative
    assert "<td>llama-3.1-8b</td>" in html and "<td>mistral</td>" in html
    assert '<table id="usage-totals">' in html and "<td>4</td>" in html
    assert html.count('class="chart"') == 4 and 'aria-describedby="usage-totals"' in html
    assert "gw-1" in html, "the replica that shipped the logs"
    by_key = (await client.get("/ui/gateway?by=key&since=1h")).text
    assert "<td>user:alice</td>" in by_key and "<td>user:bob</td>" in by_key
    by_team = (await client.get("/ui/gateway?by=team")).text
    assert '<span class="muted">(none)</span>' in by_team
    r = await client.get("/ui/gateway?since=forever")
    assert r.status_code == 400 and "is not a duration" in r.text


async def test_chart_series_from_the_request_logs(server: Server) -> None:
    await setup(server)
    client = await signed_in(server)
    r = await client.get(
        "/ui/gateway/series.json", params={"measure": "requests,errors", "since": "1h"}
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["step"] == 60
    requests, errors = body["series"]
    assert requests["labels"] == {"measure": "requests"} and requests["label"] == "requests"
    assert sum(v for _, v in requests["points"]) == 4 and sum(v for _, v in errors["points"]) == 1
    assert len(requests["points"]) >= 60, "buckets without requests are 0, not missing"
    assert all(t % 60 == 0 for t, _ in requests["points"])

    r = await client.get(
        "/ui/gateway/series.json",
        params={"measure": "p50_ms,p99_ms,tokens,cost", "since": "1h", "by": "model"},
    )
    series = {(s["labels"]["model"], s["labels"]["measure"]): s for s in r.json()["series"]}
    llama = {
        m: series[("llama-3.1-8b", m)]["points"] for m in ("p50_ms", "p99_ms", "tokens", "cost")
    }
    assert sum(v for _, v in llama["tokens"]) == 90
    assert sum(v for _, v in llama["cost"]) == pytest.approx(0.012)
    # latency percentiles only where there were requests; the three llama requests may fall in
    # one or two buckets: check each bucket against the API's numbers
    api = (
        await server.admin.get(
            "/gateway/usage/series", params={"since": "1h", "step": "1m", "by": "model"}
        )
    ).json()
    buckets = {
        b["t"]: b for s in api["series"] if s["group"] == "llama-3.1-8b" for b in s["buckets"]
    }
    assert sum(b["requests"] for b in buckets.values()) == 3
    assert [[t, buckets[t]["p50_ms"]] for t in sorted(buckets)] == llama["p50_ms"]
    assert [[t, buckets[t]["p99_ms"]] for t in sorted(buckets)] == llama["p99_ms"]
    if len(buckets) == 1:
        assert llama["p50_ms"][0][1] == 200.0 and llama["p99_ms"][0][1] == pytest.approx(298.0)
    assert series[("mistral", "tokens")]["points"][-1][1] in (0, 30)

    r = await client.get("/ui/gateway/series.json", params={"measure": "bogus"})
    assert r.status_code == 400


async def test_chart_series_of_a_window_shorter_than_a_step(server: Server) -> None:
    """The page offers any ``since`` it renders; a window under the smallest step (60 s) is
    charted in one step's buckets, not refused."""
    await setup(server)
    client = await signed_in(server)
    assert (await client.get("/ui/gateway?since=30s")).status_code == 200
    r = await client.get("/ui/gateway/series.json", params={"measure": "requests", "since": "30s"})
    assert r.status_code == 200, r.text
    assert r.json()["step"] == 60


async def test_needs_gateway_read(server: Server) -> None:
    await setup(server)
    await user(server, "vic", "viewer", None)
    viewer = await sign_in(server, "vic")
    assert (await viewer.get("/ui/gateway")).status_code == 403
    assert (await viewer.get("/ui/gateway/series.json?measure=requests")).status_code == 403
    assert 'href="/ui/gateway"' not in (await viewer.get("/ui/")).text
    await user(server, "wanda", "admin", ("workspace", "prod"))
    scoped = await sign_in(server, "wanda")
    assert (await scoped.get("/ui/gateway")).status_code == 403


async def test_series_on_postgresql(tmp_path: Path, pg_database: str) -> None:
    """PostgreSQL computes the percentiles in SQL (``percentile_cont``): the same numbers."""
    async for server in start(make_settings(tmp_path, pg_database), "postgres"):
        await setup(server)
        client = await signed_in(server)
        r = await client.get(
            "/ui/gateway/series.json",
            params={"measure": "requests,p50_ms,p99_ms", "since": "1h", "by": "model"},
        )
        assert r.status_code == 200, r.text
        series = {(s["labels"]["model"], s["labels"]["measure"]): s for s in r.json()["series"]}
        assert sum(v for _, v in series[("llama-3.1-8b", "requests")]["points"]) == 3
        p50 = series[("llama-3.1-8b", "p50_ms")]["points"]
        p99 = series[("llama-3.1-8b", "p99_ms")]["points"]
        if len(p50) == 1:
            assert p50[0][1] == 200.0 and p99[0][1] == pytest.approx(298.0)
        assert all(t % 60 == 0 for t, _ in p50)
        assert series[("mistral", "p50_ms")]["points"][0][1] == 50.0
