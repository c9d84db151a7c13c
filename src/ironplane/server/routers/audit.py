"""The audit log (read-only: there is no endpoint that changes or removes an event)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ironplane.api.audit import AuditEvent
from ironplane.api.common import MAX_ID
from ironplane.api.permissions import Permission as P
from ironplane.server.security.guards import Access, allow
from ironplane.server.services.audit import list_events

router = APIRouter(tags=["audit"])


@router.get("/audit")
async def list_audit(
    limit: int = Query(default=100, ge=1, le=1000),
    before: int | None = Query(
        default=None, ge=1, le=MAX_ID, description="events older than this id"
    ),
    a: Access = Depends(allow(P.AUDIT_READ)),
) -> list[AuditEvent]:
    async with a.services.db.session() as s:
        return await list_events(s, limit=limit, before=before)
