"""Immutable app versions: the one place a version is written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.apps import App, AppStatus, Version, VersionSummary
from ironplane.core.errors import NotFoundError
from ironplane.server.context import Caller
from ironplane.server.db.tables import AppRow, AppStatusRow, AppVersionRow
from ironplane.server.db.types import utcnow
from ironplane.server.services.audit import record


def status_out(row: AppStatusRow | None) -> AppStatus | None:
    if row is None:
        return None
    return AppStatus.model_validate({**row.data, "updated_at": row.updated_at})


async def statuses_of(
    session: AsyncSession, apps: Sequence[AppRow]
) -> dict[tuple[str, str], AppStatusRow]:
    """The agents' last reports for these apps, by (workspace, app): each app's own cluster's."""
    clusters = {a.workspace.cluster_id for a in apps}
    if not clusters:
        return {}
    rows = await session.scalars(select(AppStatusRow).where(AppStatusRow.cluster_id.in_(clusters)))
    cluster_of = {a.workspace.name: a.workspace.cluster_id for a in apps}
    return {(r.workspace, r.app): r for r in rows if cluster_of.get(r.workspace) == r.cluster_id}


def app_out(row: AppRow, status: AppStatusRow | None = None) -> App:
    return App(
        status=status_out(status) if row.active_version is not None else None,
        workspace=row.workspace.name,
        name=row.name,
        kind=row.kind,
        active_version=row.active_version,
        latest_version=row.latest_version,
        source=row.source,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def summary_out(app: AppRow, row: AppVersionRow) -> VersionSummary:
    return VersionSummary(
        workspace=app.workspace.name,
        app=app.name,
        number=row.number,
        hash=row.hash,
        reason=row.reason,
        rollback_of=row.rollback_of,
        author=row.author,
        created_at=row.created_at,
        cluster_revision=row.cluster_revision,
        active=row.number == app.active_version,
    )


def version_out(app: AppRow, row: AppVersionRow) -> Version:
    return Version(**summary_out(app, row).model_dump(), spec=row.spec, objects=row.objects)


async def version_of(
    session: AsyncSession, app: AppRow, number: int | None
) -> AppVersionRow | None:
    if number is None:
        return None
    return await session.scalar(
        select(AppVersionRow).where(AppVersionRow.app_id == app.id, AppVersionRow.number == number)
    )


async def require_version(session: AsyncSession, app: AppRow, number: int) -> AppVersionRow:
    row = await version_of(session, app, number)
    if row is None:
        raise NotFoundError(
            f"app {app.workspace.name}/{app.name} has no version {number} "
            f"(versions 1 to {app.latest_version})"
        )
    return row


async def add_version(
    session: AsyncSession,
    caller: Caller,
    app: AppRow,
    *,
    spec: dict[str, Any],
    objects: list[dict[str, Any]],
    hash: str,
    cluster_revision: int,
    rollback_of: int | None = None,
) -> AppVersionRow:
    """Append the next version and make it the active one."""
    if app.id is None:
        session.add(app)
        await session.flush()
    number = app.latest_version + 1
    row = AppVersionRow(
        app_id=app.id,
        number=number,
        spec=spec,
        objects=objects,
        hash=hash,
        reason="rollback" if rollback_of else "apply",
        rollback_of=rollback_of,
        author=caller.ref,
        cluster_revision=cluster_revision,
    )
    session.add(row)
    app.latest_version = number
    app.active_version = number
    app.updated_at = utcnow()
    await session.flush()
    record(
        session,
        caller,
        action="app.rollback" if rollback_of else "app.apply",
        target=f"app/{app.workspace.name}/{app.name}",
        details={"version": number, "hash": hash, "kind": app.kind}
        | ({"rollback_of": rollback_of} if rollback_of else {}),
    )
    return row
