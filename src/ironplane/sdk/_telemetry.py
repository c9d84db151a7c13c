"""Calls of the telemetry series: node and app metrics, gateway usage over time."""

from __future__ import annotations

from collections.abc import Sequence

from ironplane.api.gateway import UsageGroup
from ironplane.api.telemetry import SeriesSet, UsageSeriesSet
from ironplane.sdk._call import Call, one, path


def cluster_metrics(
    cluster: str, *, names: Sequence[str] = (), since: str = "1h", step: str | None = None
) -> Call[SeriesSet]:
    """Per-node GPU series of a cluster (``gpu_utilization``, ``gpu_memory_used_bytes``...)
    over the last ``since``, averaged per ``step`` (default: the window over 300)."""
    params = {"name": ",".join(names) or None, "since": since, "step": step}
    return Call("GET", path("clusters", cluster, "metrics"), one(SeriesSet), params=params)


def app_metrics(
    workspace: str,
    app: str,
    *,
    names: Sequence[str] = (),
    since: str = "1h",
    step: str | None = None,
) -> Call[SeriesSet]:
    """An app's GPU and request series (``requests_per_second``, ``latency_p99_ms``...)."""
    params = {"name": ",".join(names) or None, "since": since, "step": step}
    return Call(
        "GET", path("workspaces", workspace, "apps", app, "metrics"), one(SeriesSet), params=params
    )


def gateway_usage_series(
    *, since: str = "24h", step: str = "5m", by: UsageGroup | None = None
) -> Call[UsageSeriesSet]:
    """Gateway requests, errors, p50/p99 latency, tokens and spend per ``step`` bucket over
    the last ``since`` (needs gateway.read); ``by`` splits it per model, key or team."""
    return Call(
        "GET",
        "/gateway/usage/series",
        one(UsageSeriesSet),
        params={"since": since, "step": step, "by": by},
    )
