"""The Alembic migrations build exactly the schema the ORM tables describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from ironplane.server.db.engine import _upgrade
from ironplane.server.db.tables import Base


def test_migrations_match_the_tables(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as conn:
        _upgrade(conn)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        drift = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert drift == [], f"the migrations and tables.py disagree: {drift}"
