"""Clusters, workspaces and a cluster's desired state."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ironplane.api.clusters import Cluster, ClusterRegistered, DesiredState, Workspace
from ironplane.api.common import Deleted
from ironplane.api.identity import TokenCreated
from ironplane.api.permissions import Permission as P
from ironplane.server.db.tables import ClusterRow
from ironplane.server.security.guards import Access, allow, require
from ironplane.server.security.principals import Target
from ironplane.server.services import clusters as svc
from ironplane.server.services.lookup import by_name
from ironplane.spec.kinds import ClusterSpec, WorkspaceSpec

router = APIRouter()


@router.get("/clusters", tags=["clusters"])
async def list_clusters(a: Access = Depends(allow(None))) -> list[Cluster]:
    async with a.services.db.session() as s:
        return await svc.list_clusters(s, a.caller)


@router.post("/clusters", status_code=201, tags=["clusters"])
async def register_cluster(
    body: ClusterSpec, a: Access = Depends(allow(P.CLUSTERS_CREATE))
) -> ClusterRegistered:
    async with a.services.db.session() as s:
        return await svc.register_cluster(s, a.caller, body)


@router.get("/clusters/{cluster}", tags=["clusters"])
async def get_cluster(
    cluster: str, a: Access = Depends(allow(P.CLUSTERS_READ, on="cluster"))
) -> Cluster:
    async with a.services.db.session() as s:
        return await svc.get_cluster(s, cluster)


@router.delete("/clusters/{cluster}", tags=["clusters"])
async def delete_cluster(
    cluster: str, a: Access = Depends(allow(P.CLUSTERS_WRITE, on="cluster"))
) -> Deleted:
    async with a.services.db.session() as s:
        return await svc.delete_cluster(s, a.caller, cluster)


@router.post("/clusters/{cluster}/agent-token", status_code=201, tags=["clusters"])
async def rotate_agent_token(
    cluster: str,
    revoke_old: bool = Query(
        default=False,
        description="Revoke the cluster's earlier agent tokens at once (a leaked token); by "
        "default they work until an agent connects with the new one.",
    ),
    a: Access = Depends(allow(P.CLUSTERS_WRITE, on="cluster")),
) -> TokenCreated:
    """A new agent token. The earlier ones keep working until an agent connects with the new
    one, then are revoked (a rotation without downtime).

    Needs clusters.write and, because an agent token reads every secret of its cluster,
    secrets.read on the whole cluster (a binding on the cluster or the tenant)."""
    require(a, P.SECRETS_READ, a.target)
    async with a.services.db.session() as s:
        return await svc.rotate_agent_token(  # type: ignore[no-any-return]
            s, a.caller, cluster, revoke_old=revoke_old
        )


@router.get("/clusters/{cluster}/desired", tags=["clusters"])
async def desired_state(
    cluster: str, a: Access = Depends(allow(P.CLUSTERS_READ, on="cluster", agent=True))
) -> DesiredState:
    agent = a.caller.principal.agent_cluster_id is not None
    async with a.services.db.session() as s:
        return await svc.desired_state(s, a.services.box, cluster, with_secrets=agent)


@router.get("/workspaces", tags=["workspaces"])
async def list_workspaces(a: Access = Depends(allow(None))) -> list[Workspace]:
    async with a.services.db.session() as s:
        return await svc.list_workspaces(s, a.caller)


@router.post("/workspaces", status_code=201, tags=["workspaces"])
async def create_workspace(body: WorkspaceSpec, a: Access = Depends(allow(None))) -> Workspace:
    """Needs workspaces.create on the cluster named in the body."""
    cluster_name = svc.cluster_name_of(body)
    async with a.services.db.session() as s:
        cluster = await by_name(s, ClusterRow, cluster_name)
        require(
            a, P.WORKSPACES_CREATE, Target(cluster_id=cluster.id, label=f"cluster/{cluster.name}")
        )
        return await svc.create_workspace(s, a.caller, body, cluster)


@router.get("/workspaces/{workspace}", tags=["workspaces"])
async def get_workspace(
    workspace: str, a: Access = Depends(allow(P.WORKSPACES_READ, on="workspace"))
) -> Workspace:
    async with a.services.db.session() as s:
        return await svc.get_workspace(s, workspace)


@router.delete("/workspaces/{workspace}", tags=["workspaces"])
async def delete_workspace(
    workspace: str, a: Access = Depends(allow(P.WORKSPACES_WRITE, on="workspace"))
) -> Deleted:
    async with a.services.db.session() as s:
        return await svc.delete_workspace(s, a.caller, workspace)
