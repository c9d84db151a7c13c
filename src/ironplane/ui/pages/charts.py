"""Chart data for the cluster and app pages: thin JSON routes over the telemetry service.

They answer what ``GET /api/v1/clusters/{cluster}/metrics`` and
``GET /api/v1/workspaces/{ws}/apps/{app}/metrics`` answer (the same service, the same access
rules), reshaped for ``static/charts.js``: one ``label`` per series, and bytes in GiB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from ironplane.api.permissions import Permission as P
from ironplane.api.telemetry import MetricSeries, SeriesSet
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import telemetry

router = APIRouter(include_in_schema=False)

GIB = 2**30


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart: the metrics it draws, its title and unit."""

    key: str
    title: str
    unit: str
    names: tuple[str, ...]

    def src(self, base: str) -> str:
        return base + "?" + "&".join(f"name={n}" for n in self.names)


NODE_CHARTS = (
    Chart("gpu-util", "GPU utilisation per node", "%", ("gpu_utilization",)),
    Chart("gpu-mem", "GPU memory used per node", "GiB", ("gpu_memory_used_bytes",)),
)
APP_CHARTS = (
    Chart("rps", "Requests per second", "req/s", ("requests_per_second",)),
    Chart("errors", "Errors per second", "err/s", ("errors_per_second",)),
    Chart("latency", "Latency p50 / p99", "ms", ("latency_p50_ms", "latency_p99_ms")),
    Chart("gpu-util", "GPU utilisation", "%", ("gpu_utilization",)),
    Chart("gpu-mem", "GPU memory used", "GiB", ("gpu_memory_used_bytes",)),
)
LABELS = {
    "latency_p50_ms": "p50",
    "latency_p99_ms": "p99",
}

_NAME = Query(default=[], max_length=100)
_SINCE = Query(default="1h", max_length=40)


def _label(s: MetricSeries, *, per_node: bool) -> str:
    if per_node:
        return s.labels.get("node", s.name)
    return LABELS.get(s.name, s.name.replace("_", " "))


def _scaled(s: MetricSeries) -> list[list[float]]:
    if s.name.endswith("_bytes"):
        return [[t, v / GIB] for t, v in s.points]
    return s.points


def chart_json(found: SeriesSet, *, per_node: bool) -> dict[str, Any]:
    return {
        "since": found.since,
        "until": found.until,
        "step": found.step,
        "series": [
            {
                "name": s.name,
                "label": _label(s, per_node=per_node),
                "labels": s.labels,
                "points": _scaled(s),
            }
            for s in found.series
        ],
    }


def latest(found: SeriesSet, *, per_node: bool) -> list[dict[str, Any]]:
    """The last point of each series: the text beside the charts."""
    rows = []
    for s in found.series:
        if not s.points:
            continue
        at, value = _scaled(s)[-1]
        rows.append(
            {
                "metric": s.name.replace("_bytes", "").replace("_", " "),
                "label": _label(s, per_node=per_node),
                "value": value,
                "unit": "GiB" if s.name.endswith("_bytes") else "",
                "at": at,
            }
        )
    return rows


def _json(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/clusters/{cluster}/series.json")
async def cluster_chart(
    cluster: str,
    name: list[str] = _NAME,
    since: str = _SINCE,
    a: Access = Depends(allow(P.CLUSTERS_READ, on="cluster")),
) -> JSONResponse:
    found = await telemetry.node_series(a.services, a.target.cluster_id, name, since=since)
    return _json(chart_json(found, per_node=True))


@router.get("/apps/{workspace}/{app}/series.json")
async def app_chart(
    workspace: str,
    app: str,
    name: list[str] = _NAME,
    since: str = _SINCE,
    a: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> JSONResponse:
    found = await telemetry.app_series(a.services, workspace, app, name, since=since)
    return _json(chart_json(found, per_node=False))
