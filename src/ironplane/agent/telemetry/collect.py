"""Read GPU use and request telemetry from Prometheus and turn it into per-node and per-app
samples.

Three instant queries per round:

``GPU``
    every ``DCGM_FI_DEV_GPU_UTIL`` (percent), ``DCGM_FI_DEV_FB_USED`` and ``DCGM_FI_DEV_FB_FREE``
    (MiB) series of NVIDIA's DCGM exporter, one per GPU (or per GPU and pod). The node is the
    exporter's ``Hostname`` label (the GPU Operator sets it to the node's name); the pod is its
    ``pod``/``namespace`` labels, or ``exported_pod``/``exported_namespace`` where Prometheus
    renamed them (a scrape without ``honor_labels`` whose target has labels of those names).
``requests_query``, ``latency_query``
    Istio's ``istio_requests_total`` and ``istio_request_duration_milliseconds_bucket`` rates
    over the window (``WINDOW``, 1m, by default), as the source proxies report them, by
    destination Service: the same matchers the rollout analysis and the rps autoscaler use
    (``compiler/analysis.py``, ``compiler/autoscaling.py``).

A GPU is counted once per node however many series name it (a GPU shared by pods shows once per
pod). The per-app latency quantiles are computed here from the app's summed bucket rates, as
Prometheus' ``histogram_quantile`` would (an app's Services can't be summed in PromQL without
knowing which app they belong to).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from ironplane.agent.metrics import AgentMetrics
from ironplane.agent.runtime import AppKey
from ironplane.agent.telemetry.owners import Owners
from ironplane.agent.telemetry.prometheus import Point, Prometheus, PrometheusError
from ironplane.wire.agent_protocol import Sample, TelemetryScope

log = logging.getLogger("ironplane.agent.telemetry")

MIB = 1024 * 1024
WINDOW = "1m"
"""The default rate window: the rps autoscaler's (``compiler/autoscaling.py``)."""
DCGM_FIELDS = {
    "DCGM_FI_DEV_GPU_UTIL": "util",
    "DCGM_FI_DEV_FB_USED": "used",
    "DCGM_FI_DEV_FB_FREE": "free",
}
"""The DCGM exporter's metrics read, and the ``_Gpus`` table of each."""
GPU = '{__name__=~"' + "|".join(DCGM_FIELDS) + '"}'
_BY = "destination_service_namespace, destination_service_name"


def requests_query(window: str = WINDOW) -> str:
    rate = f'rate(istio_requests_total{{reporter="source"}}[{window}])'
    return f"sum by ({_BY}, response_code) ({rate})"


def latency_query(window: str = WINDOW) -> str:
    rate = f'rate(istio_request_duration_milliseconds_bucket{{reporter="source"}}[{window}])'
    return f"sum by ({_BY}, le) ({rate})"


_NODE_LABELS = ("Hostname", "node", "kubernetes_node", "instance")


@dataclass
class _Gpus:
    """GPUs of one node or one app: utilisation and memory by GPU id."""

    util: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)
    free: dict[str, float] = field(default_factory=dict)

    def add(self, metric: str, gpu: str, value: float) -> None:
        table: dict[str, float] = getattr(self, DCGM_FIELDS[metric])
        table[gpu] = value

    def count(self) -> int:
        return len(self.util.keys() | self.used.keys() | self.free.keys())


