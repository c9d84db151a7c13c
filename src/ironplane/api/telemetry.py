"""Time series for charts: agent telemetry (GPU use, request rates) and gateway usage buckets."""

from __future__ import annotations

from pydantic import Field

from ironplane.api.common import Response
from ironplane.api.gateway import UsageGroup


class MetricSeries(Response):
    """One series: a metric of one node (``labels: {node}``) or one app (``{workspace, app}``)."""

    name: str = Field(examples=["gpu_utilization"])
    labels: dict[str, str] = Field(examples=[{"node": "gpu-node-1"}])
    points: list[list[float]] = Field(
        examples=[[[1767225600.0, 87.5], [1767225630.0, 91.0]]],
        description="[unix time of the bucket's start, mean value in the bucket], oldest first",
    )


class SeriesSet(Response):
    since: float
    """Unix time the window starts at."""
    until: float
    step: int
    """Bucket width in seconds: each point is the mean of the samples in its bucket."""
    series: list[MetricSeries]


class UsageBucket(Response):
    """Gateway requests that started in one bucket ``[t, t + step)``."""

    t: float
    """Unix time of the bucket's start."""
    requests: int
    errors: int
    """Answers with a status of 400 or more."""
    p50_ms: float | None
    """Median latency in ms (None without requests): exact, interpolated between the closest
    ranks as PostgreSQL's ``percentile_cont``."""
    p99_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost: float


class UsageSeries(Response):
    group: str | None
    """The model, key or team; None for all requests (no ``by``) or keys in no team."""
    buckets: list[UsageBucket]
    """Only buckets with requests, oldest first."""


class UsageSeriesSet(Response):
    since: float
    until: float
    step: int
    by: UsageGroup | None
    series: list[UsageSeries]
