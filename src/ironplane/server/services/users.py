"""Users, teams and service accounts."""

from __future__ import annotations

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
from ironplane.server.security.passwords import hash_password
from ironplane.server.services.audit import record
from ironplane.server.services.lookup import by_name, exists


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
    row = await _user(session, name)
    changed: list[str] = []
    if body.email is not None:
        row.email = body.email
        changed.append("email")
    if body.password is not None:
        row.password_hash = hash_password(body.password.get_secret_value())
        changed.append("password")
    if body.active is not None:
        if not body.active and caller.principal.kind == "user" and caller.principal.id == row.id:
            raise ForbiddenError("you cannot deactivate yourself; ask another admin")
        row.active = body.active
        changed.append("active")
    record(
        session, caller, action="user.update", target=f"user/{name}", details={"fields": changed}
    )
    return user_out(row)


async def delete_user(session: AsyncSession, caller: Caller, name: str) -> Deleted:
    row = await _user(session, name)
    if caller.principal.kind == "user" and caller.principal.id == row.id:
        raise ForbiddenError("you cannot delete yourself; ask another admin")
    await session.delete(row)
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
    row = await _team(session, name)
    await session.delete(row)
    record(session, caller, action="team.delete", target=f"team/{name}")
    return Deleted(deleted=f"team/{name}")


async def set_member(
    session: AsyncSession, caller: Caller, team: str, user: str, *, member: bool
) -> Team:
    row = await _team(session, team)
    person = await by_name(session, UserRow, user)
    present = any(m.id == person.id for m in row.members)
    if member and not present:
        row.members.append(person)
    elif not member and present:
        row.members = [m for m in row.members if m.id != person.id]
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