def _first(labels: dict[str, str], *names: str) -> str | None:
    for name in names:
        if labels.get(name):
            return labels[name]
    return None


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile`` over (upper bound, cumulative rate) pairs; None when
    there is nothing to read (no ``+Inf`` bucket, or no observations)."""
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return None
    total = ordered[-1][1]
    if total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return previous_bound
            if count == previous_count:
                return bound
            lower = previous_bound if previous_bound < bound else 0.0
            return lower + (bound - lower) * (rank - previous_count) / (count - previous_count)
        previous_bound, previous_count = bound, count
    return previous_bound


class Telemetry:
    """``window``: the range of the rate queries; Prometheus needs two scrapes inside it (use
    at least four scrape intervals)."""

    def __init__(
        self, prometheus: Prometheus, metrics: AgentMetrics | None = None, *, window: str = WINDOW
    ) -> None:
        self.prometheus = prometheus
        self.metrics = metrics
        self.window = window
        self._failing: set[str] = set()

    async def collect(self, owners: Owners) -> list[Sample]:
        """One round of queries; a failed query leaves its samples out (and is logged once
        until it works again)."""
        samples: list[Sample] = []
        gpu = await self._query("gpu", GPU)
        if gpu is not None:
            samples += gpu_samples(gpu, owners)
        requests = await self._query("requests", requests_query(self.window))
        latency = await self._query("latency", latency_query(self.window))
        if requests is not None:
            samples += request_samples(requests, latency or [], owners)
        return samples

    async def _query(self, what: str, promql: str) -> list[Point] | None:
        try:
            points = await self.prometheus.query(promql)
        except PrometheusError as exc:
            if self.metrics is not None:
                self.metrics.prometheus_queries.labels("error").inc()
            if what not in self._failing:
                log.warning("telemetry: the %s query failed: %s", what, exc.message)
            self._failing.add(what)
            return None
        if self.metrics is not None:
            self.metrics.prometheus_queries.labels("ok").inc()
        if what in self._failing:
            log.info("telemetry: the %s query works again", what)
            self._failing.discard(what)
        return points


def gpu_samples(points: Iterable[Point], owners: Owners) -> list[Sample]:
    nodes: dict[str, _Gpus] = {}
    apps: dict[AppKey, _Gpus] = {}
    for point in points:
        labels = point.labels
        metric = labels.get("__name__", "")
        node = _first(labels, *_NODE_LABELS)
        if metric not in DCGM_FIELDS:
            continue
        gpu = _first(labels, "UUID", "gpu", "device") or "?"
        if node is not None:
            nodes.setdefault(node, _Gpus()).add(metric, gpu, point.value)
        pod = _first(labels, "exported_pod", "pod")
        namespace = _first(labels, "exported_namespace", "namespace")
        owner = owners.of_pod(namespace, pod) if pod and namespace else None
        if owner is not None:
            apps.setdefault(owner, _Gpus()).add(metric, f"{node}/{gpu}", point.value)
    out: list[Sample] = []
    for node, gpus in sorted(nodes.items()):
        out += _gpu_values(gpus, scope="node", node=node, free=True)
    for (workspace, app), gpus in sorted(apps.items()):
        out += _gpu_values(gpus, scope="app", workspace=workspace, app=app, free=False)
    return out


def _gpu_values(
    gpus: _Gpus,
    *,
    scope: TelemetryScope,
    free: bool,
    node: str | None = None,
    workspace: str | None = None,
    app: str | None = None,
) -> list[Sample]:
    values: list[tuple[str, float]] = [("gpu_count", float(gpus.count()))]
    if gpus.util:
        values.append(("gpu_utilization", sum(gpus.util.values()) / len(gpus.util)))
    if gpus.used:
        values.append(("gpu_memory_used_bytes", sum(gpus.used.values()) * MIB))
    if free and gpus.free:
        values.append(("gpu_memory_free_bytes", sum(gpus.free.values()) * MIB))
    return [
        Sample(
            scope=scope, name=name, value=round(value, 6), node=node, workspace=workspace, app=app
        )
        for name, value in values
    ]


def request_samples(
    requests: Iterable[Point], buckets: Iterable[Point], owners: Owners
) -> list[Sample]:
    rates: dict[AppKey, list[float]] = {}
    for point in requests:
        owner = _service_owner(point, owners)
        if owner is None:
            continue
        rate = rates.setdefault(owner, [0.0, 0.0])
        rate[0] += point.value
        if point.labels.get("response_code", "").startswith("5"):
            rate[1] += point.value
    histograms: dict[AppKey, dict[float, float]] = {}
    for point in buckets:
        owner = _service_owner(point, owners)
        try:
            bound = float(point.labels.get("le", ""))
        except ValueError:
            continue
        if owner is not None:
            histogram = histograms.setdefault(owner, {})
            histogram[bound] = histogram.get(bound, 0.0) + point.value
    out: list[Sample] = []
    for (workspace, app), (total, errors) in sorted(rates.items()):
        values: list[tuple[str, float]] = [
            ("requests_per_second", total),
            ("errors_per_second", errors),
        ]
        histogram = histograms.get((workspace, app), {})
        for q, name in ((0.5, "latency_p50_ms"), (0.99, "latency_p99_ms")):
            found = histogram_quantile(q, histogram.items())
            if found is not None:
                values.append((name, found))
        out += [
            Sample(scope="app", name=name, value=round(v, 6), workspace=workspace, app=app)
            for name, v in values
        ]
    return out


def _service_owner(point: Point, owners: Owners) -> AppKey | None:
    namespace = point.labels.get("destination_service_namespace")
    service = point.labels.get("destination_service_name")
    return owners.of_service(namespace, service) if namespace and service else None
