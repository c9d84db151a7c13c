"""Users, teams and service accounts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ironplane.api.common import Deleted
from ironplane.api.identity import (
    ServiceAccount,
    ServiceAccountCreate,
    Team,
    TeamCreate,
    User,
    UserCreate,
    UserUpdate,
)
from ironplane.core.errors import ConflictError, ForbiddenError, NotFoundError
from ironplane.server.context import Caller
from ironplane.server.db.tables import ServiceAccountRow, TeamRow, UserRow
from ironplane.server.security.authn import load_grants
from ironplane.server.security.escalation import (
    ensure_tenant_admin,
    lock_tenant_admins,
    require_grants_held,
)
from ironplane.server.security.passwords import hash_password, verify_password
from ironplane.server.services.audit import record
from ironplane.server.services.lookup import by_name, exists
from ironplane.server.services.tokens import revoke_sessions


def user_out(row: UserRow) -> User:
    return User(
        name=row.name,
        email=row.email,
        active=row.active,
        has_password=row.password_hash is not None,
        teams=[t.name for t in row.teams],
        created_at=row.created_at,
    )


def team_out(row: TeamRow) -> Team:
    return Team(name=row.name, members=[m.name for m in row.members], created_at=row.created_at)


def sa_out(row: ServiceAccountRow) -> ServiceAccount:
    return ServiceAccount(name=row.name, description=row.description, created_at=row.created_at)


async def _user(session: AsyncSession, name: str) -> UserRow:
    row = await session.scalar(
        select(UserRow).where(UserRow.name == name).options(selectinload(UserRow.teams))
    )
    if row is None:
        raise NotFoundError(f"user {name!r} not found")
    return row


async def _team(session: AsyncSession, name: str) -> TeamRow:
    row = await session.scalar(
        select(TeamRow).where(TeamRow.name == name).options(selectinload(TeamRow.members))
    )
    if row is None:
        raise NotFoundError(f"team {name!r} not found")
    return row


async def list_users(session: AsyncSession) -> list[User]:
    rows = await session.scalars(
        select(UserRow).options(selectinload(UserRow.teams)).order_by(UserRow.name)
    )
    return [user_out(r) for r in rows]


async def get_user(session: AsyncSession, name: str) -> User:
    return user_out(await _user(session, name))


async def create_user(session: AsyncSession, caller: Caller, body: UserCreate) -> User:
    if await exists(session, UserRow, body.name):
        raise ConflictError(f"user {body.name!r} already exists")
    row = UserRow(
        name=body.name,
        email=body.email,
        password_hash=hash_password(body.password.get_secret_value()) if body.password else None,
        active=True,
        teams=[],
    )
    session.add(row)
    await session.flush()
    record(session, caller, action="user.create", target=f"user/{body.name}")
    return user_out(row)


async def update_user(session: AsyncSession, caller: Caller, name: str, body: UserUpdate) -> User:
    """Change a user's email, password or ``active``.

    Your own password changes only with your current one (if you have one). Taking over another
    user's login (their password or email, or re-activating them) needs every permission they
    hold. A new password ends the user's login sessions, except the caller's own.
    """
    if body.active is False:
        await lock_tenant_admins(session)
    row = await _user(session, name)
    principal = caller.principal
    is_self = principal.kind == "user" and principal.id == row.id
    if body.active is False and is_self:
        raise ForbiddenError("you cannot deactivate yourself; ask another admin")
    takes_over = body.password is not None or body.email is not None
    if not is_self and (takes_over or (body.active is True and not row.active)):
        require_grants_held(
            principal,
            await load_grants(session, user_id=row.id),
            action=f"taking over user {name!r}",
        )
    if is_self and body.password is not None and row.password_hash is not None:
        current = body.current_password.get_secret_value() if body.current_password else None
        if current is None or not verify_password(row.password_hash, current):
            raise ForbiddenError(
                "changing your own password needs your current one in `current_password`; "
                "it is missing or wrong"
            )
    changed: list[str] = []
    if body.email is not None:
        row.email = body.email
        changed.append("email")
    if body.password is not None:
        row.password_hash = hash_password(body.password.get_secret_value())
        changed.append("password")
    if body.active is not None:
        row.active = body.active
        changed.append("active")
    if body.active is False:
        await ensure_tenant_admin(session, change=f"deactivating user {name!r}")
    details: dict[str, Any] = {"fields": changed}
    if body.password is not None:
        details["sessions_revoked"] = await revoke_sessions(
            session, row.id, keep=principal.token_id
        )
    record(session, caller, action="user.update", target=f"user/{name}", details=details)
    return user_out(row)


async def delete_user(session: AsyncSession, caller: Caller, name: str) -> Deleted:
    await lock_tenant_admins(session)
    row = await _user(session, name)
    if caller.principal.kind == "user" and caller.principal.id == row.id:
        raise ForbiddenError("you cannot delete yourself; ask another admin")
    await session.delete(row)
    await ensure_tenant_admin(session, change=f"deleting user {name!r}")
    record(session, caller, action="user.delete", target=f"user/{name}")
    return Deleted(deleted=f"user/{name}")


async def list_teams(session: AsyncSession) -> list[Team]:
    rows = await session.scalars(
        select(TeamRow).options(selectinload(TeamRow.members)).order_by(TeamRow.name)
    )
    return [team_out(r) for r in rows]


async def get_team(session: AsyncSession, name: str) -> Team:
    return team_out(await _team(session, name))


async def create_team(session: AsyncSession, caller: Caller, body: TeamCreate) -> Team:
    if await exists(session, TeamRow, body.name):
        raise ConflictError(f"team {body.name!r} already exists")
    members = [await by_name(session, UserRow, m) for m in sorted(set(body.members))]
    row = TeamRow(name=body.name, members=members)
    session.add(row)
    await session.flush()
    record(session, caller, action="team.create", target=f"team/{body.name}")
    return team_out(row)


async def delete_team(session: AsyncSession, caller: Caller, name: str) -> Deleted:
    await lock_tenant_admins(session)
    row = await _team(session, name)
    await session.delete(row)
    await ensure_tenant_admin(session, change=f"deleting team {name!r}")
    record(session, caller, action="team.delete", target=f"team/{name}")
    return Deleted(deleted=f"team/{name}")


async def set_member(
    session: AsyncSession, caller: Caller, team: str, user: str, *, member: bool
) -> Team:
    """Add a user to a team (needs every permission the team's bindings grant) or remove one."""
    if not member:
        await lock_tenant_admins(session)
    row = await _team(session, team)
    person = await by_name(session, UserRow, user)
    present = any(m.id == person.id for m in row.members)
    if member and not present:
        require_grants_held(
            caller.principal,
            await load_grants(session, team_id=row.id),
            action=f"adding a member to team {team!r}",
        )
        row.members.append(person)
    elif not member and present:
        row.members = [m for m in row.members if m.id != person.id]
        await ensure_tenant_admin(session, change=f"removing {user!r} from team {team!r}")
    elif not member:
        raise NotFoundError(f"user {user!r} is not a member of team {team!r}")
    record(
        session,
        caller,
        action="team.add_member" if member else "team.remove_member",
        target=f"team/{team}",
        details={"user": user},
    )
    await session.flush()
    return team_out(row)


async def list_service_accounts(session: AsyncSession) -> list[ServiceAccount]:
    rows = await session.scalars(select(ServiceAccountRow).order_by(ServiceAccountRow.name))
    return [sa_out(r) for r in rows]


async def create_service_account(
    session: AsyncSession, caller: Caller, body: ServiceAccountCreate
) -> ServiceAccount:
    if await exists(session, ServiceAccountRow, body.name):
        raise ConflictError(f"service account {body.name!r} already exists")
    row = ServiceAccountRow(name=body.name, description=body.description)
    session.add(row)
    await session.flush()
    record(session, caller, action="service_account.create", target=f"service_account/{body.name}")
    return sa_out(row)


async def delete_service_account(session: AsyncSession, caller: Caller, name: str) -> Deleted:
    row = await by_name(session, ServiceAccountRow, name)
    await session.delete(row)
    record(session, caller, action="service_account.delete", target=f"service_account/{name}")
    return Deleted(deleted=f"service_account/{name}")
