"""The audit log: appended in the same transaction as the change it records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.audit import AuditEvent
from ironplane.server.context import Caller
from ironplane.server.db.tables import AuditEventRow


def record(
    session: AsyncSession,
    caller: Caller | None,
    *,
    action: str,
    target: str,
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
    source_ip: str | None = None,
) -> None:
    """Add one event. ``details`` must never hold a secret value: pass names and keys only."""
    session.add(
        AuditEventRow(
            actor=caller.ref if caller else "system",
            action=action,
            target=target,
            source_ip=caller.source_ip if caller else source_ip,
            outcome=outcome,
            details=details or {},
        )
    )


async def list_events(session: AsyncSession, *, limit: int, before: int | None) -> list[AuditEvent]:
    query = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEventRow.id < before)
    rows = (await session.scalars(query)).all()
    return [
        AuditEvent(
            id=r.id,
            at=r.at,
            actor=r.actor,
            action=r.action,
            target=r.target,
            source_ip=r.source_ip,
            outcome=r.outcome,
            details=r.details,
        )
        for r in rows
    ]
