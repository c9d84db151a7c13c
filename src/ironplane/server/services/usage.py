"""Gateway request logs: ingestion in batches, aggregation, retention.

A batch is stored with one multi-row INSERT (SQLAlchemy's insertmanyvalues on both SQLite and
PostgreSQL) and one upsert of the sending replica's row (last seen, records accepted, records it
says it dropped). Rows are kept ``RETENTION`` (90 days): at most once an hour per process, an
ingestion deletes the older ones after its own transaction, so no scheduler is needed and a
failed clean-up never loses a batch. Records older than the retention are skipped on arrival;
records from more than an hour in the future are refused (a gateway host with a wrong clock).
"""

from __future__ import annotations

import logging
import math
import re
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.gateway import GatewayReplica, UsageBatch, UsageGroup, UsageRow
from ironplane.core.errors import InvalidError
from ironplane.server.context import Services
from ironplane.server.db.engine import Database
from ironplane.server.db.tables import GatewayReplicaRow, GatewayUsageRow
from ironplane.server.db.types import utcnow
from ironplane.server.services.pruning import LastPrune, delete_if_due

log = logging.getLogger("ironplane.server.gateway")

RETENTION = timedelta(days=90)
PRUNE_EVERY_S = 3600.0
MAX_CLOCK_AHEAD_S = 3600.0
_SINCE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
SINCE_HELP = "a duration such as 15m, 24h or 7d, at most 90d"

_last_prune: LastPrune = weakref.WeakKeyDictionary()


def parse_since(text: str) -> timedelta:
    """``15m``, ``24h``, ``7d``, ``1d12h``: a positive window no longer than the retention."""
    match = _SINCE.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        hint = f" (add a unit: {text.strip()}h?)" if text.strip().isdigit() else ""
        raise InvalidError(f"since: {text[:40]!r} is not a duration{hint}; use {SINCE_HELP}")
    d, h, m, s = (int(g or 0) for g in match.groups())
    if max(d, h, m, s) > 10**7:  # beyond any retention; timedelta would overflow further on
        raise InvalidError(
            f"since: {text[:40]!r} reaches further back than the {RETENTION.days} days of "
            f"request logs kept; use {SINCE_HELP}"
        )
    window = timedelta(days=d, hours=h, minutes=m, seconds=s)
    if window <= timedelta(0):
        raise InvalidError(f"since: {text!r} is an empty window; use {SINCE_HELP}")
    if window > RETENTION:
        raise InvalidError(
            f"since: {text!r} reaches further back than the {RETENTION.days} days of request "
            f"logs kept; use {SINCE_HELP}"
        )
    return window


def rows_of(batch: UsageBatch, now: datetime) -> list[dict[str, Any]]:
    """The table rows of a batch's records within the retention window."""
    now_s = now.timestamp()
    oldest = now_s - RETENTION.total_seconds()
    rows = []
    for i, r in enumerate(batch.records):
        if r.at > now_s + MAX_CLOCK_AHEAD_S:
            ahead = r.at - now_s
            raise InvalidError(
                f"records[{i}].at: {r.at!r} is {ahead:.0f}s ahead of the control plane's clock "
                f"(more than {MAX_CLOCK_AHEAD_S:.0f}s); check the clock of gateway "
                f"{batch.gateway!r}'s host"
            )
        if r.at < oldest:
            continue
        rows.append(
            {
                "at": datetime.fromtimestamp(r.at, UTC),
                "key": r.key,
                "team": r.team,
                "model": r.model,
                "target": r.target,
                "status": r.status,
                "latency_ms": r.latency_ms,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "cost": r.cost,
                "stream": r.stream,
                "gateway": batch.gateway,
            }
        )
    return rows


