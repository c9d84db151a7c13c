"""Apply, apps, versions, rollback and delete."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query

from ironplane.api.apps import (
    App,
    AppDetail,
    ApplyRequest,
    ApplyResult,
    Change,
    RollbackRequest,
    Version,
    VersionSummary,
)
from ironplane.api.common import MAX_ID
from ironplane.api.permissions import Permission as P
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import apps as svc
from ironplane.server.services.apply import apply as apply_specs

router = APIRouter(tags=["apps"])
_APP = "/workspaces/{workspace}/apps/{app}"


@router.post("/apply")
async def apply(body: ApplyRequest, a: Access = Depends(allow(None))) -> ApplyResult:
    """Validate, compile and store specs. Each document needs its own permission: apps.write on
    its workspace, workspaces.create/write, clusters.create/write."""
    async with a.services.db.session(commit=not body.dry_run) as s:
        return await apply_specs(s, a.caller, body)


@router.get("/apps")
async def list_all_apps(
    workspace: str | None = Query(default=None, max_length=63), a: Access = Depends(allow(None))
) -> list[App]:
    """Every app the caller may read, optionally in one workspace."""
    async with a.services.db.session() as s:
        return await svc.list_apps(s, a.caller, workspace)


@router.get("/workspaces/{workspace}/apps")
async def list_apps(
    workspace: str, a: Access = Depends(allow(P.APPS_READ, on="workspace"))
) -> list[App]:
    async with a.services.db.session() as s:
        return await svc.list_apps(s, a.caller, workspace)


@router.get(_APP)
async def describe_app(
    workspace: str, app: str, a: Access = Depends(allow(P.APPS_READ, on="workspace"))
) -> AppDetail:
    async with a.services.db.session() as s:
        return await svc.describe(s, workspace, app)


@router.delete(_APP)
async def delete_app(
    workspace: str, app: str, a: Access = Depends(allow(P.APPS_WRITE, on="workspace"))
) -> Change:
    async with a.services.db.session() as s:
        return await svc.delete(s, a.caller, workspace, app)


@router.get(_APP + "/versions")
async def list_versions(
    workspace: str, app: str, a: Access = Depends(allow(P.APPS_READ, on="workspace"))
) -> list[VersionSummary]:
    async with a.services.db.session() as s:
        return await svc.versions(s, workspace, app)


@router.get(_APP + "/versions/{number}")
async def get_version(
    workspace: str,
    app: str,
    number: int = Path(ge=1, le=MAX_ID),
    a: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> Version:
    async with a.services.db.session() as s:
        return await svc.version(s, workspace, app, number)


@router.post(_APP + "/rollback")
async def rollback(
    workspace: str,
    app: str,
    body: RollbackRequest,
    a: Access = Depends(allow(P.APPS_WRITE, on="workspace")),
) -> Change:
    async with a.services.db.session(commit=not body.dry_run) as s:
        return await svc.rollback(s, a.caller, workspace, app, body)
