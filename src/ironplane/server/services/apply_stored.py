"""Stored apps against a changed platform: a Workspace or Cluster applied anew must not leave an
active app it does not replace invalid where it runs.

A stored app was checked against its workspace and cluster as they were when it was applied.
Changed under it (a workspace no longer privileged or without GPUs, a cluster no longer
Enhanced, a GPU type gone), its pods would be refused or never scheduled, and the apply would
have said nothing. The compiler's own check decides, so there is one rule; only the problems the
change brings count (a problem the app had before is not this change's business). Apps the same
apply replaces are compiled against the new platform already, and apps it removes (a sync) no
longer count. Both checks raise before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.compiler.checks import check
from ironplane.compiler.context import Catalog, CompileContext
from ironplane.compiler.documents import catalog_of
from ironplane.compiler.kinds.training_pods import QUEUE_LABEL, queue_name
from ironplane.compiler.privilege import privileged_uses
from ironplane.core.diagnostics import Diagnostic, format_path
from ironplane.core.errors import SpecError
from ironplane.server.db.tables import AppRow, AppVersionRow, WorkspaceRow
from ironplane.server.services.apply_checks import workspace_of
from ironplane.server.services.store import spec_load
from ironplane.spec.kinds import ClusterSpec, Spec, TrainingJobSpec, WorkspaceSpec
from ironplane.spec.loading import Document

Row = tuple[str, str, str, int, dict[str, Any], list[dict[str, Any]]]
"""An active version: workspace, app, kind, version number, spec, compiled objects."""


async def _active_versions(session: AsyncSession, workspaces: Iterable[str]) -> list[Row]:
    rows = await session.execute(
        select(
            WorkspaceRow.name,
            AppRow.name,
            AppRow.kind,
            AppVersionRow.number,
            AppVersionRow.spec,
            AppVersionRow.objects,
        )
        .join(AppRow, AppRow.workspace_id == WorkspaceRow.id)
        .join(
            AppVersionRow,
            (AppVersionRow.app_id == AppRow.id) & (AppVersionRow.number == AppRow.active_version),
        )
        .where(WorkspaceRow.name.in_(sorted(workspaces)))
        .order_by(WorkspaceRow.name, AppRow.name)
    )
    return [tuple(r) for r in rows.all()]


async def _stored_apps(
    session: AsyncSession,
    docs: Sequence[Document],
    removed: Iterable[tuple[str, str]],
    workspaces: Iterable[str],
) -> list[Row]:
    """The active versions in ``workspaces`` that this apply neither replaces nor removes (those
    are compiled against the new platform already, or no longer count)."""
    kept = {
        (str(workspace_of(d)), d.spec.name)
        for d in docs
        if not isinstance(d.spec, ClusterSpec | WorkspaceSpec)
    } | set(removed)
    return [row for row in await _active_versions(session, workspaces) if row[:2] not in kept]


def stored_spec(data: dict[str, Any]) -> Spec | None:
    """A stored version's spec; None when it was stored by a release whose fields this one no
    longer reads (then only its stored objects can be judged)."""
    try:
        return spec_load(data)
    except ValidationError:
        return None


def _new_problems(spec: Spec, before: CompileContext, after: CompileContext) -> list[Diagnostic]:
    """The compiler's problems with ``spec`` in ``after`` that it does not have in ``before``."""
    had = {_key(p) for p in check(spec, before)}
    return [p for p in check(spec, after) if _key(p) not in had]


def describe_privileged_uses(objects: Sequence[dict[str, Any]]) -> str:
    """What stored manifests hold that a restricted workspace refuses (the first three), or
    ``""``."""
    uses = privileged_uses(objects)
    if not uses:
        return ""
    more = f" and {len(uses) - 3} more" if len(uses) > 3 else ""
    return "; ".join(uses[:3]) + more


def privilege_needs(
    data: dict[str, Any], objects: Sequence[dict[str, Any]], ctx: CompileContext
) -> str:
    """Why a stored version needs a privileged workspace, or ``""``: the spec fields the
    compiler refuses in ``ctx`` (not privileged) and allows with ``privileged: true`` (a missing
    volume or the like is reported alike in both, so it is not counted), else what its stored
    manifests hold that a restricted workspace refuses (e.g. the node-shared weights cache, a
    host path, which the compiler chose without refusing anything)."""
    spec = stored_spec(data)
    if spec is not None:
        with_privilege = replace(
            ctx, workspace=ctx.workspace.model_copy(update={"privileged": True})
        )
        fields = sorted({format_path(d.path) for d in _new_problems(spec, with_privilege, ctx)})
        if fields:
            return ", ".join(fields)
    return describe_privileged_uses(objects)


