"""First start: built-in roles, and an admin with a one-time token when there are no users."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from sqlalchemy import func, select, update

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


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable and writable by the owner only.

    The temporary file beside it is always created anew (``O_EXCL``, mode 0600): a stale one, or
    one planted with wider permissions or as a symlink, is removed first and never written to.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
