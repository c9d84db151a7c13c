"""Gateway request logs over time: requests, errors, latency percentiles, tokens and spend per
time bucket, for all requests or per model, key or team.

Buckets are aligned to multiples of ``step`` seconds since the epoch, so a bucket has the same
timestamp whenever it is asked for; only buckets with requests are returned. Counts and sums are
one ``GROUP BY`` over (bucket, group). Latency percentiles are exact: PostgreSQL's
``percentile_cont`` there; SQLite has none, so they are computed here from the bucket's
latencies with the same linear interpolation.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.gateway import UsageGroup
from ironplane.api.telemetry import UsageBucket, UsageSeries, UsageSeriesSet
from ironplane.server.db.engine import Database
from ironplane.server.db.tables import GatewayUsageRow
from ironplane.server.db.types import utcnow
from ironplane.server.services.telemetry import epoch_bucket
from ironplane.server.services.usage import GROUP_COLUMNS, finite

_QUANTILES = (0.5, 0.99)

Key = tuple[str | None, int]
"""(group, bucket start)."""


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks (PostgreSQL's ``percentile_cont``)."""
    if not sorted_values:
        return 0.0
    pos = q * (len(sorted_values) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


async def series(
    db: Database,
    session: AsyncSession,
    *,
    window: timedelta,
    step: int,
    by: UsageGroup | None = None,
    now: datetime | None = None,
) -> UsageSeriesSet:
    """The buckets of ``now - window .. now``, one series per group of ``by`` (or one for all
    requests), groups by name (requests of keys in no team last)."""
    end = now or utcnow()
    start = end - window
    bucket = epoch_bucket(db, GatewayUsageRow.at, step).label("bucket")
    group = GROUP_COLUMNS[by] if by is not None else None
    keys: list[Any] = [bucket] if group is None else [bucket, group]
    where = GatewayUsageRow.at >= start
    rows = (
        await session.execute(
            select(
                *keys,
                func.count(),
                func.sum(case((GatewayUsageRow.status >= 400, 1), else_=0)),
                func.sum(GatewayUsageRow.prompt_tokens),
                func.sum(GatewayUsageRow.completion_tokens),
                func.sum(GatewayUsageRow.cost),
            )
            .where(where)
            .group_by(*keys)
        )
    ).all()
    quantiles = await _quantiles(db, session, keys, where)
    found: dict[str | None, list[UsageBucket]] = defaultdict(list)
    for row in rows:
        t = int(row[0])
        g = row[1] if group is not None else None
        n, errors, prompt, completion, cost = row[-5:]
        p50, p99 = quantiles.get((g, t), (None, None))
        found[g].append(
            UsageBucket(
                t=float(t),
                requests=int(n),
                errors=int(errors or 0),
                p50_ms=None if p50 is None else round(p50, 3),
                p99_ms=None if p99 is None else round(p99, 3),
                prompt_tokens=int(prompt or 0),
                completion_tokens=int(completion or 0),
                cost=finite(cost),
            )
        )
    out = [
        UsageSeries(group=g, buckets=sorted(buckets, key=lambda b: b.t))
        for g, buckets in sorted(found.items(), key=lambda item: (item[0] is None, item[0] or ""))
    ]
    return UsageSeriesSet(
        since=start.timestamp(), until=end.timestamp(), step=step, by=by, series=out
    )


async def _quantiles(
    db: Database, session: AsyncSession, keys: list[Any], where: ColumnElement[bool]
) -> dict[Key, tuple[float, float]]:
    grouped = len(keys) > 1
    latency = GatewayUsageRow.latency_ms
    out: dict[Key, tuple[float, float]] = {}
    if not db.is_sqlite:
        columns = [func.percentile_cont(q).within_group(latency) for q in _QUANTILES]
        result = await session.execute(select(*keys, *columns).where(where).group_by(*keys))
        for row in result.all():
            out[(row[1] if grouped else None, int(row[0]))] = (finite(row[-2]), finite(row[-1]))
        return out
    values: dict[Key, list[float]] = defaultdict(list)
    result = await session.execute(select(*keys, latency).where(where).order_by(latency))
    for row in result.all():
        values[(row[1] if grouped else None, int(row[0]))].append(float(row[-1]))
    for key, ordered in values.items():
        out[key] = (percentile(ordered, _QUANTILES[0]), percentile(ordered, _QUANTILES[1]))
    return out