async def ingest(services: Services, batch: UsageBatch, *, sender: str) -> int:
    """Store a batch; return how many records were stored. The replica is recorded as
    ``<sender>/<its id>``: the principal that posted it (whose token holds gateway.serve, and is
    trusted with the request logs as much as a gateway is), then what the replica calls itself."""
    now = utcnow()
    batch = batch.model_copy(update={"gateway": f"{sender}/{batch.gateway}"[:200]})
    rows = rows_of(batch, now)
    db = services.db
    async with db.session() as s:
        if rows:
            await s.execute(insert(GatewayUsageRow), rows)
        await _seen(s, db, batch.gateway, now, len(rows), batch.dropped)
    if batch.dropped:
        log.warning(
            "gateway %s dropped %d request log records (its buffer was full)",
            batch.gateway,
            batch.dropped,
        )
    await prune_if_due(db, now)
    return len(rows)


async def _seen(
    s: AsyncSession, db: Database, gateway: str, now: datetime, accepted: int, dropped: int
) -> None:
    """Upsert the replica's row: one statement, safe against a concurrent first batch."""
    values = {"gateway": gateway, "last_seen": now, "accepted": accepted, "dropped": dropped}
    totals = {
        "accepted": GatewayReplicaRow.accepted + accepted,
        "dropped": GatewayReplicaRow.dropped + dropped,
    }
    if db.is_sqlite:
        lite = sqlite_insert(GatewayReplicaRow).values(values)
        stmt: Any = lite.on_conflict_do_update(
            index_elements=["gateway"], set_={"last_seen": lite.excluded.last_seen, **totals}
        )
    else:
        pg = pg_insert(GatewayReplicaRow).values(values)
        stmt = pg.on_conflict_do_update(
            index_elements=["gateway"], set_={"last_seen": pg.excluded.last_seen, **totals}
        )
    await s.execute(stmt)


async def prune_if_due(db: Database, now: datetime) -> int | None:
    """Delete rows older than the retention, at most once every ``PRUNE_EVERY_S`` per process
    and database. Returns the number deleted, or None when it was not due or failed."""
    stmt = delete(GatewayUsageRow).where(GatewayUsageRow.at < now - RETENTION)
    deleted = await delete_if_due(
        db, _last_prune, PRUNE_EVERY_S, stmt, log=log, what="gateway request logs"
    )
    if deleted:
        log.info("deleted %d gateway request log records older than %s", deleted, RETENTION)
    return deleted


GROUP_COLUMNS = {
    "key": GatewayUsageRow.key,
    "model": GatewayUsageRow.model,
    "team": GatewayUsageRow.team,
}
"""The column of each ``UsageGroup``."""


async def aggregate(
    session: AsyncSession, by: UsageGroup, window: timedelta, now: datetime | None = None
) -> list[UsageRow]:
    """Requests, errors, tokens, cost and mean latency per key, model or team since
    ``now - window``: one GROUP BY, most expensive first, then busiest."""
    group = GROUP_COLUMNS[by]
    requests = func.count()
    cost = func.coalesce(func.sum(GatewayUsageRow.cost), 0.0)
    stmt = (
        select(
            group,
            requests,
            func.sum(case((GatewayUsageRow.status >= 400, 1), else_=0)),
            func.sum(GatewayUsageRow.prompt_tokens),
            func.sum(GatewayUsageRow.completion_tokens),
            cost,
            func.avg(GatewayUsageRow.latency_ms),
        )
        .where(GatewayUsageRow.at >= (now or utcnow()) - window)
        .group_by(group)
        .order_by(cost.desc(), requests.desc(), group)
    )
    out = []
    for name, n, errors, prompt, completion, total, latency in (await session.execute(stmt)).all():
        out.append(
            UsageRow(
                group=name,
                requests=int(n),
                errors=int(errors or 0),
                prompt_tokens=int(prompt or 0),
                completion_tokens=int(completion or 0),
                cost=finite(total),
                avg_latency_ms=round(finite(latency), 3),
            )
        )
    return out


def finite(value: Any) -> float:
    """A SQL sum or average as a float: 0 for NULL, NaN or an infinity."""
    number = float(value or 0.0)
    return number if math.isfinite(number) else 0.0


async def replicas(session: AsyncSession) -> list[GatewayReplica]:
    rows = await session.scalars(select(GatewayReplicaRow).order_by(GatewayReplicaRow.gateway))
    return [
        GatewayReplica(
            gateway=r.gateway, last_seen=r.last_seen, accepted=r.accepted, dropped=r.dropped
        )
        for r in rows
    ]
