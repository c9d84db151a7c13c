"""Gateway metrics: plain counters on the request path, Prometheus text only when scraped.

Recording a request costs a dict lookup and a few list increments (prometheus-client's own
``Counter.labels().inc()`` costs several times more); ``/metrics`` turns the counters into
Prometheus families through a prometheus-client collector. With several workers each one
writes a snapshot of its counters to a shared directory once a second, and whichever worker
answers ``/metrics`` adds up its own live counters and the others' latest snapshots.

Names (all prefixed ``ironplane_gateway_``):

``requests_total{model,target,key,status}``
    requests answered after routing, by the status sent to the client;
``rejected_total{reason,status}``
    requests refused before routing (auth, bad input, unknown model, limits);
``upstream_errors_total{model,target,reason}``
    failed attempts (connect, timeout, reset, bad_response, status_429, status_5xx);
``retries_total{model}``, ``fallbacks_total{model,to}``;
``request_duration_seconds``, ``upstream_duration_seconds``, ``overhead_seconds``,
``time_to_first_token_seconds`` (histograms by model, target, key)
    whole request as the client saw it; upstream time of the attempt that answered; the
    gateway's own share (the whole minus the upstream's); first streamed byte;
``tokens_total{model,target,key,direction}``
    prompt (``in``) and completion (``out``) tokens from the upstream's usage;
``in_flight``, ``target_healthy{model,target}``, ``config_reloads_total{result}``;
``waiting_requests{model}``
    requests held now while the model's target starts (``cold_start``); KEDA wakes a Model
    scaled to zero on it, so every model with ``cold_start`` has the series, 0 when idle;
``cold_start_holds_total{model,result}``
    holds that ended: ``success`` (the target was reached), ``timeout`` (``cold_start`` ran
    out), ``cancelled`` (the client left).

``limit_backend{backend}``
    workers deciding limits with ``redis`` or with their ``local`` buckets (1 per worker: the
    sum over a gateway's workers; see ``governor.py``);
``budget_refusals_total{scope}``
    requests refused because a ``key``'s or ``team``'s budget is spent.

In control-plane mode (``snapshot.py``, ``shipper.py``):

``snapshot_age_seconds``, ``snapshot_stale``
    seconds since the control plane last confirmed the snapshot (absent before it ever did),
    and 1 while the gateway serves a snapshot that may be out of date (or has none yet);
``usage_shipped_total``, ``usage_dropped_total``
    request-log records accepted by the control plane, and dropped (buffer full, or refused).

The gauges (``in_flight``, ``waiting_requests``) are summed over workers like the counters; the
snapshot gauges are the same in every worker and are not.
"""

from __future__ import annotations

import contextlib
import os
from bisect import bisect_left
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

PREFIX = "ironplane_gateway_"
LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
OVERHEAD = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)
_HISTOGRAMS = {
    "request_duration_seconds": (LATENCY, "Whole request as the client saw it."),
    "upstream_duration_seconds": (LATENCY, "Upstream time of the attempt that answered."),
    "overhead_seconds": (OVERHEAD, "Time the gateway itself added: the whole minus upstream."),
    "time_to_first_token_seconds": (LATENCY, "From the request to the first streamed byte."),
}


class Histogram:
    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value


class Series:
    """Everything recorded for one (model, target, key)."""

    __slots__ = ("overhead", "request", "statuses", "tokens_in", "tokens_out", "ttft", "upstream")

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}
        self.request = Histogram(LATENCY)
        self.upstream = Histogram(LATENCY)
        self.overhead = Histogram(OVERHEAD)
        self.ttft = Histogram(LATENCY)
        self.tokens_in = 0
        self.tokens_out = 0


class Snapshot(msgspec.Struct):
    series: dict[str, Any] = {}
    rejected: dict[str, int] = {}
    upstream_errors: dict[str, int] = {}
    retries: dict[str, int] = {}
    fallbacks: dict[str, int] = {}
    reloads: dict[str, int] = {}
    in_flight: int = 0
    waiting: dict[str, int] = {}
    holds: dict[str, int] = {}
    limit_backend: dict[str, int] = {}
    budget_refusals: dict[str, int] = {}
    usage_shipped: int = 0
    usage_dropped: int = 0


_SEP = "\x1f"


