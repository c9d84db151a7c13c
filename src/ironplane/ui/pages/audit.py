"""The audit log, newest first, paged by the API's ``before`` cursor (``GET /audit``), with
filters by actor, action prefix and outcome.

The filters are applied to the pages the audit service returns: the page reads older events in
batches of ``BATCH`` until it has ``limit`` matches or has looked at ``SCAN`` events, and its
"older" link continues from where it stopped. The log holds no secret values (services record
names and keys only), so details are shown as they are.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from ironplane.api.audit import AuditEvent
from ironplane.api.common import MAX_ID
from ironplane.api.permissions import Permission as P
from ironplane.server.security.guards import Access, allow
from ironplane.server.services.audit import list_events
from ironplane.ui.render import page

router = APIRouter(include_in_schema=False)

BATCH = 500
SCAN = 5000
"""Events one page looks at, at most, to find ``limit`` that match the filters."""
OUTCOMES = ("ok", "denied", "failed", "unknown")


def matches(event: AuditEvent, actor: str, action: str, outcome: str) -> bool:
    return (
        (not actor or event.actor == actor)
        and event.action.startswith(action)
        and (not outcome or event.outcome == outcome)
    )


async def search(
    access: Access, *, actor: str, action: str, outcome: str, limit: int, before: int | None
) -> tuple[list[AuditEvent], int | None, int]:
    """(matching events, the cursor of the next page or None at the end, events looked at)."""
    found: list[AuditEvent] = []
    cursor = before
    scanned = 0
    async with access.services.db.session() as session:
        while len(found) < limit and scanned < SCAN:
            size = BATCH if (actor or action or outcome) else limit - len(found)
            batch = await list_events(session, limit=size, before=cursor)
            scanned += len(batch)
            for event in batch:
                cursor = event.id
                if matches(event, actor, action, outcome):
                    found.append(event)
                    if len(found) == limit:
                        return found, event.id, scanned
            if len(batch) < size:
                return found, None, scanned
    return found, cursor, scanned


def details_text(details: dict[str, Any]) -> str:
    return json.dumps(details, sort_keys=True, separators=(", ", ": "), default=str)


@router.get("/audit", response_class=HTMLResponse)
async def audit(
    request: Request,
    actor: str = Query(default="", max_length=200),
    action: str = Query(default="", max_length=100),
    outcome: str = Query(default="", max_length=20),
    limit: int = Query(default=50, ge=1, le=500),
    before: int | None = Query(default=None, ge=1, le=MAX_ID),
    access: Access = Depends(allow(P.AUDIT_READ)),
) -> HTMLResponse:
    actor, action, outcome = actor.strip(), action.strip(), outcome.strip()
    events, cursor, scanned = await search(
        access, actor=actor, action=action, outcome=outcome, limit=limit, before=before
    )
    query = {"actor": actor, "action": action, "outcome": outcome, "limit": str(limit)}
    kept = {k: v for k, v in query.items() if v and not (k == "limit" and v == "50")}
    return page(
        request,
        access,
        "audit.html",
        events=events,
        details_text=details_text,
        filters={"actor": actor, "action": action, "outcome": outcome, "limit": limit},
        outcomes=OUTCOMES,
        next_query={**kept, "before": str(cursor)} if cursor is not None else None,
        first_query=kept if before is not None else None,
        scanned=scanned,
        short=len(events) < limit and cursor is not None,
    )
