"""Apply: validate and compile specs, then store a version for each app that changed.

One transaction per request. Everything is checked (specs, permissions, compilation) before
anything is written, and a dry run is the same code path rolled back at the end, so a dry run
reports exactly what the real apply would do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.apps import ApplyRequest, ApplyResult, Change
from ironplane.api.common import DiagnosticBody
from ironplane.api.permissions import Permission
from ironplane.compiler.documents import compile_documents
from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import ForbiddenError, SpecError
from ironplane.server.context import Caller
from ironplane.server.db.tables import (
    AppRow,
    ClusterRow,
    WorkspaceRow,
)
from ironplane.server.security.principals import TENANT, Target
from ironplane.server.services import clusters as cl
from ironplane.server.services.apply_checks import (
    check_collisions,
    gateway_name_clashes,
    missing_secrets,
    placement_warnings,
    workspace_of,
)
from ironplane.server.services.apply_stored import (
    check_context_changes,
    check_privilege_still_needed,
)
from ironplane.server.services.audit import record
from ironplane.server.services.store import (
    bump,
    lock_clusters,
    manifest_diff,
    spec_dump,
    stored_catalog,
    version_hash,
)
from ironplane.server.services.versions import add_version, version_of
from ironplane.spec.kinds import ClusterSpec, WorkspaceSpec
from ironplane.spec.loading import Document, load_texts


@dataclass
class _State:
    """What the store holds that this apply touches, and the revision each cluster moves to."""

    clusters: dict[str, ClusterRow]
    workspaces: dict[str, WorkspaceRow]
    changed: set[str] = field(default_factory=set)
    """Names of the clusters whose desired state changes."""

    def next_revision(self, cluster: str) -> int:
        row = self.clusters.get(cluster)
        return (row.revision if row else 0) + 1


def _problem(doc: Document, message: str, field_: str, hint: str) -> Diagnostic:
    return doc.problem(Diagnostic(message, path=(field_,), hint=hint))


def _check_references(docs: Sequence[Document], caller: Caller, state: _State) -> None:
    """Every workspace and cluster named must exist, in the store (and be visible) or the input."""
    p = caller.principal
    visible_ws = {n for n, r in state.workspaces.items() if p.sees(cl.workspace_target(r))}
    # A cluster the caller cannot see is reported exactly like one that does not exist.
    visible_clusters = {n for n, r in state.clusters.items() if p.sees(cl.cluster_target(r))}
    visible_clusters |= {state.workspaces[n].cluster.name for n in visible_ws}
    new_clusters = {d.spec.name for d in docs if isinstance(d.spec, ClusterSpec)}
    new_ws = {d.spec.name for d in docs if isinstance(d.spec, WorkspaceSpec)}
    problems: list[Diagnostic] = []
    seen_apps: dict[tuple[str, str], Document] = {}
    for doc in docs:
        spec = doc.spec
        if isinstance(spec, WorkspaceSpec):
            if spec.cluster is None:
                problems.append(
                    _problem(
                        doc,
                        "required field 'cluster' is missing",
                        "cluster",
                        "name the cluster this workspace lives on",
                    )
                )
            elif spec.cluster not in visible_clusters and spec.cluster not in new_clusters:
                problems.append(
                    _problem(
                        doc,
                        f"cluster {spec.cluster!r} does not exist",
                        "cluster",
                        "register it first, or add its Cluster document to this apply",
                    )
                )
        elif not isinstance(spec, ClusterSpec):
            ws = workspace_of(doc)
            if ws is None:
                continue  # compile_documents reports the missing workspace
            if ws not in visible_ws and ws not in new_ws:
                problems.append(
                    _problem(
                        doc,
                        f"workspace {ws!r} does not exist",
                        "workspace",
                        "create it first, or add its Workspace document to this apply",
                    )
                )
            first = seen_apps.get((ws, spec.name))
            if first is not None:
                problems.append(
                    _problem(
                        doc,
                        f"app {spec.name!r} is also defined as {first.subject} "
                        f"({first.where.source}:{first.where.start.line})",
                        "name",
                        "apps in one workspace need distinct names, whatever their kind",
                    )
                )
            seen_apps[(ws, spec.name)] = doc
    if problems:
        raise SpecError(problems, summary=f"{len(problems)} problem(s) in the specs:")


def _target_of_workspace(name: str, docs: Sequence[Document], state: _State) -> Target:
    row = state.workspaces.get(name)
    if row is not None:
        return cl.workspace_target(row)
    spec = next(d.spec for d in docs if isinstance(d.spec, WorkspaceSpec) and d.spec.name == name)
    cluster = state.clusters.get(spec.cluster or "")
    return Target(cluster_id=cluster.id, label=f"cluster/{cluster.name}") if cluster else TENANT


def _policy_changed(row: WorkspaceRow, spec: WorkspaceSpec) -> bool:
    old = WorkspaceSpec.model_validate(row.spec)
    return (old.gpu, old.privileged, old.queue) != (spec.gpu, spec.privileged, spec.queue)


def _authorize(docs: Sequence[Document], caller: Caller, state: _State) -> None:
    p = caller.principal
    denied: list[str] = []
    for doc in docs:
        spec = doc.spec
        if isinstance(spec, ClusterSpec):
            row = state.clusters.get(spec.name)
            perm = Permission.CLUSTERS_WRITE if row else Permission.CLUSTERS_CREATE
            target = cl.cluster_target(row) if row else TENANT
        elif isinstance(spec, WorkspaceSpec):
            row_ws = state.workspaces.get(spec.name)
            if row_ws is not None and _policy_changed(row_ws, spec):
                # GPUs, privileged pods and the queue are the cluster admin's call.
                perm = Permission.WORKSPACES_CREATE
                target = cl.cluster_target(row_ws.cluster)
            elif row_ws is not None:
                perm, target = Permission.WORKSPACES_WRITE, cl.workspace_target(row_ws)
            else:
                cluster = state.clusters.get(spec.cluster or "")
                perm = Permission.WORKSPACES_CREATE
                target = cl.cluster_target(cluster) if cluster else TENANT
        else:
            ws = workspace_of(doc)
            if ws is None:
                continue
            perm, target = Permission.APPS_WRITE, _target_of_workspace(ws, docs, state)
        if not p.allows(perm, target):
            denied.append(f"{doc.subject} needs {perm.value} on {target.label}")
    if denied:
        raise ForbiddenError("permission denied: " + "; ".join(denied))


async def _load_state(session: AsyncSession) -> _State:
    """Clusters and workspaces as committed now (refreshing rows the session already holds)."""
    fresh = {"populate_existing": True}
    clusters = await session.scalars(select(ClusterRow).execution_options(**fresh))
    spaces = await session.scalars(select(WorkspaceRow).execution_options(**fresh))
    return _State(clusters={r.name: r for r in clusters}, workspaces={r.name: r for r in spaces})


async def _clusters_touched(
    session: AsyncSession, docs: Sequence[Document], state: _State, sync: str | None
) -> set[int]:
    """Every existing cluster whose desired state this apply may change."""
    new_ws = {d.spec.name: d.spec for d in docs if isinstance(d.spec, WorkspaceSpec)}
    names: set[str] = {d.spec.name for d in docs if isinstance(d.spec, ClusterSpec)}
    for ws in _workspaces_named(docs):
        row = state.workspaces.get(ws)
        if row is not None:
            names.add(row.cluster.name)
        elif ws in new_ws and new_ws[ws].cluster:
            names.add(str(new_ws[ws].cluster))
    ids = {state.clusters[n].id for n in names if n in state.clusters}
    if sync:
        rows = await session.scalars(
            select(WorkspaceRow.cluster_id)
            .join(AppRow, AppRow.workspace_id == WorkspaceRow.id)
            .where(AppRow.source == sync, AppRow.active_version.is_not(None))
        )
        ids |= set(rows)
    return ids


async def apply(session: AsyncSession, caller: Caller, body: ApplyRequest) -> ApplyResult:
    docs = load_texts(
        [(d.source, d.content) for d in body.documents], default_workspace=body.default_workspace
    )
    # Lock every cluster this apply may touch, then read the state afresh: decisions are made on
    # rows no concurrent apply can change until this transaction ends.
    await lock_clusters(
        session, await _clusters_touched(session, docs, await _load_state(session), body.sync)
    )
    state = await _load_state(session)
    _check_references(docs, caller, state)
    _authorize(docs, caller, state)
    sync_apps = await _sync_candidates(session, docs, body.sync, caller)

    base = await stored_catalog(session, _workspaces_named(docs))
    compiled = compile_documents(docs, base=base)
    results = {id(doc): result for doc, result in compiled.results}
    await check_collisions(session, compiled.results, state)
    removed = {(a.workspace.name, a.name) for a in sync_apps}
    await check_privilege_still_needed(session, docs, base, removed)
    await check_context_changes(session, docs, base, removed)

    changes: list[Change] = []
    for doc in docs:
        if isinstance(doc.spec, ClusterSpec):
            changes.append(await _apply_cluster(session, caller, doc.spec, state, body.dry_run))
    for doc in docs:
        if isinstance(doc.spec, WorkspaceSpec):
            changes.append(await _apply_workspace(session, caller, doc.spec, state, body))
    apps = await _apps_of(session, state)
    for doc in docs:
        if not isinstance(doc.spec, ClusterSpec | WorkspaceSpec):
            result = results[id(doc)]
            changes.append(
                await _apply_app(
                    session,
                    caller,
                    doc,
                    list(result.bundle.objects),
                    result.bundle.hash,
                    state,
                    apps,
                    body,
                )
            )
    for app in sync_apps:
        changes.append(await delete_app(session, caller, app, state, diff=body.diff))
    for name in sorted(state.changed):
        bump(state.clusters[name])
    warnings = list(compiled.warnings) + await missing_secrets(session, docs, state)
    warnings += placement_warnings(docs, state)
    warnings += await gateway_name_clashes(session, docs)
    return ApplyResult(
        dry_run=body.dry_run,
        changes=changes,
        warnings=[DiagnosticBody.of(w) for w in warnings],
    )


def _workspaces_named(docs: Sequence[Document]) -> set[str]:
    return {ws for d in docs if not isinstance(d.spec, ClusterSpec) and (ws := workspace_of(d))}


async def _apply_cluster(
    session: AsyncSession, caller: Caller, spec: ClusterSpec, state: _State, dry_run: bool
) -> Change:
    row = state.clusters.get(spec.name)
    if row is None:
        if dry_run:
            return Change(kind="Cluster", name=spec.name, action="create")
        registered = await cl.register_cluster(session, caller, spec)
        state.clusters[spec.name] = await session.scalar(
            select(ClusterRow).where(ClusterRow.name == spec.name)
        )  # type: ignore[assignment]
        return Change(
            kind="Cluster",
            name=spec.name,
            action="create",
            agent_token=registered.agent_token,
            cluster_revision=0,
        )
    changed = await cl.update_cluster(session, caller, row, spec)
    if changed and not dry_run:
        state.changed.add(spec.name)  # its cluster-wide objects follow its spec
    return Change(
        kind="Cluster",
        name=spec.name,
        action="update" if changed else "unchanged",
        cluster_revision=row.revision,
    )


async def _apply_workspace(
    session: AsyncSession, caller: Caller, spec: WorkspaceSpec, state: _State, body: ApplyRequest
) -> Change:
    cluster_name = spec.cluster or ""
    row = state.workspaces.get(spec.name)
    cluster = state.clusters.get(cluster_name)
    if cluster is None:  # a cluster created by this dry run
        return Change(kind="Workspace", name=spec.name, action="create")
    old = list(row.objects) if row else []
    saved = await cl.save_workspace(session, caller, spec, cluster, row)
    if saved is None:
        return Change(
            kind="Workspace", name=spec.name, action="unchanged", cluster_revision=cluster.revision
        )
    state.workspaces[spec.name] = saved
    state.changed.add(cluster_name)
    return Change(
        kind="Workspace",
        name=spec.name,
        action="update" if row else "create",
        cluster_revision=state.next_revision(cluster_name),
        diff=manifest_diff(old, saved.objects, label=f"workspace/{spec.name}", old_label="active")
        if body.diff
        else None,
    )


async def _apps_of(session: AsyncSession, state: _State) -> dict[tuple[int, str], AppRow]:
    ids = [r.id for r in state.workspaces.values()]
    rows = await session.scalars(select(AppRow).where(AppRow.workspace_id.in_(ids)))
    return {(r.workspace_id, r.name): r for r in rows}


async def _apply_app(
    session: AsyncSession,
    caller: Caller,
    doc: Document,
    objects: list[dict[str, object]],
    bundle_hash: str,
    state: _State,
    apps: dict[tuple[int, str], AppRow],
    body: ApplyRequest,
) -> Change:
    spec = doc.spec
    ws_name = workspace_of(doc) or ""
    ws = state.workspaces.get(ws_name)
    if ws is None:  # its workspace is created by this dry run
        return Change(kind=spec.kind, name=spec.name, workspace=ws_name, action="create", version=1)
    cluster = ws.cluster.name
    digest = version_hash(spec, bundle_hash)
    app = apps.get((ws.id, spec.name))
    active = await version_of(session, app, app.active_version) if app else None
    if app is not None and body.sync:
        app.source = body.sync
    if active is not None and active.hash == digest:
        return Change(
            kind=spec.kind,
            name=spec.name,
            workspace=ws_name,
            action="unchanged",
            version=active.number,
            cluster_revision=active.cluster_revision,
        )
    if app is None:
        app = AppRow(
            workspace_id=ws.id, name=spec.name, kind=spec.kind, latest_version=0, source=body.sync
        )
        app.workspace = ws
        apps[(ws.id, spec.name)] = app
    app.kind = spec.kind
    revision = state.next_revision(cluster)
    version = await add_version(
        session,
        caller,
        app,
        spec=spec_dump(spec),
        objects=objects,
        hash=digest,
        cluster_revision=revision,
    )
    state.changed.add(cluster)
    return Change(
        kind=spec.kind,
        name=spec.name,
        workspace=ws_name,
        action="update" if active is not None else "create",
        version=version.number,
        cluster_revision=revision,
        diff=manifest_diff(
            active.objects if active else [],
            objects,
            label=f"{ws_name}/{spec.name} v{version.number}",
            old_label=f"{ws_name}/{spec.name} v{active.number}" if active else "(none)",
        )
        if body.diff
        else None,
    )


async def _sync_candidates(
    session: AsyncSession, docs: Sequence[Document], sync: str | None, caller: Caller
) -> list[AppRow]:
    """Active apps applied earlier from this sync source that the input no longer holds.

    Only apps the caller may write are candidates: a sync never reaches (or reveals) apps in
    workspaces the caller cannot touch, even if they carry the same sync id.
    """
    if not sync:
        return []
    present = {
        (workspace_of(d), d.spec.name)
        for d in docs
        if not isinstance(d.spec, ClusterSpec | WorkspaceSpec)
    }
    rows = await session.scalars(
        select(AppRow)
        .where(AppRow.source == sync, AppRow.active_version.is_not(None))
        .execution_options(populate_existing=True)
    )
    p = caller.principal
    return [
        r
        for r in rows
        if (r.workspace.name, r.name) not in present
        and p.allows(Permission.APPS_WRITE, cl.workspace_target(r.workspace))
    ]


async def delete_app(
    session: AsyncSession, caller: Caller, app: AppRow, state: _State | None, *, diff: bool
) -> Change:
    """Deactivate an app: its objects leave the desired state; its history stays."""
    active = await version_of(session, app, app.active_version)
    cluster = app.workspace.cluster
    if active is None:
        return Change(
            kind=app.kind, name=app.name, workspace=app.workspace.name, action="unchanged"
        )
    if state is None:
        revision = bump(cluster)  # the caller holds the cluster's lock
    else:
        revision = state.next_revision(cluster.name)
        state.changed.add(cluster.name)
    app.active_version = None
    record(
        session,
        caller,
        action="app.delete",
        target=f"app/{app.workspace.name}/{app.name}",
        details={"version": active.number},
    )
    return Change(
        kind=app.kind,
        name=app.name,
        workspace=app.workspace.name,
        action="delete",
        version=None,
        cluster_revision=revision,
        diff=manifest_diff(
            active.objects,
            [],
            label="(deleted)",
            old_label=f"{app.workspace.name}/{app.name} v{active.number}",
        )
        if diff
        else None,
    )