class Metrics:
    def __init__(self, share_dir: str | None = None, worker: int = 0) -> None:
        self.enabled = True
        self.series: dict[tuple[str, str, str], Series] = {}
        self.rejected: dict[tuple[str, int], int] = {}
        self.upstream_errors: dict[tuple[str, str, str], int] = {}
        self.retries: dict[str, int] = {}
        self.fallbacks: dict[tuple[str, str], int] = {}
        self.reloads: dict[str, int] = {}
        self.in_flight = 0
        self.waiting: dict[str, int] = {}
        """Model -> requests held now for a starting target (see ``hold.py``)."""
        self.holds: dict[tuple[str, str], int] = {}
        self.limit_backend = "local"
        """Where this worker's limits are decided now: ``redis`` or ``local`` (governor.py)."""
        self.budget_refusals: dict[str, int] = {}
        self.health: Callable[[], Iterator[tuple[str, str, bool]]] = lambda: iter(())
        self.control_plane: Callable[[], tuple[float | None, bool] | None] = lambda: None
        """(snapshot age in seconds or None, stale) in control-plane mode, else None."""
        self.usage_shipped = 0
        self.usage_dropped = 0
        self.share_dir = share_dir
        self.worker = worker

    def of(self, model: str, target: str, key: str) -> Series:
        label = (model, target, key)
        found = self.series.get(label)
        if found is None:
            found = self.series[label] = Series()
        return found

    def reject(self, reason: str, status: int) -> None:
        label = (reason, status)
        self.rejected[label] = self.rejected.get(label, 0) + 1

    def upstream_error(self, model: str, target: str, reason: str) -> None:
        label = (model, target, reason)
        self.upstream_errors[label] = self.upstream_errors.get(label, 0) + 1

    def retry(self, model: str) -> None:
        self.retries[model] = self.retries.get(model, 0) + 1

    def fallback(self, model: str, to: str) -> None:
        self.fallbacks[(model, to)] = self.fallbacks.get((model, to), 0) + 1

    def reloaded(self, result: str) -> None:
        self.reloads[result] = self.reloads.get(result, 0) + 1

    def budget_refused(self, scope: str) -> None:
        self.budget_refusals[scope] = self.budget_refusals.get(scope, 0) + 1

    def hold_ended(self, model: str, result: str) -> None:
        label = (model, result)
        self.holds[label] = self.holds.get(label, 0) + 1

    # -- snapshots shared between workers -------------------------------------------------

    def snapshot(self) -> Snapshot:
        def j(label: tuple[Any, ...]) -> str:
            return _SEP.join(map(str, label))

        return Snapshot(
            series={
                j(label): [
                    {str(k): v for k, v in s.statuses.items()},
                    [[h.counts, h.total] for h in (s.request, s.upstream, s.overhead, s.ttft)],
                    s.tokens_in,
                    s.tokens_out,
                ]
                for label, s in self.series.items()
            },
            rejected={j(k): v for k, v in self.rejected.items()},
            upstream_errors={j(k): v for k, v in self.upstream_errors.items()},
            retries=dict(self.retries),
            fallbacks={j(k): v for k, v in self.fallbacks.items()},
            reloads=dict(self.reloads),
            in_flight=self.in_flight,
            waiting=dict(self.waiting),
            holds={j(k): v for k, v in self.holds.items()},
            limit_backend={self.limit_backend: 1},
            budget_refusals=dict(self.budget_refusals),
            usage_shipped=self.usage_shipped,
            usage_dropped=self.usage_dropped,
        )

    def publish(self) -> None:
        """Write this worker's snapshot for the others (atomically: write, then rename)."""
        if self.share_dir is None:
            return
        path = Path(self.share_dir) / f"worker-{self.worker}.snap"
        tmp = path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            tmp.write_bytes(msgspec.msgpack.encode(self.snapshot()))
            os.replace(tmp, path)

    def _others(self) -> list[Snapshot]:
        if self.share_dir is None:
            return []
        out = []
        for path in Path(self.share_dir).glob("worker-*.snap"):
            if path.name == f"worker-{self.worker}.snap":
                continue
            with contextlib.suppress(OSError, msgspec.DecodeError, msgspec.ValidationError):
                out.append(msgspec.msgpack.decode(path.read_bytes(), type=Snapshot))
        return out

    # -- exposition ---------------------------------------------------------------------------

    def render(self) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        return generate_latest(registry)


def _add(table: dict[str, Any], key: str, value: Any) -> None:
    table[key] = table.get(key, 0) + value


class _Collector:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        merged = self.metrics.snapshot()
        for other in self.metrics._others():
            for field in (
                "rejected",
                "upstream_errors",
                "retries",
                "fallbacks",
                "reloads",
                "waiting",
                "holds",
                "limit_backend",
                "budget_refusals",
            ):
                mine = getattr(merged, field)
                for k, v in getattr(other, field).items():
                    _add(mine, k, v)
            merged.in_flight += other.in_flight
            merged.usage_shipped += other.usage_shipped
            merged.usage_dropped += other.usage_dropped
            for label, (statuses, hists, t_in, t_out) in other.series.items():
                if label not in merged.series:
                    merged.series[label] = [statuses, hists, t_in, t_out]
                    continue
                row = merged.series[label]
                for code, n in statuses.items():
                    _add(row[0], code, n)
                for mine, theirs in zip(row[1], hists, strict=True):
                    mine[0] = [a + b for a, b in zip(mine[0], theirs[0], strict=True)]
                    mine[1] += theirs[1]
                row[2] += t_in
                row[3] += t_out
        yield from _families(merged, self.metrics)


