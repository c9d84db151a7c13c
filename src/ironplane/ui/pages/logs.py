"""An app's live log: a page, and the Server-Sent Events stream it follows.

The stream asks the app's cluster's agent for the last lines (the hub command that
``GET /api/v1/workspaces/{ws}/apps/{app}/logs`` and ``ironplane logs`` use) every
``POLL_S`` seconds and sends only the new ones; it ends when the client goes away, when the
agent cannot answer (with the reason), or after ``MAX_POLLS`` polls (the browser reconnects,
which checks the session again).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import select

from ironplane.api.permissions import Permission as P
from ironplane.core.errors import NotFoundError
from ironplane.server.db.tables import AppRow, WorkspaceRow
from ironplane.server.security.guards import Access, allow
from ironplane.ui.render import page
from ironplane.ui.sse import follow

router = APIRouter(include_in_schema=False)
_APP = "/apps/{workspace}/{app}"

POLL_S = 2.0
MAX_POLLS = 30
"""About a minute per connection: the browser then reconnects, and that request checks the
session and the permission again (a signed-out user or a revoked binding stops the stream)."""


async def _where(access: Access, workspace: str, app: str) -> tuple[int, str, bool]:
    """The app's cluster (id, name) and whether the app is active."""
    async with access.services.db.session() as s:
        row = await s.scalar(
            select(AppRow)
            .join(WorkspaceRow)
            .where(WorkspaceRow.name == workspace, AppRow.name == app)
        )
        if row is None:
            raise NotFoundError(f"app {app!r} not found in workspace {workspace!r}")
        return row.workspace.cluster_id, row.workspace.cluster.name, row.active_version is not None


@router.get(_APP + "/logs", response_class=HTMLResponse)
async def logs_page(
    request: Request,
    workspace: str,
    app: str,
    lines: int = Query(default=200, ge=1, le=2000),
    access: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> HTMLResponse:
    cluster_id, cluster, active = await _where(access, workspace, app)
    return page(
        request,
        access,
        "logs.html",
        workspace=workspace,
        app=app,
        cluster=cluster,
        active=active,
        connected=access.services.hub.sessions.get(cluster_id) is not None,
        stream=f"/ui/apps/{workspace}/{app}/logs/stream?lines={lines}",
        lines=lines,
    )


@router.get(_APP + "/logs/stream")
async def logs_stream(
    request: Request,
    workspace: str,
    app: str,
    lines: int = Query(default=200, ge=1, le=2000),
    access: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> StreamingResponse:
    cluster_id, cluster, _ = await _where(access, workspace, app)
    hub = access.services.hub

    async def fetch() -> list[str]:
        result = await hub.command(
            cluster_id, cluster, op="logs", workspace=workspace, app=app, lines=lines
        )
        return list(result.lines)

    return StreamingResponse(
        follow(fetch, request.is_disconnected, interval_s=POLL_S, max_polls=MAX_POLLS),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
