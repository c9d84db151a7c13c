"""First start: built-in roles, and an admin with a one-time token when there are no users."""

from __future__ import annotations

import sys

from sqlalchemy import func, select, update

from ironplane.core.files import write_private
from ironplane.server.db.engine import Database
from ironplane.server.db.tables import ApiTokenRow, ClusterRow, RoleBindingRow, UserRow
from ironplane.server.security import tokens
from ironplane.server.services.audit import record
from ironplane.server.services.roles import ensure_builtin_roles
from ironplane.server.settings import ServerSettings

_BOOTSTRAP_LOCK = 0x1C0_B007


async def bootstrap(db: Database, settings: ServerSettings) -> str | None:
    """Returns the admin's one-time token when this start created the admin, else None."""
    async with db.session() as session:
        if not db.is_sqlite:
            await session.execute(select(func.pg_advisory_xact_lock(_BOOTSTRAP_LOCK)))
        await ensure_builtin_roles(session)
        await session.flush()
        if await session.scalar(select(func.count()).select_from(UserRow)):
            return None
        admin = UserRow(name=settings.admin_name, active=True, teams=[])
        session.add(admin)
        await session.flush()
        session.add(
            RoleBindingRow(role="admin", subject_kind="user", user_id=admin.id, scope_kind="tenant")
        )
        minted = tokens.mint()
        session.add(
            ApiTokenRow(
                id=minted.id,
                name="bootstrap",
                secret_hash=minted.secret_hash,
                kind="user",
                user_id=admin.id,
                expires_at=None,
            )
        )
        record(
            session,
            None,
            action="bootstrap",
            target=f"user/{admin.name}",
            details={"token": minted.id},
        )
        return minted.secret


async def mark_agents_disconnected(db: Database) -> None:
    """At start no agent is connected to this process: clear what a killed one left behind.

    (One control-plane process per database; several replicas would track connections per
    replica instead.)"""
    async with db.session() as session:
        await session.execute(
            update(ClusterRow)
            .where(ClusterRow.agent_connected.is_(True))
            .values(agent_connected=False)
        )


def announce(token: str, settings: ServerSettings) -> None:
    """Hand the one-time token to the operator: to a 0600 file if configured, else to stdout."""
    target = settings.bootstrap_token_file
    if target is not None:
        write_private(target, token + "\n")
        print(f"ironplane: created admin {settings.admin_name!r}; its token is in {target}")
        return
    print(
        f"ironplane: created admin {settings.admin_name!r}. Its token is shown only this once:\n\n"
        f"    {token}\n\n"
        "Log in with: ironplane login --url URL --token TOKEN",
        file=sys.stdout,
        flush=True,
    )
