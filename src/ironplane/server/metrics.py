"""The control plane's Prometheus metrics (``GET /metrics``), one registry per application.

Names (all prefixed ``ironplane_server_``; docs/observability.md lists them with their labels):

``http_requests_total{method,route,status}``, ``http_request_duration_seconds{method,route}``
    every HTTP request, labelled by its route *template* (``/api/v1/clusters/{cluster}``), so
    the number of series stays bounded whatever the paths;
``agents_connected``
    agent sessions held by this process;
``agent_frames_received_total{type}``, ``agent_frames_sent_total{type}``;
``desired_pushed_total{mode}``
    desired states sent to agents: ``full`` or ``delta``;
``agent_acks_total{result}``
    ``ok``, ``failed`` (the agent could not apply it) or ``ignored`` (a revision never sent);
``app_versions_total{reason}``
    app versions committed: ``apply`` or ``rollback``;
``gateway_usage_records_total``, ``telemetry_samples_total``
    gateway request-log records and agent telemetry samples stored;
``db_pool_connections{state}``
    the database pool: ``checked_out`` and ``idle`` connections (where the pool counts them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import event
from sqlalchemy.orm import Session

from ironplane.server.db.tables import AppVersionRow

if TYPE_CHECKING:
    from ironplane.server.agents.hub import Hub
    from ironplane.server.db.engine import Database

PREFIX = "ironplane_server_"
LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_INFO_KEY = "ironplane.metrics"
_NEW_VERSIONS = "ironplane.new_versions"
# No ``*_created`` series: the counters' start times say nothing here.
disable_created_metrics()  # type: ignore[no-untyped-call]


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            PREFIX + "http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            PREFIX + "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["method", "route"],
            buckets=LATENCY,
            registry=r,
        )
        self.frames_received = Counter(
            PREFIX + "agent_frames_received", "Frames received from agents.", ["type"], registry=r
        )
        self.frames_sent = Counter(
            PREFIX + "agent_frames_sent", "Frames sent to agents.", ["type"], registry=r
        )
        self.desired_pushed = Counter(
            PREFIX + "desired_pushed",
            "Desired states sent to agents: the full state or a delta.",
            ["mode"],
            registry=r,
        )
        self.acks = Counter(
            PREFIX + "agent_acks",
            "Acks received: ok, failed (not applied), ignored (a revision never sent).",
            ["result"],
            registry=r,
        )
        self.app_versions = Counter(
            PREFIX + "app_versions",
            "App versions committed, by reason (apply or rollback).",
            ["reason"],
            registry=r,
        )
        self.usage_records = Counter(
            PREFIX + "gateway_usage_records", "Gateway request-log records stored.", registry=r
        )
        self.telemetry_samples = Counter(
            PREFIX + "telemetry_samples", "Telemetry samples from agents stored.", registry=r
        )
        self._live = _Live()
        r.register(self._live)

    def watch(self, hub: Hub, db: Database) -> None:
        """Report the hub's sessions and the database pool at scrape time, and count the app
        versions that sessions of ``db`` commit."""
        self._live.hub, self._live.db = hub, db
        info = dict(db.sessions.kw.get("info") or {})
        info[_INFO_KEY] = self
        db.sessions.configure(info=info)

    def http(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "OTHER"
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_duration.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Live:
    """Gauges read when scraped."""

    def __init__(self) -> None:
        self.hub: Hub | None = None
        self.db: Database | None = None

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        agents = GaugeMetricFamily(
            PREFIX + "agents_connected", "Agent sessions held by this control-plane process."
        )
        agents.add_metric([], len(self.hub.sessions) if self.hub is not None else 0)
        yield agents
        pool = self.db.engine.pool if self.db is not None else None
        out, idle = getattr(pool, "checkedout", None), getattr(pool, "checkedin", None)
        if callable(out) and callable(idle):
            family = GaugeMetricFamily(
                PREFIX + "db_pool_connections",
                "Database connections of this process's pool, checked out or idle.",
                labels=["state"],
            )
            family.add_metric(["checked_out"], float(out()))
            family.add_metric(["idle"], float(idle()))
            yield family


# App versions are counted when their transaction commits (a dry run rolls back: not counted).


def _after_flush(session: Session, _context: Any) -> None:
    if _INFO_KEY not in session.info:
        return
    reasons = [obj.reason for obj in session.new if isinstance(obj, AppVersionRow)]
    if reasons:
        session.info.setdefault(_NEW_VERSIONS, []).extend(reasons)


def _after_commit(session: Session) -> None:
    reasons: list[str] = session.info.pop(_NEW_VERSIONS, [])
    metrics = session.info.get(_INFO_KEY)
    if isinstance(metrics, ServerMetrics):
        for reason in reasons:
            metrics.app_versions.labels(
                reason if reason in ("apply", "rollback") else "other"
            ).inc()


def _after_rollback(session: Session) -> None:
    session.info.pop(_NEW_VERSIONS, None)


event.listen(Session, "after_flush", _after_flush)
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_soft_rollback", lambda session, _tx: _after_rollback(session))
