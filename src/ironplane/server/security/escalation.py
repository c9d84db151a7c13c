"""Two rules that keep role bindings from being turned against the tenant.

No escalation (Kubernetes' bind/escalate rule): whoever hands permissions over must already hold
each of them on the scope concerned. It applies to binding a role, adding a user to a team,
minting a service account's token, and taking over another user's login (their password, their
email, re-activating them): each of those hands the caller, or someone, the grants involved.

At least one admin: after every change that can take the ``admin`` role away (deleting or
deactivating a user, deleting a team or removing a member, deleting a binding), some active user
must still hold ``admin`` on the tenant, directly or through a team. The check runs in the same
transaction, before commit; on PostgreSQL a transaction-scoped advisory lock, taken before the
change, makes concurrent removals take turns so that two of them cannot both pass (SQLite's
``BEGIN IMMEDIATE`` already serializes writers).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.permissions import Permission
from ironplane.core.errors import ConflictError, ForbiddenError
from ironplane.server.db.tables import RoleBindingRow, TeamMemberRow, UserRow
from ironplane.server.security.principals import Grant, Principal, Target

_ADMINS_LOCK = 0x1C0_AD31
"""The advisory lock every change that can remove a tenant admin takes first (PostgreSQL)."""


def missing(
    principal: Principal, permissions: Iterable[Permission], target: Target
) -> Permission | None:
    """The first of the permissions (in their canonical order) the principal lacks on target."""
    wanted = set(permissions)
    return next(
        (p for p in Permission if p in wanted and not principal.allows(p, target)),
        None,
    )


def require_held(
    principal: Principal, permissions: Iterable[Permission], target: Target, *, action: str
) -> None:
    """Refuse (403) unless the principal holds every one of the permissions on the target."""
    lacking = missing(principal, permissions, target)
    if lacking is not None:
        raise ForbiddenError(
            f"permission denied: {action} hands over {lacking.value} on {target.label}, "
            f"which you do not hold there yourself"
        )


def require_grants_held(principal: Principal, grants: Iterable[Grant], *, action: str) -> None:
    """Refuse (403) unless the principal holds every permission of the grants, on their scopes."""
    for grant in grants:
        require_held(principal, grant.permissions, grant.target, action=action)


async def lock_tenant_admins(session: AsyncSession) -> None:
    """Take the tenant-admins lock for the rest of the transaction (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_ADMINS_LOCK)))


async def ensure_tenant_admin(session: AsyncSession, *, change: str) -> None:
    """Refuse (409) a change after which no active user holds ``admin`` on the tenant.

    Call it after the change, in the same transaction; it flushes the change first.
    """
    await session.flush()
    admin = (RoleBindingRow.role == "admin", RoleBindingRow.scope_kind == "tenant")
    direct = select(RoleBindingRow.user_id).where(*admin, RoleBindingRow.user_id.is_not(None))
    via_team = (
        select(TeamMemberRow.user_id)
        .join(RoleBindingRow, RoleBindingRow.team_id == TeamMemberRow.team_id)
        .where(*admin)
    )
    found = await session.scalar(
        select(UserRow.id)
        .where(UserRow.active.is_(True), or_(UserRow.id.in_(direct), UserRow.id.in_(via_team)))
        .limit(1)
    )
    if found is None:
        raise ConflictError(
            f"{change} would leave the tenant without an admin: it takes away the last admin "
            "binding on the tenant held by an active user (directly or through a team); "
            "bind admin on the tenant to another user or team first"
        )