def _split(label: str) -> list[str]:
    return label.split(_SEP)


def _families(snap: Snapshot, metrics: Metrics) -> Iterator[Metric]:
    labels = ["model", "target", "key"]
    requests = CounterMetricFamily(
        PREFIX + "requests", "Requests answered after routing.", labels=[*labels, "status"]
    )
    tokens = CounterMetricFamily(
        PREFIX + "tokens", "Prompt (in) and completion (out) tokens.", labels=[*labels, "direction"]
    )
    hists = [
        HistogramMetricFamily(PREFIX + name, doc, labels=labels)
        for name, (_, doc) in _HISTOGRAMS.items()
    ]
    bounds = [b for b, _ in _HISTOGRAMS.values()]
    for label, (statuses, rows, t_in, t_out) in sorted(snap.series.items()):
        values = _split(label)
        for code, n in sorted(statuses.items()):
            requests.add_metric([*values, code], n)
        tokens.add_metric([*values, "in"], t_in)
        tokens.add_metric([*values, "out"], t_out)
        for family, edges, (counts, total) in zip(hists, bounds, rows, strict=True):
            running, buckets = 0, []
            for edge, n in zip((*edges, float("inf")), counts, strict=True):
                running += n
                buckets.append(("+Inf" if edge == float("inf") else repr(edge), running))
            family.add_metric(values, buckets, total)
    yield requests
    yield tokens
    yield from hists
    simple: tuple[tuple[str, str, list[str], dict[str, int]], ...] = (
        ("rejected", "Requests refused before routing.", ["reason", "status"], snap.rejected),
        (
            "upstream_errors",
            "Failed upstream attempts.",
            ["model", "target", "reason"],
            snap.upstream_errors,
        ),
        ("retries", "Attempts after a failed one.", ["model"], snap.retries),
        ("fallbacks", "Requests passed to a fallback model.", ["model", "to"], snap.fallbacks),
        ("config_reloads", "Configuration reloads.", ["result"], snap.reloads),
        (
            "budget_refusals",
            "Requests refused because a key's or team's budget is spent.",
            ["scope"],
            snap.budget_refusals,
        ),
        (
            "cold_start_holds",
            "Holds for a starting target that ended, by result (success, timeout, cancelled).",
            ["model", "result"],
            snap.holds,
        ),
    )
    for name, doc, names, table in simple:
        counter = CounterMetricFamily(PREFIX + name, doc, labels=names)
        for label, n in sorted(table.items()):
            counter.add_metric(_split(label), n)
        yield counter
    in_flight = GaugeMetricFamily(PREFIX + "in_flight", "Requests being served now.")
    in_flight.add_metric([], snap.in_flight)
    yield in_flight
    waiting = GaugeMetricFamily(
        PREFIX + "waiting_requests",
        "Requests held now while the model's target starts (cold_start); wakes it from zero.",
        labels=["model"],
    )
    for model, n in sorted(snap.waiting.items()):
        waiting.add_metric([model], n)
    yield waiting
    backend = GaugeMetricFamily(
        PREFIX + "limit_backend",
        "Workers deciding limits with Redis (shared) or locally (no Redis, or Redis away).",
        labels=["backend"],
    )
    for name in ("local", "redis"):
        backend.add_metric([name], snap.limit_backend.get(name, 0))
    yield backend
    healthy = GaugeMetricFamily(
        PREFIX + "target_healthy",
        "1 while a target takes traffic, 0 while it cools down (this worker's view).",
        labels=["model", "target"],
    )
    for model, target, ok in metrics.health():
        healthy.add_metric([model, target], 1.0 if ok else 0.0)
    yield healthy
    yield from _control_plane(snap, metrics)


def _control_plane(snap: Snapshot, metrics: Metrics) -> Iterator[Metric]:
    view = metrics.control_plane()
    if view is None:
        return
    age, stale = view
    if age is not None:
        gauge = GaugeMetricFamily(
            PREFIX + "snapshot_age_seconds",
            "Seconds since the control plane last confirmed the snapshot serving now.",
        )
        gauge.add_metric([], age)
        yield gauge
    flag = GaugeMetricFamily(
        PREFIX + "snapshot_stale",
        "1 while the snapshot may be out of date (control plane unreachable, or none yet).",
    )
    flag.add_metric([], 1.0 if stale else 0.0)
    yield flag
    for name, doc, value in (
        ("usage_shipped", "Request-log records the control plane took.", snap.usage_shipped),
        ("usage_dropped", "Request-log records dropped (buffer full).", snap.usage_dropped),
    ):
        counter = CounterMetricFamily(PREFIX + name, doc)
        counter.add_metric([], value)
        yield counter
