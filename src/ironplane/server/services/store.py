"""Shared pieces of the versioned manifest store: content hashes, revisions, the stored catalog."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.compiler.context import Catalog
from ironplane.server.db.tables import AppRow, AppVersionRow, ClusterRow, WorkspaceRow
from ironplane.server.db.types import utcnow
from ironplane.spec.kinds import SPEC_ADAPTER, ClusterSpec, Spec, VolumeSpec, WorkspaceSpec
from ironplane.wire.manifests import content_hash


def spec_dump(spec: Spec) -> dict[str, Any]:
    """The stored form of a spec: what the user wrote, after validation (defaults left out)."""
    return spec.model_dump(mode="json", exclude_unset=True)


def spec_load(data: dict[str, Any]) -> Spec:
    return SPEC_ADAPTER.validate_python(data)


def version_hash(spec: Spec, bundle_hash: str) -> str:
    """Equal exactly when both the spec (defaults filled in) and its compiled bundle are equal."""
    return content_hash([{"spec": spec.model_dump(mode="json"), "bundle": bundle_hash}])


async def lock_clusters(session: AsyncSession, ids: Iterable[int]) -> dict[int, ClusterRow]:
    """Lock the clusters' rows, in id order so that concurrent appliers cannot deadlock.

    Every change to a cluster's desired state takes this lock first, so revisions grow without
    gaps or repeats however many requests apply at once (SQLite's BEGIN IMMEDIATE does the same
    for the whole database).
    """
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(
        select(ClusterRow)
        .where(ClusterRow.id.in_(wanted))
        .order_by(ClusterRow.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {r.id: r for r in rows}


def bump(cluster: ClusterRow) -> int:
    cluster.revision += 1
    cluster.updated_at = utcnow()
    return cluster.revision


async def stored_catalog(session: AsyncSession, workspaces: Iterable[str]) -> Catalog:
    """Every cluster and workspace, and the active volumes of the named workspaces."""
    clusters = {
        r.name: ClusterSpec.model_validate(r.spec)
        for r in await session.scalars(select(ClusterRow))
    }
    spaces = {
        r.name: WorkspaceSpec.model_validate(r.spec)
        for r in await session.scalars(select(WorkspaceRow))
    }
    names = sorted(set(workspaces))
    volumes: dict[tuple[str, str], VolumeSpec] = {}
    if names:
        rows = await session.execute(
            select(WorkspaceRow.name, AppVersionRow.spec)
            .join(AppRow, AppRow.workspace_id == WorkspaceRow.id)
            .join(
                AppVersionRow,
                (AppVersionRow.app_id == AppRow.id)
                & (AppVersionRow.number == AppRow.active_version),
            )
            .where(WorkspaceRow.name.in_(names), AppRow.kind == "Volume")
        )
        for ws, spec in rows.all():
            volume = VolumeSpec.model_validate(spec)
            volumes[(ws, volume.name)] = volume
    return Catalog(clusters=clusters, workspaces=spaces, volumes=volumes)


def _yaml(objects: Sequence[dict[str, Any]]) -> list[str]:
    text = "---\n".join(yaml.safe_dump(o, sort_keys=False, width=1000) for o in objects)
    return text.splitlines(keepends=True)


def manifest_diff(
    old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]], *, label: str, old_label: str
) -> str:
    return "".join(difflib.unified_diff(_yaml(old), _yaml(new), fromfile=old_label, tofile=label))
