"""Agent telemetry: store the samples of ``Metrics`` frames, prune them, serve them as series.

A frame's samples are checked and bounded (an agent is trusted with its own cluster only: app
samples of workspaces that are not on its cluster are dropped) and stored with one multi-row
INSERT. Rows older than ``telemetry_retention_hours`` are deleted at most every
``PRUNE_EVERY_S`` per process, after a report's own transaction.

Series come back averaged into buckets of ``step`` seconds (SQL ``GROUP BY``), ready to chart:
``{"series": [{"name", "labels", "points": [[unix_ts, value], ...]}]}``.
"""

from __future__ import annotations

import logging
import math
import re
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, cast, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.telemetry import MetricSeries, SeriesSet
from ironplane.core.errors import InvalidError, NotFoundError
from ironplane.server.context import Services
from ironplane.server.db.engine import Database
from ironplane.server.db.tables import AppRow, TelemetrySampleRow, WorkspaceRow
from ironplane.server.db.types import utcnow
from ironplane.server.services.pruning import LastPrune, delete_if_due
from ironplane.wire import agent_protocol as proto

log = logging.getLogger("ironplane.server.telemetry")

MAX_SAMPLES = 20_000
MAX_SERIES = 1_000
"""Series in one answer (a chart of more says nothing; the query is bounded too)."""
"""Samples stored from one frame at most (the rest are dropped, and logged)."""
MAX_LABELS = 8
MAX_SKEW_S = 300.0
"""A frame stamped further than this from the server's clock is stored at the server's time."""
PRUNE_EVERY_S = 600.0
MAX_POINTS = 2000
"""Points per series at most: a smaller ``step`` is widened to fit."""
NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")

_last_prune: LastPrune = weakref.WeakKeyDictionary()


