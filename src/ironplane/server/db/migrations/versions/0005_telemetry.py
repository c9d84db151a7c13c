"""GPU and request telemetry the agents read from their clusters' Prometheus.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "telemetry_samples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("node", sa.String(length=253), nullable=True),
        sa.Column("workspace", sa.String(length=63), nullable=True),
        sa.Column("app", sa.String(length=63), nullable=True),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_telemetry_samples_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry_samples")),
    )
    op.create_index(
        "ix_telemetry_samples_cluster", "telemetry_samples", ["cluster_id", "name", "at"]
    )
    op.create_index("ix_telemetry_samples_app", "telemetry_samples", ["workspace", "app", "at"])
    op.create_index("ix_telemetry_samples_at", "telemetry_samples", ["at"])


def downgrade() -> None:
    op.drop_index("ix_telemetry_samples_at", table_name="telemetry_samples")
    op.drop_index("ix_telemetry_samples_app", table_name="telemetry_samples")
    op.drop_index("ix_telemetry_samples_cluster", table_name="telemetry_samples")
    op.drop_table("telemetry_samples")