async def check_privilege_still_needed(
    session: AsyncSession,
    docs: Sequence[Document],
    base: Catalog,
    removed: Iterable[tuple[str, str]],
) -> None:
    """A workspace may drop ``privileged: true`` only when none of its active apps needs it.

    A stored app was checked against the workspace as it was then. Kept in a workspace that no
    longer allows privileged pods, its pods would be refused by the admission policy the agent
    installs for it, and the apply would have said nothing. The compiler's own check decides,
    so there is one rule: each stored spec is checked against the new workspace. Apps this apply
    replaces are compiled against the new workspace already, and apps it removes (a sync) no
    longer count.
    """
    dropped = {
        d.spec.name: d
        for d in docs
        if isinstance(d.spec, WorkspaceSpec)
        and not d.spec.privileged
        and (stored := base.workspaces.get(d.spec.name)) is not None
        and stored.privileged
    }
    if not dropped:
        return
    catalog = catalog_of(docs, base)
    problems: list[Diagnostic] = []
    for ws, app, kind, number, data, objects in await _stored_apps(session, docs, removed, dropped):
        needs = privilege_needs(data, objects, catalog.context(ws))
        if not needs:
            continue
        problems.append(
            dropped[ws].problem(
                Diagnostic(
                    f"{kind} {ws}/{app} (active version {number}) needs a privileged workspace "
                    f"for {needs}",
                    path=("privileged",),
                    given="false",
                    allowed="privileged: false only when no active app needs privileged pods",
                    hint=f"delete the app first (ironplane delete app {ws}/{app}), change it in "
                    "this apply so it no longer needs privilege, or keep privileged: true",
                )
            )
        )
    if problems:
        raise SpecError(problems, summary=f"{len(problems)} problem(s) in the specs:")


def _queue_of(objects: Sequence[dict[str, Any]]) -> str | None:
    """The Kueue queue label the stored objects carry (a TrainingJob's training object)."""
    for obj in objects:
        label = ((obj.get("metadata") or {}).get("labels") or {}).get(QUEUE_LABEL)
        if label is not None:
            return str(label)
    return None


def _queue(name: str | None) -> str:
    return repr(name) if name is not None else "no queue"


def queue_mismatch(
    spec: Spec, objects: Sequence[dict[str, Any]], ctx: CompileContext
) -> Diagnostic | None:
    """A TrainingJob whose stored objects carry another Kueue queue label than it would get in
    ``ctx`` (the workspace's queue moved, Kueue came or went): Kueue would never admit them, or
    would not hold them."""
    if not isinstance(spec, TrainingJobSpec):
        return None
    stored, wanted = _queue_of(objects), queue_name(spec, ctx)
    if stored == wanted:
        return None
    return Diagnostic(
        f"its objects are queued on {_queue(stored)}, where it would now be on {_queue(wanted)}",
        path=("queue",),
    )


def _key(d: Diagnostic) -> tuple[tuple[str | int, ...], str]:
    """A problem by where and what, not by its listing of what is allowed (which a change of
    the platform may change without the problem being new)."""
    return tuple(d.path), d.message


def _said(d: Diagnostic) -> str:
    text = f"{format_path(d.path)}: {d.message}"
    if d.given is not None:
        text += f" (given {d.given})"
    return text + (f" (allowed: {d.allowed})" if d.allowed else "")


def _changed(old: Any, new: Any, fields: Sequence[str]) -> tuple[str, ...]:
    """The path of the one field of ``fields`` that differs, else the document itself."""
    differ = [f for f in fields if getattr(old, f) != getattr(new, f)]
    return (differ[0],) if len(differ) == 1 else ()


async def check_context_changes(
    session: AsyncSession,
    docs: Sequence[Document],
    base: Catalog,
    removed: Iterable[tuple[str, str]],
) -> None:
    """A changed Workspace (``gpu``, ``cluster``...) or Cluster (``enhanced``, ``provider``,
    GPU types...) may not bring new problems to an active app it does not replace. Dropping
    ``privileged`` is :func:`check_privilege_still_needed`'s (its old value is kept here)."""
    catalog = catalog_of(docs, base)
    blame: dict[str, tuple[Document, tuple[str, ...]]] = {}
    for d in docs:
        spec = d.spec
        if not isinstance(spec, WorkspaceSpec):
            continue
        old = base.workspaces.get(spec.name)
        # A move to another cluster is refused when the workspace is saved, with its reason.
        if old is not None and old != spec and old.cluster == spec.cluster:
            blame[spec.name] = (d, _changed(old, spec, ("gpu", "queue")))
    clusters = {
        d.spec.name: d
        for d in docs
        if isinstance(d.spec, ClusterSpec) and base.clusters.get(d.spec.name) not in (None, d.spec)
    }
    for name, workspace in catalog.workspaces.items():
        doc = clusters.get(workspace.cluster or "default")
        if doc is not None and name not in blame and name in base.workspaces:
            old_cluster = base.clusters[doc.spec.name]
            fields = ("enhanced", "provider", "region", "gpu_types", "addons")
            blame[name] = (doc, _changed(old_cluster, doc.spec, fields))
    if not blame:
        return
    problems: list[Diagnostic] = []
    for ws, app, kind, number, data, objects in await _stored_apps(session, docs, removed, blame):
        stored = stored_spec(data)
        if stored is None:
            continue
        before, after = base.context(ws), catalog.context(ws)
        after = replace(
            after,
            workspace=after.workspace.model_copy(
                update={"privileged": before.workspace.privileged}
            ),
        )
        new = _new_problems(stored, before, after)
        moved = queue_mismatch(stored, objects, after)
        if moved is not None and queue_mismatch(stored, objects, before) is None:
            new.append(moved)
        if not new:
            continue
        doc, path = blame[ws]
        why = "; ".join(_said(p) for p in new)
        problems.append(
            doc.problem(
                Diagnostic(
                    f"{kind} {ws}/{app} (active version {number}) would no longer be valid: {why}",
                    path=path,
                    hint=f"delete the app first (ironplane delete app {ws}/{app}), apply it "
                    "again (changed if need be) in this apply, or keep what it needs",
                )
            )
        )
    if problems:
        raise SpecError(problems, summary=f"{len(problems)} problem(s) in the specs:")
