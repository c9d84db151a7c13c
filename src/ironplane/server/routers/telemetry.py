"""Time series for charts: node and app telemetry from the agents, gateway usage buckets."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ironplane.api.gateway import UsageGroup
from ironplane.api.permissions import Permission as P
from ironplane.api.telemetry import SeriesSet, UsageSeriesSet
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import telemetry, usage_series
from ironplane.server.services.usage import parse_since

router = APIRouter()

_NAME = Query(
    default=[],
    max_length=20,
    description="metric names (repeat the parameter, or separate them with commas); none: all",
)
_SINCE = Query(default="1h", max_length=40, description="how far back: 15m, 1h, 24h, 2d")
_STEP = Query(
    default=None,
    max_length=40,
    description="bucket width (30s, 5m); default: the window over 300",
)


def _names(given: list[str]) -> list[str]:
    return [n.strip() for value in given for n in value[:2000].split(",") if n.strip()][:50]


@router.get("/clusters/{cluster}/metrics", tags=["clusters"])
async def cluster_metrics(
    cluster: str,
    name: list[str] = _NAME,
    since: str = _SINCE,
    step: str | None = _STEP,
    a: Access = Depends(allow(P.CLUSTERS_READ, on="cluster")),
) -> SeriesSet:
    """Per-node series the cluster's agent reads from its Prometheus: ``gpu_utilization``,
    ``gpu_memory_used_bytes``, ``gpu_memory_free_bytes``, ``gpu_count`` (labels: ``node``)."""
    return await telemetry.node_series(
        a.services, a.target.cluster_id, _names(name), since=since, step=step
    )


@router.get("/workspaces/{workspace}/apps/{app}/metrics", tags=["apps"])
async def app_metrics(
    workspace: str,
    app: str,
    name: list[str] = _NAME,
    since: str = _SINCE,
    step: str | None = _STEP,
    a: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> SeriesSet:
    """The app's series: GPU use of its pods (``gpu_utilization``, ``gpu_memory_used_bytes``,
    ``gpu_count``) and its traffic through Istio (``requests_per_second``,
    ``errors_per_second``, ``latency_p50_ms``, ``latency_p99_ms``); labels ``workspace``,
    ``app``."""
    return await telemetry.app_series(
        a.services, workspace, app, _names(name), since=since, step=step
    )


@router.get("/gateway/usage/series", tags=["gateway"])
async def usage_series_of(
    since: str = Query(default="24h", max_length=40, description="15m, 24h, 7d (at most 90d)"),
    step: str | None = Query(
        default="5m", max_length=40, description="bucket width; widened to at most 2000 buckets"
    ),
    by: UsageGroup | None = Query(
        default=None, description="one series per model, key or team; none: all requests"
    ),
    a: Access = Depends(allow(P.GATEWAY_READ)),
) -> UsageSeriesSet:
    """Gateway requests, errors, p50/p99 latency, tokens and spend per time bucket."""
    window = parse_since(since)
    async with a.services.db.session() as s:
        return await usage_series.series(
            a.services.db, s, window=window, step=telemetry.step_of(window, step), by=by
        )
