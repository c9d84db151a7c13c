"""What ``ironplane apply`` waits on: a workspace's progress towards what was applied."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ironplane.api.permissions import Permission as P
from ironplane.api.progress import WorkspaceProgress
from ironplane.server.security.guards import Access, allow
from ironplane.server.security.principals import Target
from ironplane.server.services import progress as svc

router = APIRouter(tags=["apps"])


@router.get("/workspaces/{workspace}/progress")
async def workspace_progress(
    workspace: str,
    apps: str | None = Query(
        default=None,
        max_length=32_000,
        description="Comma-separated app names (absent: all; empty: none).",
    ),
    a: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> WorkspaceProgress:
    """The workspace's cluster revision and the revision its agent applied (or failed to), and
    for each app (those named in ``apps``; absent: all): its active version, the cluster revision
    and version label that carry it, and the status its agent last reported."""
    names = None if apps is None else [n.strip()[:63] for n in apps.split(",") if n.strip()]
    cluster_reader = a.caller.principal.allows(
        P.CLUSTERS_READ, Target(cluster_id=a.target.cluster_id, label="cluster")
    )
    async with a.services.db.session() as s:
        return await svc.workspace_progress(s, workspace, names, cluster_errors=cluster_reader)
