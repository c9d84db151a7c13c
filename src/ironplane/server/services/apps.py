"""Reading apps and their versions; rollback and delete."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.apps import App, AppDetail, Change, RollbackRequest, Version, VersionSummary
from ironplane.api.permissions import Permission
from ironplane.compiler.checks import check
from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import NotFoundError, SpecError
from ironplane.server.context import Caller
from ironplane.server.db.tables import AppRow, AppVersionRow, WorkspaceRow
from ironplane.server.services.apply import delete_app
from ironplane.server.services.apply_stored import (
    describe_privileged_uses,
    queue_mismatch,
    stored_spec,
)
from ironplane.server.services.clusters import workspace_target
from ironplane.server.services.store import (
    bump,
    lock_clusters,
    manifest_diff,
    stored_catalog,
)
from ironplane.server.services.versions import (
    add_version,
    app_out,
    require_version,
    statuses_of,
    summary_out,
    version_of,
    version_out,
)


async def _app(session: AsyncSession, workspace: str, name: str) -> AppRow:
    row = await session.scalar(
        select(AppRow).join(WorkspaceRow).where(WorkspaceRow.name == workspace, AppRow.name == name)
    )
    if row is None:
        raise NotFoundError(f"app {name!r} not found in workspace {workspace!r}")
    return row


async def _locked_app(session: AsyncSession, workspace: str, name: str) -> AppRow:
    """The app, read after taking its cluster's lock (so no concurrent change is missed)."""
    app = await _app(session, workspace, name)
    await lock_clusters(session, [app.workspace.cluster_id])
    await session.refresh(app)
    return app


async def list_apps(session: AsyncSession, caller: Caller, workspace: str | None) -> list[App]:
    query = select(AppRow).join(WorkspaceRow).order_by(WorkspaceRow.name, AppRow.name)
    if workspace is not None:
        query = query.where(WorkspaceRow.name == workspace)
    p = caller.principal
    rows = [
        r
        for r in await session.scalars(query)
        if p.allows(Permission.APPS_READ, workspace_target(r.workspace))
    ]
    statuses = await statuses_of(session, rows)
    return [app_out(r, statuses.get((r.workspace.name, r.name))) for r in rows]


async def _versions(session: AsyncSession, app: AppRow) -> list[VersionSummary]:
    rows = await session.scalars(
        select(AppVersionRow).where(AppVersionRow.app_id == app.id).order_by(AppVersionRow.number)
    )
    return [summary_out(app, r) for r in rows]


async def describe(session: AsyncSession, workspace: str, name: str) -> AppDetail:
    app = await _app(session, workspace, name)
    active = await version_of(session, app, app.active_version)
    statuses = await statuses_of(session, [app])
    return AppDetail(
        app=app_out(app, statuses.get((workspace, name))),
        active=version_out(app, active) if active else None,
        versions=await _versions(session, app),
    )


async def versions(session: AsyncSession, workspace: str, name: str) -> list[VersionSummary]:
    return await _versions(session, await _app(session, workspace, name))


async def version(session: AsyncSession, workspace: str, name: str, number: int) -> Version:
    app = await _app(session, workspace, name)
    return version_out(app, await require_version(session, app, number))


async def rollback(
    session: AsyncSession, caller: Caller, workspace: str, name: str, body: RollbackRequest
) -> Change:
    """A new version with version N's spec and manifests (history is never rewritten)."""
    app = await _locked_app(session, workspace, name)
    cluster = app.workspace.cluster
    target = await require_version(session, app, body.to)
    active = await version_of(session, app, app.active_version)
    if active is not None and active.hash == target.hash:
        return Change(
            kind=app.kind,
            name=name,
            workspace=workspace,
            action="unchanged",
            version=active.number,
            cluster_revision=active.cluster_revision,
        )
    await _still_allowed(session, workspace, name, target)
    revision = cluster.revision + 1
    row = await add_version(
        session,
        caller,
        app,
        spec=target.spec,
        objects=target.objects,
        hash=target.hash,
        cluster_revision=revision,
        rollback_of=target.number,
    )
    app.kind = str(target.spec.get("kind", app.kind))
    bump(cluster)
    return Change(
        kind=app.kind,
        name=name,
        workspace=workspace,
        action="update" if active else "create",
        version=row.number,
        cluster_revision=revision,
        diff=manifest_diff(
            active.objects if active else [],
            target.objects,
            label=f"{workspace}/{name} v{row.number}",
            old_label=f"{workspace}/{name} v{active.number}" if active else "(none)",
        ),
    )


async def _still_allowed(
    session: AsyncSession, workspace: str, name: str, target: AppVersionRow
) -> None:
    """A version restored as it was must still be allowed where it goes: the workspace or its
    cluster may have changed since (no longer privileged, GPUs or Workload Identity), and its
    stored manifests would then be refused on the cluster, with nothing said here. The spec is
    checked as apply would check it; the manifests, restored as they were compiled, must carry
    the queue label the job would get now and must not need a privilege the workspace no longer
    grants."""
    catalog = await stored_catalog(session, [workspace])
    ctx = catalog.context(workspace)
    spec = stored_spec(target.spec)
    problems = check(spec, ctx) if spec is not None else []
    # Restored as they were, the objects keep the queue label they were compiled with.
    queue = queue_mismatch(spec, target.objects, ctx) if spec is not None else None
    if not problems and queue is not None:
        problems = [queue]
    if not problems and not ctx.workspace.privileged:
        # The spec passed the check as the workspace is: only the manifests can need more.
        needs = describe_privileged_uses(target.objects)
        if needs:
            problems = [
                Diagnostic(
                    f"its manifests need a privileged workspace: {needs}",
                    hint="apply the app's spec again: it compiles for the workspace as it is",
                )
            ]
    if problems:
        raise SpecError(
            problems,
            summary=f"version {target.number} of {workspace}/{name} cannot be restored: it "
            f"is no longer valid in workspace {workspace!r} as it is now (apply a changed "
            "spec instead, or change back what it needs):",
        )


async def delete(session: AsyncSession, caller: Caller, workspace: str, name: str) -> Change:
    app = await _locked_app(session, workspace, name)
    if app.active_version is None:
        raise NotFoundError(f"app {name!r} in workspace {workspace!r} is already deleted")
    return await delete_app(session, caller, app, None, diff=False)
