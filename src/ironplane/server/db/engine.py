"""Database: one async engine, sessions, and migrations run at start.

SQLite (the embedded default) gets WAL, foreign keys, a busy timeout and ``BEGIN IMMEDIATE`` so
that concurrent writers queue instead of failing; PostgreSQL gets a pool. Migrations run under an
advisory lock on PostgreSQL so that replicas starting together do not race.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, object_session

from ironplane.server.db.tables import ClusterRow
from ironplane.server.settings import ServerSettings

MIGRATIONS = Path(__file__).with_name("migrations")
_BUMPED = "ironplane.bumped_clusters"
_LISTENERS = "ironplane.revision_listeners"


class _Session(Session):
    """Sessions that remember which clusters' revisions they moved, to tell listeners on commit."""


def _revision_set(target: ClusterRow, value: int, old: object, _initiator: object) -> None:
    session = object_session(target)
    if session is not None and value != old and target.id is not None:
        session.info.setdefault(_BUMPED, set()).add(target.id)


def _after_commit(session: Session) -> None:
    bumped: set[int] = session.info.pop(_BUMPED, set())
    for listener in list(session.info.get(_LISTENERS, ()) if bumped else ()):
        listener(bumped)


def _after_rollback(session: Session) -> None:
    session.info.pop(_BUMPED, None)


event.listen(ClusterRow.revision, "set", _revision_set)
event.listen(_Session, "after_commit", _after_commit)
event.listen(_Session, "after_soft_rollback", lambda session, _tx: _after_rollback(session))
_MIGRATION_LOCK = 0x1C0_9A1E


class Database:
    def __init__(self, settings: ServerSettings) -> None:
        url = settings.resolved_database_url()
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"hide_parameters": True}
        if self.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": settings.sqlite_busy_timeout_s}
        else:
            kwargs["pool_size"] = settings.db_pool_size
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(self.engine, settings.sqlite_busy_timeout_s)
        self.revision_listeners: list[Callable[[set[int]], None]] = []
        """Called after each commit that moved clusters' desired-state revisions, with their ids."""
        self.sessions = async_sessionmaker(
            self.engine,
            expire_on_commit=False,
            sync_session_class=_Session,
            info={_LISTENERS: self.revision_listeners},
        )

    @asynccontextmanager
    async def session(self, *, commit: bool = True) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on any error.

        ``commit=False`` rolls back even on success: a dry run runs the real code path and
        leaves nothing behind.
        """
        async with self.sessions() as session:
            tx = await session.begin()
            try:
                yield session
            except BaseException:
                await tx.rollback()
                raise
            if commit:
                await tx.commit()
            else:
                await tx.rollback()

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            if not self.is_sqlite:
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            await conn.run_sync(_upgrade)

    async def close(self) -> None:
        await self.engine.dispose()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade(conn: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def _sqlite_setup(engine: AsyncEngine, busy_timeout_s: float) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        # Take the write lock up front: a deferred transaction that later upgrades to a writer
        # fails at once with SQLITE_BUSY when another writer holds the lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
