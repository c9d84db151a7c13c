"""Find a row by name or raise NotFoundError naming what was looked for."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.core.errors import NotFoundError
from ironplane.server.db.tables import (
    ClusterRow,
    ServiceAccountRow,
    TeamRow,
    UserRow,
    WorkspaceRow,
)

R = TypeVar("R", UserRow, TeamRow, ServiceAccountRow, ClusterRow, WorkspaceRow)

_WHAT: dict[type[Any], str] = {
    UserRow: "user",
    TeamRow: "team",
    ServiceAccountRow: "service account",
    ClusterRow: "cluster",
    WorkspaceRow: "workspace",
}


async def by_name(session: AsyncSession, row: type[R], name: str) -> R:
    found = await session.scalar(select(row).where(row.name == name))
    if found is None:
        raise NotFoundError(f"{_WHAT[row]} {name!r} not found")
    return found


async def exists(session: AsyncSession, row: type[R], name: str) -> bool:
    return await session.scalar(select(row.id).where(row.name == name)) is not None