def parse_window(text: str, what: str, *, most: timedelta) -> timedelta:
    """``30s``, ``15m``, ``24h``, ``2d``, ``1d12h``: positive and at most ``most``."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        hint = f" (add a unit: {text.strip()}m?)" if text.strip().isdigit() else ""
        raise InvalidError(f"{what}: {text[:40]!r} is not a duration{hint}; use 30s, 5m, 24h, 2d")
    d, h, m, s = (min(int(g or 0), 10**6) for g in match.groups())
    window = timedelta(days=d, hours=h, minutes=m, seconds=s)
    if window <= timedelta(0):
        raise InvalidError(f"{what}: {text!r} is an empty window")
    if window > most:
        raise InvalidError(f"{what}: {text!r} is longer than {_human(most)}")
    return window


def _human(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} hours"


def step_of(window: timedelta, step: str | None) -> int:
    """Bucket width in whole seconds: the given ``step``, widened so that a series has at most
    ``MAX_POINTS`` points; by default the window over 300 (at least 10 s)."""
    span = window.total_seconds()
    if step is None:
        seconds = max(10, math.ceil(span / 300))
    else:
        seconds = max(1, int(parse_window(step, "step", most=window).total_seconds()))
    return max(seconds, math.ceil(span / MAX_POINTS))


def epoch_bucket(db: Database, column: Any, step: int) -> ColumnElement[int]:
    """``floor(unix_time(column) / step) * step`` in integer arithmetic on SQLite and PostgreSQL
    (``//``: SQLAlchemy 2 renders ``/`` of integers as a true division)."""
    if db.is_sqlite:
        seconds: ColumnElement[int] = cast(func.strftime("%s", column), Integer)
    else:
        seconds = cast(func.floor(func.extract("epoch", column)), BigInteger)
    return (seconds // step) * step


# -- storing


def _cut(text: str | None, limit: int) -> str | None:
    return text[:limit] if text else None


def rows_of(
    cluster_id: int,
    frame: proto.Metrics,
    own: set[str],
    now: datetime,
    nodes: set[str] | None = None,
) -> list[dict[str, Any]]:
    """The rows of a frame's valid samples (invalid ones are skipped). ``nodes``: the node
    names of the cluster's inventory; node samples of other names are skipped (an agent cannot
    make up series)."""
    at = now
    if math.isfinite(frame.at) and abs(frame.at - now.timestamp()) <= MAX_SKEW_S:
        at = datetime.fromtimestamp(frame.at, UTC)
    rows = []
    for sample in frame.samples[:MAX_SAMPLES]:
        if not NAME.match(sample.name) or not math.isfinite(sample.value):
            continue
        if sample.scope == "node":
            if not sample.node or (nodes is not None and sample.node not in nodes):
                continue
            node, workspace, app = _cut(sample.node, 253), None, None
        else:
            if not sample.workspace or not sample.app or sample.workspace not in own:
                continue  # an agent reports on its own cluster's workspaces only
            node, workspace, app = None, _cut(sample.workspace, 63), _cut(sample.app, 63)
        labels = {str(k)[:63]: str(v)[:200] for k, v in list(sample.labels.items())[:MAX_LABELS]}
        rows.append(
            {
                "cluster_id": cluster_id,
                "at": at,
                "scope": sample.scope,
                "name": sample.name,
                "node": node,
                "workspace": workspace,
                "app": app,
                "labels": labels,
                "value": sample.value,
            }
        )
    return rows


async def store(
    services: Services,
    session: AsyncSession,
    cluster_id: int,
    frame: proto.Metrics,
    own: set[str],
    nodes: set[str] | None = None,
) -> int:
    """Insert a frame's samples in ``session``'s transaction; returns how many were stored."""
    if len(frame.samples) > MAX_SAMPLES:
        log.warning(
            "an agent sent %d telemetry samples in one frame; kept the first %d",
            len(frame.samples),
            MAX_SAMPLES,
        )
    rows = rows_of(cluster_id, frame, own, utcnow(), nodes)
    if rows:
        await session.execute(insert(TelemetrySampleRow), rows)
        services.metrics.telemetry_samples.inc(len(rows))
    return len(rows)


async def prune_if_due(services: Services, now: datetime | None = None) -> int | None:
    """Delete samples older than the retention, at most every ``PRUNE_EVERY_S`` per process
    and database; the number deleted, or None when not due or failed."""
    oldest = (now or utcnow()) - timedelta(hours=services.settings.telemetry_retention_hours)
    stmt = delete(TelemetrySampleRow).where(TelemetrySampleRow.at < oldest)
    return await delete_if_due(
        services.db, _last_prune, PRUNE_EVERY_S, stmt, log=log, what="telemetry samples"
    )


# -- series


async def series(
    services: Services,
    session: AsyncSession,
    *,
    window: timedelta,
    step: int,
    names: list[str],
    cluster_id: int | None = None,
    workspace: str | None = None,
    app: str | None = None,
    now: datetime | None = None,
) -> SeriesSet:
    """A cluster's node series (``cluster_id``) or an app's series (``workspace``, ``app``)."""
    for name in names:
        if not NAME.match(name):
            raise InvalidError(f"name: {name[:60]!r} is not a metric name (e.g. gpu_utilization)")
    t = TelemetrySampleRow
    bucket = epoch_bucket(services.db, t.at, step).label("bucket")
    end = now or utcnow()
    stmt = select(t.name, t.node, t.workspace, t.app, bucket, func.avg(t.value)).where(
        t.at >= end - window
    )
    if cluster_id is not None:
        stmt = stmt.where(t.cluster_id == cluster_id, t.scope == "node")
    else:
        stmt = stmt.where(t.workspace == workspace, t.app == app, t.scope == "app")
    if names:
        stmt = stmt.where(t.name.in_(names))
    stmt = stmt.group_by(t.name, t.node, t.workspace, t.app, bucket).order_by(
        t.name, t.node, bucket
    )
    found: dict[tuple[str, str | None, str | None, str | None], list[list[float]]] = {}
    for name, node, ws, app_name, at, value in (await session.execute(stmt)).all():
        if value is None or not math.isfinite(float(value)):
            continue
        found.setdefault((name, node, ws, app_name), []).append([float(at), float(value)])
    if len(found) > MAX_SERIES:
        log.warning(
            "a telemetry query matched %d series; answering the first %d", len(found), MAX_SERIES
        )
    out = []
    for (name, node, ws, app_name), points in list(found.items())[:MAX_SERIES]:
        labels = {"node": node} if node is not None else {"workspace": ws, "app": app_name}
        out.append(
            MetricSeries(name=name, labels={k: str(v) for k, v in labels.items()}, points=points)
        )
    return SeriesSet(since=(end - window).timestamp(), until=end.timestamp(), step=step, series=out)


def window_of(services: Services, since: str) -> timedelta:
    """``since`` (``15m``, ``24h``) as a window no longer than the telemetry kept."""
    hours = services.settings.telemetry_retention_hours
    return parse_window(since, "since", most=timedelta(hours=hours))


async def node_series(
    services: Services,
    cluster_id: int | None,
    names: list[str],
    *,
    since: str,
    step: str | None = None,
) -> SeriesSet:
    """A cluster's node series over the last ``since``, in buckets of ``step`` (``step_of``)."""
    window = window_of(services, since)
    width = step_of(window, step)
    async with services.db.session() as s:
        return await series(
            services, s, window=window, step=width, names=names, cluster_id=cluster_id
        )


async def app_series(
    services: Services,
    workspace: str,
    app: str,
    names: list[str],
    *,
    since: str,
    step: str | None = None,
) -> SeriesSet:
    """An app's series over the last ``since``, in buckets of ``step`` (``step_of``); 404 for
    an app that does not exist (even once deleted it has history)."""
    window = window_of(services, since)
    width = step_of(window, step)
    async with services.db.session() as s:
        found = await s.scalar(
            select(AppRow.id)
            .join(WorkspaceRow, WorkspaceRow.id == AppRow.workspace_id)
            .where(WorkspaceRow.name == workspace, AppRow.name == app)
        )
        if found is None:
            raise NotFoundError(f"app {app!r} not found in workspace {workspace!r}")
        return await series(
            services, s, window=window, step=width, names=names, workspace=workspace, app=app
        )
