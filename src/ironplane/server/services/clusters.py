"""Clusters, workspaces, and the desired state each cluster's agent follows."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.clusters import (
    AgentState,
    Cluster,
    ClusterRegistered,
    DesiredState,
    Node,
    Workspace,
)
from ironplane.api.common import Deleted
from ironplane.api.permissions import Permission
from ironplane.compiler.cluster import spec_objects
from ironplane.compiler.context import Catalog
from ironplane.compiler.core import compile_spec
from ironplane.compiler.pods import secret_name
from ironplane.core.errors import ConflictError, InvalidError
from ironplane.server.context import Caller
from ironplane.server.db.tables import (
    AppRow,
    AppVersionRow,
    ClusterRow,
    SecretGroupRow,
    WorkspaceRow,
)
from ironplane.server.db.types import utcnow
from ironplane.server.security.crypto import SecretBox
from ironplane.server.security.principals import Target
from ironplane.server.services.audit import record
from ironplane.server.services.lookup import by_name, exists
from ironplane.server.services.store import bump, lock_clusters, spec_dump
from ironplane.server.services.tokens import mint_agent_token
from ironplane.spec.kinds import ClusterSpec, WorkspaceSpec
from ironplane.wire.manifests import ManifestBundle


def cluster_out(row: ClusterRow) -> Cluster:
    spec = ClusterSpec.model_validate(row.spec)
    agent = AgentState(
        connected=row.agent_connected,
        last_seen_at=row.agent_seen_at,
        applied_revision=row.applied_revision,
        version=row.agent_version,
        runtime=row.agent_runtime,
    )
    return Cluster(
        agent=agent,
        nodes=[Node.model_validate(n) for n in row.nodes or []],
        name=row.name,
        provider=spec.provider,
        region=spec.region,
        enhanced=spec.enhanced,
        revision=row.revision,
        spec=row.spec,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def workspace_out(row: WorkspaceRow) -> Workspace:
    spec = WorkspaceSpec.model_validate(row.spec)
    return Workspace(
        name=row.name,
        cluster=row.cluster.name,
        namespace=spec.namespace,
        gpu=spec.gpu,
        privileged=spec.privileged,
        spec=row.spec,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def cluster_target(row: ClusterRow) -> Target:
    return Target(cluster_id=row.id, label=f"cluster/{row.name}")


def workspace_target(row: WorkspaceRow) -> Target:
    return Target(cluster_id=row.cluster_id, workspace_id=row.id, label=f"workspace/{row.name}")


async def list_clusters(session: AsyncSession, caller: Caller) -> list[Cluster]:
    rows = await session.scalars(select(ClusterRow).order_by(ClusterRow.name))
    p = caller.principal
    return [cluster_out(r) for r in rows if p.allows(Permission.CLUSTERS_READ, cluster_target(r))]


async def get_cluster(session: AsyncSession, name: str) -> Cluster:
    return cluster_out(await by_name(session, ClusterRow, name))


async def register_cluster(
    session: AsyncSession, caller: Caller, spec: ClusterSpec
) -> ClusterRegistered:
    if await exists(session, ClusterRow, spec.name):
        raise ConflictError(
            f"cluster {spec.name!r} is already registered; to get a new agent token use "
            "POST /clusters/{name}/agent-token"
        )
    row = ClusterRow(name=spec.name, spec=spec_dump(spec), revision=0)
    session.add(row)
    await session.flush()
    record(session, caller, action="cluster.register", target=f"cluster/{spec.name}")
    token = await mint_agent_token(session, caller, row)
    return ClusterRegistered(cluster=cluster_out(row), agent_token=token)


async def update_cluster(
    session: AsyncSession, caller: Caller, row: ClusterRow, spec: ClusterSpec
) -> bool:
    data = spec_dump(spec)
    if data == row.spec:
        return False
    row.spec = data
    row.updated_at = utcnow()
    # Workspace objects depend on the cluster's profile (their LocalQueue): compile them again.
    spaces = await session.scalars(select(WorkspaceRow).where(WorkspaceRow.cluster_id == row.id))
    for ws in spaces:
        ws.objects = workspace_objects(WorkspaceSpec.model_validate(ws.spec), spec)
    record(session, caller, action="cluster.update", target=f"cluster/{row.name}")
    return True


async def delete_cluster(session: AsyncSession, caller: Caller, name: str) -> Deleted:
    row = await by_name(session, ClusterRow, name)
    count = await session.scalar(
        select(func.count()).select_from(WorkspaceRow).where(WorkspaceRow.cluster_id == row.id)
    )
    if count:
        raise ConflictError(f"cluster {name!r} still has {count} workspace(s); delete them first")
    await session.delete(row)
    record(session, caller, action="cluster.delete", target=f"cluster/{name}")
    return Deleted(deleted=f"cluster/{name}")


async def rotate_agent_token(
    session: AsyncSession, caller: Caller, name: str, *, revoke_old: bool = False
) -> Any:
    """A new agent token; the old ones work until an agent connects with it (or, with
    ``revoke_old``, stop at once)."""
    cluster = await by_name(session, ClusterRow, name)
    return await mint_agent_token(session, caller, cluster, revoke_old=revoke_old)


def workspace_objects(spec: WorkspaceSpec, cluster: ClusterSpec) -> list[dict[str, Any]]:
    catalog = Catalog(clusters={cluster.name: cluster}, workspaces={spec.name: spec})
    return list(compile_spec(spec, catalog.context(spec.name)).bundle.objects)


async def list_workspaces(session: AsyncSession, caller: Caller) -> list[Workspace]:
    rows = await session.scalars(select(WorkspaceRow).order_by(WorkspaceRow.name))
    p = caller.principal
    return [
        workspace_out(r) for r in rows if p.allows(Permission.WORKSPACES_READ, workspace_target(r))
    ]


async def get_workspace(session: AsyncSession, name: str) -> Workspace:
    return workspace_out(await by_name(session, WorkspaceRow, name))


async def save_workspace(
    session: AsyncSession,
    caller: Caller,
    spec: WorkspaceSpec,
    cluster: ClusterRow,
    row: WorkspaceRow | None,
) -> WorkspaceRow | None:
    """Create or update a workspace; None when nothing changed.

    The caller holds the cluster's lock and bumps its revision when this returns a row.
    """
    data = spec_dump(spec)
    if row is not None and row.spec == data and row.cluster_id == cluster.id:
        return None
    if row is not None and row.cluster_id != cluster.id:
        raise InvalidError(
            f"workspace {spec.name!r} is on cluster {row.cluster.name!r}; a workspace cannot move "
            "to another cluster (delete it and create it there)"
        )
    objects = workspace_objects(spec, ClusterSpec.model_validate(cluster.spec))
    if row is None:
        row = WorkspaceRow(name=spec.name, cluster_id=cluster.id, spec=data, objects=objects)
        row.cluster = cluster
        session.add(row)
        action = "workspace.create"
    else:
        row.spec, row.objects, row.updated_at = data, objects, utcnow()
        action = "workspace.update"
    await session.flush()
    record(session, caller, action=action, target=f"workspace/{spec.name}")
    return row


def cluster_name_of(spec: WorkspaceSpec) -> str:
    if spec.cluster is None:
        raise InvalidError(
            f"workspace {spec.name!r}: `cluster` is required: name the cluster it lives on"
        )
    return spec.cluster


async def create_workspace(
    session: AsyncSession, caller: Caller, spec: WorkspaceSpec, cluster: ClusterRow
) -> Workspace:
    if await exists(session, WorkspaceRow, spec.name):
        raise ConflictError(f"workspace {spec.name!r} already exists")
    await lock_clusters(session, [cluster.id])
    row = await save_workspace(session, caller, spec, cluster, None)
    assert row is not None
    bump(cluster)
    return workspace_out(row)


async def delete_workspace(session: AsyncSession, caller: Caller, name: str) -> Deleted:
    row = await by_name(session, WorkspaceRow, name)
    locked = await lock_clusters(session, [row.cluster_id])  # before the check: no app sneaks in
    await session.refresh(row)
    active = (
        await session.scalars(
            select(AppRow.name).where(
                AppRow.workspace_id == row.id, AppRow.active_version.is_not(None)
            )
        )
    ).all()
    if active:
        raise ConflictError(
            f"workspace {name!r} still runs {len(active)} app(s) "
            f"({', '.join(sorted(active)[:5])}); delete them first"
        )
    bump(locked[row.cluster_id])
    await session.delete(row)
    record(session, caller, action="workspace.delete", target=f"workspace/{name}")
    return Deleted(deleted=f"workspace/{name}")


async def desired_state(
    session: AsyncSession, box: SecretBox, name: str, *, with_secrets: bool
) -> DesiredState:
    """Everything the cluster should run, at its current revision.

    Secret values are included only for the cluster's own agent; anyone else sees the keys.
    """
    cluster = await by_name(session, ClusterRow, name)
    return await desired_of(session, box, cluster, with_secrets=with_secrets)


async def desired_of(
    session: AsyncSession, box: SecretBox, cluster: ClusterRow, *, with_secrets: bool
) -> DesiredState:
    # A share lock: no change to this cluster commits while its state is read, so the objects
    # are exactly those of the revision reported (PostgreSQL; SQLite transactions serialize).
    await session.execute(
        select(ClusterRow.id).where(ClusterRow.id == cluster.id).with_for_update(read=True)
    )
    await session.refresh(cluster)
    # The cluster-wide objects of its profile (Kueue, the admission policy) and of its
    # bootstrap (the Argo CD app-of-apps): computed from the Cluster spec, not stored; a change
    # of the spec bumps the revision (apply, cluster bootstrap).
    objects: list[dict[str, Any]] = spec_objects(ClusterSpec.model_validate(cluster.spec))
    spaces = (
        await session.scalars(select(WorkspaceRow).where(WorkspaceRow.cluster_id == cluster.id))
    ).all()
    for ws in spaces:
        objects.extend(ws.objects)
    ids = [ws.id for ws in spaces]
    if ids:
        versions = await session.scalars(
            select(AppVersionRow)
            .join(
                AppRow,
                (AppVersionRow.app_id == AppRow.id)
                & (AppVersionRow.number == AppRow.active_version),
            )
            .where(AppRow.workspace_id.in_(ids))
        )
        for version in versions:
            objects.extend(version.objects)
        groups = await session.scalars(
            select(SecretGroupRow).where(SecretGroupRow.workspace_id.in_(ids))
        )
        by_id = {ws.id: ws for ws in spaces}
        for group in groups:
            values = box.open(group.ciphertext) if with_secrets else dict.fromkeys(group.keys, "")
            objects.append(secret_object(group.name, by_id[group.workspace_id].name, values))
    bundle = ManifestBundle.of(objects)
    return DesiredState(
        cluster=cluster.name,
        revision=cluster.revision,
        hash=bundle.hash,
        objects=list(bundle.objects),
    )


def secret_object(group: str, namespace: str, values: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(group),
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "ironplane"},
        },
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(values.items())},
    }
