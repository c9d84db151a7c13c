"""The overview: clusters at a glance and apps by phase."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ironplane.server.security.guards import Access, allow
from ironplane.server.services import apps as apps_service
from ironplane.server.services import clusters as clusters_service
from ironplane.ui.render import page

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, access: Access = Depends(allow(None))) -> HTMLResponse:
    async with access.services.db.session() as session:
        clusters = await clusters_service.list_clusters(session, access.caller)
        apps = await apps_service.list_apps(session, access.caller, None)
    live = [a for a in apps if a.active_version is not None]
    phases = Counter((a.status.phase if a.status else "Pending") for a in live)
    return page(
        request,
        access,
        "home.html",
        clusters=clusters,
        app_count=len(live),
        phases=sorted(phases.items()),
        failing=[a for a in live if a.status and a.status.phase in ("Failed", "Degraded")],
    )
