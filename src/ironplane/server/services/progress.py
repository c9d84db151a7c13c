"""A workspace's progress: its cluster's acknowledged revision and its apps' reported status,
next to what each app's active version expects (``ironplane apply`` polls it to wait)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.progress import AppProgress, WorkspaceProgress
from ironplane.compiler.labels import VERSION as VERSION_LABEL
from ironplane.server.db.tables import AppRow, AppVersionRow, ClusterAckRow, WorkspaceRow
from ironplane.server.services.lookup import by_name
from ironplane.server.services.versions import status_out, statuses_of

MAX_APPS = 500


def version_label(objects: Sequence[object]) -> str | None:
    """The ``ironplane.dev/version`` label the version's objects carry (the first found)."""
    for obj in objects:
        if isinstance(obj, dict):
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if isinstance(labels, dict) and isinstance(labels.get(VERSION_LABEL), str):
                return str(labels[VERSION_LABEL])
    return None


async def workspace_progress(
    session: AsyncSession,
    workspace: str,
    apps: Sequence[str] | None,
    *,
    cluster_errors: bool = False,
) -> WorkspaceProgress:
    """The workspace's cluster revisions and its apps (those named; None: all of them).

    A failed revision's error names objects of any workspace of the cluster: it is given only
    to callers who may read the cluster (``cluster_errors``); others learn that the revision
    failed and where to look."""
    ws = await by_name(session, WorkspaceRow, workspace)
    cluster = ws.cluster
    rows: list[AppRow] = []
    if apps is None or apps:
        query = select(AppRow).where(AppRow.workspace_id == ws.id).order_by(AppRow.name)
        if apps is not None:
            query = query.where(AppRow.name.in_(sorted(set(apps))[:MAX_APPS]))
        rows = list(await session.scalars(query.limit(MAX_APPS)))
    statuses = await statuses_of(session, rows)
    wanted = [
        and_(AppVersionRow.app_id == r.id, AppVersionRow.number == r.active_version)
        for r in rows
        if r.active_version is not None
    ]
    versions = (
        {
            (v.app_id, v.number): v
            for v in await session.scalars(select(AppVersionRow).where(or_(*wanted)))
        }
        if wanted
        else {}
    )
    failed = await session.scalar(
        select(ClusterAckRow)
        .where(
            ClusterAckRow.cluster_id == cluster.id,
            ClusterAckRow.revision > cluster.applied_revision,
            ClusterAckRow.ok.is_(False),
        )
        .order_by(ClusterAckRow.revision.desc())
        .limit(1)
    )
    out: list[AppProgress] = []
    for row in rows:
        active = versions.get((row.id, row.active_version or 0))
        status = statuses.get((ws.name, row.name)) if row.active_version is not None else None
        out.append(
            AppProgress(
                name=row.name,
                kind=row.kind,
                active_version=row.active_version,
                cluster_revision=active.cluster_revision if active else None,
                version_label=version_label(active.objects) if active else None,
                status=status_out(status),
            )
        )
    return WorkspaceProgress(
        workspace=ws.name,
        cluster=cluster.name,
        revision=cluster.revision,
        applied_revision=cluster.applied_revision,
        agent_connected=cluster.agent_connected,
        failed_revision=failed.revision if failed else None,
        failed_error=(
            None
            if failed is None
            else failed.error
            if cluster_errors
            else f"the cluster's agent could not apply revision {failed.revision}; its error "
            "is shown to those who may read the cluster (clusters.read)"
        ),
        apps=out,
    )
