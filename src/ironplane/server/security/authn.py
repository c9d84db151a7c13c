"""Bearer token → Principal, with the caller's role bindings resolved into grants."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.permissions import Permission
from ironplane.core.errors import UnauthenticatedError
from ironplane.server.db.tables import (
    ApiTokenRow,
    ClusterRow,
    RoleBindingRow,
    RoleRow,
    TeamMemberRow,
    WorkspaceRow,
)
from ironplane.server.db.types import utcnow
from ironplane.server.security import tokens
from ironplane.server.security.principals import Grant, Principal

_TOUCH_EVERY = timedelta(minutes=1)
_BAD = "the token is not valid: it is unknown, expired or revoked; log in again"


def live(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> bool:
    """A token neither revoked nor expired (it expires at ``expires_at`` itself)."""
    return revoked_at is None and (expires_at is None or expires_at > now)


async def authenticate(session: AsyncSession, bearer: str | None) -> Principal:
    if not bearer:
        raise UnauthenticatedError(
            "authentication required: send `Authorization: Bearer <token>` (run `ironplane login`)"
        )
    parsed = tokens.parse(bearer)
    if parsed is None:
        raise UnauthenticatedError(_BAD)
    token_id, secret = parsed
    row = await session.get(ApiTokenRow, token_id)
    if row is None or not tokens.matches(secret, row.secret_hash):
        raise UnauthenticatedError(_BAD)
    now = utcnow()
    if not live(row.revoked_at, row.expires_at, now):
        raise UnauthenticatedError(_BAD)
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
        row.last_used_at = now
    if row.kind == "agent" and row.cluster is not None:
        return Principal(
            kind="agent",
            name=row.cluster.name,
            id=row.cluster.id,
            token_id=row.id,
            agent_cluster_id=row.cluster.id,
        )
    if row.service_account is not None:
        sa = row.service_account
        grants = await load_grants(session, service_account_id=sa.id)
        return Principal(
            kind="service_account", name=sa.name, id=sa.id, token_id=row.id, grants=grants
        )
    if row.user is not None and row.user.active:
        user = row.user
        grants = await load_grants(session, user_id=user.id)
        return Principal(kind="user", name=user.name, id=user.id, token_id=row.id, grants=grants)
    raise UnauthenticatedError(_BAD)


async def load_grants(
    session: AsyncSession,
    *,
    user_id: int | None = None,
    service_account_id: int | None = None,
    team_id: int | None = None,
) -> tuple[Grant, ...]:
    """The grants of exactly one subject: a user (directly and through their teams), a service
    account, or a team; in binding order."""
    if user_id is not None:
        teams = select(TeamMemberRow.team_id).where(TeamMemberRow.user_id == user_id)
        who = or_(RoleBindingRow.user_id == user_id, RoleBindingRow.team_id.in_(teams))
    elif service_account_id is not None:
        who = RoleBindingRow.service_account_id == service_account_id
    elif team_id is not None:
        who = RoleBindingRow.team_id == team_id
    else:
        raise TypeError("load_grants needs a user, a service account or a team")
    rows = await session.execute(
        select(
            RoleBindingRow.scope_kind,
            RoleBindingRow.cluster_id,
            RoleBindingRow.workspace_id,
            RoleRow.permissions,
            ClusterRow.name,
            WorkspaceRow.cluster_id,
            WorkspaceRow.name,
        )
        .join(RoleRow, RoleRow.name == RoleBindingRow.role)
        .outerjoin(ClusterRow, ClusterRow.id == RoleBindingRow.cluster_id)
        .outerjoin(WorkspaceRow, WorkspaceRow.id == RoleBindingRow.workspace_id)
        .where(who)
        .order_by(RoleBindingRow.id)
    )
    known = {p.value for p in Permission}
    grants = []
    for scope_kind, cluster_id, workspace_id, perms, cluster, ws_cluster_id, ws in rows.all():
        label = "tenant"
        if scope_kind == "cluster":
            label = f"cluster/{cluster}"
        elif scope_kind == "workspace":
            label, cluster_id = f"workspace/{ws}", ws_cluster_id
        grants.append(
            Grant(
                permissions=frozenset(Permission(p) for p in perms if p in known),
                scope_kind=scope_kind,
                cluster_id=cluster_id,
                workspace_id=workspace_id,
                label=label,
            )
        )
    return tuple(grants)
