"""Checks of an apply against what the store already holds (beyond the compiler's own)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.compiler.core import CompileResult
from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import InvalidError, SpecError
from ironplane.server.db.tables import AppRow, AppVersionRow, SecretGroupRow, WorkspaceRow
from ironplane.spec.fields import SecretRef, Weights
from ironplane.spec.kinds import ClusterSpec, ModelSpec, WorkspaceSpec
from ironplane.spec.loading import Document
from ironplane.wire.manifests import identity

if TYPE_CHECKING:
    from ironplane.server.services.apply import _State


def workspace_of(doc: Document) -> str | None:
    spec = doc.spec
    if isinstance(spec, WorkspaceSpec):
        return spec.name
    return getattr(spec, "workspace", None)


async def check_collisions(
    session: AsyncSession, results: Sequence[tuple[Document, CompileResult]], state: _State
) -> None:
    """No object may be produced twice in one cluster: by another stored app, or by a stored
    workspace (its Namespace and ServiceAccount). The agent could not apply both."""
    names = {n for doc, _ in results if (n := workspace_of(doc)) in state.workspaces}
    clusters = {state.workspaces[n].cluster_id for n in names}
    if not clusters:
        return
    replaced = {(workspace_of(doc), doc.spec.name) for doc, _ in results}
    owners: dict[str, str] = {}
    spaces = [w for w in state.workspaces.values() if w.cluster_id in clusters]
    for ws in spaces:
        if ws.name not in {d.spec.name for d, _ in results if isinstance(d.spec, WorkspaceSpec)}:
            owners.update((identity(o), f"workspace {ws.name!r}") for o in ws.objects)
    rows = await session.execute(
        select(WorkspaceRow.name, AppRow.name, AppVersionRow.objects)
        .join(AppRow, AppRow.workspace_id == WorkspaceRow.id)
        .join(
            AppVersionRow,
            (AppVersionRow.app_id == AppRow.id) & (AppVersionRow.number == AppRow.active_version),
        )
        .where(WorkspaceRow.cluster_id.in_(clusters))
    )
    for ws_name, app_name, objects in rows.all():
        if (ws_name, app_name) not in replaced:
            owners.update((identity(o), f"app {ws_name}/{app_name}") for o in objects)
    problems: list[Diagnostic] = []
    for doc, result in results:
        for obj in result.bundle.objects:
            owner = owners.get(identity(obj))
            if owner is not None:
                meta = obj.get("metadata", {})
                where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
                problems.append(
                    doc.problem(
                        Diagnostic(
                            f"{obj.get('kind')} {where}{meta.get('name')} is already produced "
                            f"by {owner}",
                            path=("name",),
                            hint="rename one of them (for a service account: `identity."
                            "service_account`)",
                        )
                    )
                )
    if problems:
        raise SpecError(problems, summary=f"{len(problems)} problem(s) in the specs:")


def _secret_refs(
    value: object, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every ``{secret: group/key}`` in a spec, with its field path."""
    if isinstance(value, SecretRef):
        yield path, value.secret
    elif isinstance(value, Weights) and value.credentials is not None:
        # The puller's S3 key pair: two keys of the named group.
        for key in ("aws_access_key_id", "aws_secret_access_key"):
            yield (*path, "credentials"), f"{value.credentials}/{key}"
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_refs(getattr(value, name), (*path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_refs(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _secret_refs(item, (*path, i))


async def missing_secrets(
    session: AsyncSession, docs: Sequence[Document], state: _State
) -> list[Diagnostic]:
    """Warn about secret references the workspace cannot satisfy yet (pods would not start)."""
    ids = {r.id: n for n, r in state.workspaces.items()}
    groups: dict[tuple[str, str], set[str]] = {}
    if ids:
        rows = await session.scalars(
            select(SecretGroupRow).where(SecretGroupRow.workspace_id.in_(list(ids)))
        )
        groups = {(ids[g.workspace_id], g.name): set(g.keys) for g in rows}
    out: list[Diagnostic] = []
    for doc in docs:
        ws = workspace_of(doc)
        if ws is None or isinstance(doc.spec, ClusterSpec | WorkspaceSpec):
            continue
        for path, ref in _secret_refs(doc.spec):
            group, _, key = ref.partition("/")
            keys = groups.get((ws, group))
            if keys is None or key not in keys:
                what = f"secret group {group!r}" if keys is None else f"key {key!r} of {group!r}"
                out.append(
                    doc.problem(
                        Diagnostic(
                            f"{what} does not exist in workspace {ws!r} yet; pods that use "
                            "it will not start until it does",
                            path=path,
                            hint=f"ironplane secrets set -w {ws} {group} {key}=VALUE "
                            f"(or PUT /api/v1/workspaces/{ws}/secrets/{group})",
                        )
                    )
                )
    return out


def placement_warnings(docs: Sequence[Document], state: _State) -> list[Diagnostic]:
    """Warn when a TrainingJob would not fit on its cluster's reported nodes right now.

    The same preview as ``ironplane plan``; nothing is refused (the cluster may change before
    Kueue admits the job), and a cluster that has reported no nodes yet is not judged.
    """
    from ironplane.placement import preview
    from ironplane.placement.jobs import nodes_of, podset_of
    from ironplane.spec.kinds import TrainingJobSpec

    by_id = {row.id: row for row in state.clusters.values()}
    out: list[Diagnostic] = []
    for doc in docs:
        spec = doc.spec
        if not isinstance(spec, TrainingJobSpec):
            continue
        ws = state.workspaces.get(spec.workspace or "")
        cluster = by_id.get(ws.cluster_id) if ws is not None else None
        if cluster is None or not cluster.nodes or cluster.spec.get("provider") != "oci":
            continue  # nothing reported yet, or no topology labels to place on
        try:
            podset = podset_of(spec, "oci", cluster.spec.get("gpu_types"))
        except InvalidError:
            continue  # no GPUs, or a GPU type the compiler already reports
        plan = preview(nodes_of(cluster.nodes), podset)
        if not plan.fits:
            out.append(
                doc.problem(
                    Diagnostic(
                        f"does not fit on cluster {cluster.name!r} now: {plan.reason}",
                        path=("topology",) if spec.topology else ("nodes",),
                        hint="ironplane plan -f FILE shows where it would go; Kueue keeps it "
                        "queued until it fits",
                    )
                )
            )
    return out


async def gateway_name_clashes(session: AsyncSession, docs: Sequence[Document]) -> list[Diagnostic]:
    """Warn when a Model's gateway name is already served by another app: a name belongs to the
    app that claimed it first (``services.gateway.claims``), so this one is not reachable
    through the gateway under it."""
    from ironplane.server.services.gateway import claims, load_models

    models = [d for d in docs if isinstance(d.spec, ModelSpec)]
    if not models:
        return []
    served, _ = claims(await load_models(session))
    holders = {m.spec.gateway_name: (m.workspace, m.app) for m in served}
    out: list[Diagnostic] = []
    for doc in models:
        spec = doc.spec
        assert isinstance(spec, ModelSpec)
        holder = holders.get(spec.gateway_name)
        if holder is not None and holder != (workspace_of(doc), spec.name):
            out.append(
                doc.problem(
                    Diagnostic(
                        f"gateway name {spec.gateway_name!r} is served by {holder[0]}/{holder[1]}; "
                        "this Model is not reachable through the gateway under it",
                        path=("gateway", "name"),
                        hint="give it its own gateway.name",
                    )
                )
            )
    return out
