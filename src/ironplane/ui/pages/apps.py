"""Apps: the list, one app's page (status, rollout, scaling, versions, charts), its live part
(polled by htmx) and the diff of any two of its versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from ironplane.api.apps import App, AppDetail
from ironplane.api.common import MAX_ID
from ironplane.api.permissions import Permission as P
from ironplane.core.errors import InvalidError
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import apps as apps_service
from ironplane.server.services import clusters as clusters_service
from ironplane.server.services import telemetry
from ironplane.server.services.store import manifest_diff
from ironplane.ui.pages.charts import APP_CHARTS, latest
from ironplane.ui.render import fragment, holds_anywhere, page
from ironplane.ui.topology import percent
from ironplane.ui.views import diff_lines, events_of, progressive, settled

router = APIRouter(include_in_schema=False)
_APP = "/apps/{workspace}/{app}"


@router.get("/apps", response_class=HTMLResponse)
async def apps(
    request: Request,
    workspace: str | None = Query(default=None, max_length=63),
    deleted: bool = False,
    access: Access = Depends(allow(None)),
) -> HTMLResponse:
    workspace = workspace or None
    async with access.services.db.session() as s:
        found = await apps_service.list_apps(s, access.caller, workspace)
        spaces = await clusters_service.list_workspaces(s, access.caller)
    shown = [a for a in found if deleted or a.active_version is not None]
    return page(
        request,
        access,
        "apps.html",
        apps=shown,
        hidden=len(found) - len(shown),
        workspace=workspace,
        workspaces=[w.name for w in spaces],
        deleted=deleted,
        may_deploy=holds_anywhere(access, P.APPS_WRITE),
    )


def _live_values(detail: AppDetail) -> dict[str, Any]:
    app: App = detail.app
    status = app.status
    weights = status.weights if status else None
    return {
        "app": app,
        "app_status": status,
        "events": events_of(status),
        "weights": weights,
        "weights_percent": percent(weights.done, weights.total) if weights else 0,
        "rollout": status.rollout if status else None,
        "scaling": status.scaling if status else None,
        "settled": settled(status) or app.active_version is None,
    }


async def _detail(access: Access, workspace: str, app: str) -> AppDetail:
    async with access.services.db.session() as s:
        return await apps_service.describe(s, workspace, app)


@router.get(_APP, response_class=HTMLResponse)
async def app_page(
    request: Request,
    workspace: str,
    app: str,
    a: int | None = Query(default=None, ge=1, le=MAX_ID),
    b: int | None = Query(default=None, ge=1, le=MAX_ID),
    applied: int | None = Query(default=None, ge=1, le=MAX_ID),
    rolled: int | None = Query(default=None, ge=1, le=MAX_ID),
    restarted: bool = False,
    removed: bool = False,
    access: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> HTMLResponse:
    detail = await _detail(access, workspace, app)
    numbers = [v.number for v in detail.versions]
    first = a or (numbers[-2] if len(numbers) > 1 else None)
    second = b or (numbers[-1] if numbers else None)
    diff = None
    if a is not None and b is not None:
        diff = await _diff(access, workspace, app, a, b)
    names = [n for chart in APP_CHARTS for n in chart.names]
    recent = await telemetry.app_series(access.services, workspace, app, names, since="15m")
    return page(
        request,
        access,
        "app.html",
        **_live_values(detail),
        detail=detail,
        target=access.target,
        strategy=progressive(detail.active),
        versions=list(reversed(detail.versions)),
        diff_a=first,
        diff_b=second,
        diff=diff,
        notice={
            "applied": applied,
            "rolled": rolled,
            "restarted": restarted,
            "removed": removed,
        },
        charts=APP_CHARTS,
        chart_base=f"/ui/apps/{workspace}/{app}/series.json",
        latest=latest(recent, per_node=False),
    )


@router.get(_APP + "/live", response_class=HTMLResponse)
async def app_live(
    request: Request,
    workspace: str,
    app: str,
    access: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> HTMLResponse:
    """The part of the app page that changes by itself: status, rollout, scaling, weights."""
    detail = await _detail(access, workspace, app)
    return fragment(
        request,
        access,
        "_app_live.html",
        **_live_values(detail),
        target=access.target,
        strategy=progressive(detail.active),
    )


async def _diff(access: Access, workspace: str, app: str, a: int, b: int) -> list[tuple[str, str]]:
    async with access.services.db.session() as s:
        old = await apps_service.version(s, workspace, app, a)
        new = await apps_service.version(s, workspace, app, b)
    text = manifest_diff(
        [old.spec], [new.spec], label=f"{workspace}/{app} v{b}", old_label=f"{workspace}/{app} v{a}"
    )
    return diff_lines(text)


@router.get(_APP + "/diff", response_class=HTMLResponse)
async def app_diff(
    request: Request,
    workspace: str,
    app: str,
    a: int = Query(ge=1, le=MAX_ID),
    b: int = Query(ge=1, le=MAX_ID),
    access: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> HTMLResponse:
    """The unified diff of two versions' specs (as YAML): a fragment for htmx."""
    if a == b:
        raise InvalidError("choose two different versions to compare")
    lines = await _diff(access, workspace, app, a, b)
    return fragment(request, access, "_diff.html", diff=lines, diff_a=a, diff_b=b)
