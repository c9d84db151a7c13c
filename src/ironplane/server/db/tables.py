"""The ORM rows. ``*Row`` names keep them apart from API models and from LLM "models"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ironplane.server.db.types import Json, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: Json}


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    teams: Mapped[list[TeamRow]] = relationship(
        secondary="team_members", back_populates="members", order_by="TeamRow.name"
    )


class TeamRow(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    members: Mapped[list[UserRow]] = relationship(
        secondary="team_members", back_populates="teams", order_by="UserRow.name"
    )


class TeamMemberRow(Base):
    __tablename__ = "team_members"
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class ServiceAccountRow(Base):
    __tablename__ = "service_accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClusterRow(Base):
    __tablename__ = "clusters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    spec: Mapped[dict[str, Any]]
    revision: Mapped[int] = mapped_column(Integer, default=0)
    """Desired-state revision: bumped in the same transaction as every change the agent follows."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    agent_connected: Mapped[bool] = mapped_column(Boolean, default=False)
    agent_seen_at: Mapped[datetime | None]
    applied_revision: Mapped[int] = mapped_column(Integer, default=0)
    """The last revision the agent acknowledged as applied."""
    agent_version: Mapped[str | None] = mapped_column(String(64))
    agent_runtime: Mapped[str | None] = mapped_column(String(32))
    nodes: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    """The agent's last node inventory."""


class WorkspaceRow(Base):
    __tablename__ = "workspaces"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("clusters.id", ondelete="RESTRICT"), index=True
    )
    spec: Mapped[dict[str, Any]]
    objects: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    cluster: Mapped[ClusterRow] = relationship(lazy="joined")


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    """The public part of the token; the secret part is stored only as a hash."""
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    """user, session, service_account or agent."""
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    service_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_accounts.id", ondelete="CASCADE")
    )
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    generation: Mapped[int | None]
    """Agent tokens: 1, 2, … per cluster in minting order (None: minted before 0006, as 0). An
    agent connecting with generation N retires the cluster's tokens below N."""
    user: Mapped[UserRow | None] = relationship(lazy="joined")
    service_account: Mapped[ServiceAccountRow | None] = relationship(lazy="joined")
    cluster: Mapped[ClusterRow | None] = relationship(lazy="joined")


class RoleRow(Base):
    __tablename__ = "roles"
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    permissions: Mapped[list[str]] = mapped_column(Json)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)


class RoleBindingRow(Base):
    __tablename__ = "role_bindings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(ForeignKey("roles.name", ondelete="RESTRICT"), index=True)
    subject_kind: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )
    service_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_accounts.id", ondelete="CASCADE"), index=True
    )
    scope_kind: Mapped[str] = mapped_column(String(20))
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user: Mapped[UserRow | None] = relationship(lazy="joined")
    team: Mapped[TeamRow | None] = relationship(lazy="joined")
    service_account: Mapped[ServiceAccountRow | None] = relationship(lazy="joined")
    cluster: Mapped[ClusterRow | None] = relationship(lazy="joined")
    workspace: Mapped[WorkspaceRow | None] = relationship(lazy="joined")


class AppRow(Base):
    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(40))
    active_version: Mapped[int | None]
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str | None] = mapped_column(String(1024), index=True)
    """The sync id of the source this app was last applied from (GitOps prune)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    workspace: Mapped[WorkspaceRow] = relationship(lazy="joined")


class AppVersionRow(Base):
    __tablename__ = "app_versions"
    __table_args__ = (UniqueConstraint("app_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    number: Mapped[int]
    spec: Mapped[dict[str, Any]]
    objects: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    hash: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(String(20))
    rollback_of: Mapped[int | None]
    author: Mapped[str] = mapped_column(String(200))
    cluster_revision: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecretGroupRow(Base):
    __tablename__ = "secret_groups"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    keys: Mapped[list[str]] = mapped_column(Json)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    """The values, as one Fernet token over their JSON."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEventRow(Base):
    """Append-only: the migration adds triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(400))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))
    details: Mapped[dict[str, Any]]


class ClusterAckRow(Base):
    """One row per (cluster, revision) the agent acknowledged: acks are recorded once."""

    __tablename__ = "cluster_acks"
    __table_args__ = (UniqueConstraint("cluster_id", "revision"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    revision: Mapped[int]
    hash: Mapped[str] = mapped_column(String(80))
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(2000))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AppStatusRow(Base):
    """What the agent last reported for one app."""

    __tablename__ = "app_status"
    __table_args__ = (UniqueConstraint("cluster_id", "workspace", "app"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    workspace: Mapped[str] = mapped_column(String(63))
    app: Mapped[str] = mapped_column(String(63))
    data: Mapped[dict[str, Any]]
    """The agent's AppStatus as JSON: phase, ready, desired, version, conditions, events, error."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobRunRow(Base):
    """One run of a Job: started through the API (``started_by`` the caller) or by its
    schedule (reported by the agent, ``started_by`` "schedule"). Phases come from the agent."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("cluster_id", "workspace", "name"),
        Index("ix_job_runs_job", "workspace", "job", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    workspace: Mapped[str] = mapped_column(String(63))
    job: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(63))
    started_by: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]]
    scheduled: Mapped[bool] = mapped_column(Boolean, default=False)
    phase: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class GatewayUsageRow(Base):
    """One request a gateway answered, from its shipped request logs. Rows older than the
    retention period (``services/usage.py``) are deleted during later ingestions."""

    __tablename__ = "gateway_usage"
    __table_args__ = (Index("ix_gateway_usage_at", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime]
    key: Mapped[str] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    target: Mapped[str | None] = mapped_column(String(400))
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cost: Mapped[float] = mapped_column(Float)
    stream: Mapped[bool] = mapped_column(Boolean)
    gateway: Mapped[str] = mapped_column(String(200))


class GatewayReplicaRow(Base):
    """Each gateway replica that shipped request logs: when last, how many, how many it dropped."""

    __tablename__ = "gateway_replicas"
    gateway: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    dropped: Mapped[int] = mapped_column(BigInteger, default=0)


class TelemetrySampleRow(Base):
    """One value of one telemetry series an agent read from its cluster's Prometheus: a node's
    (``node``) or an app's (``workspace``, ``app``). Kept ``telemetry_retention_hours``
    (``services/telemetry.py`` deletes older rows during later reports)."""

    __tablename__ = "telemetry_samples"
    __table_args__ = (
        Index("ix_telemetry_samples_cluster", "cluster_id", "name", "at"),
        Index("ix_telemetry_samples_app", "workspace", "app", "at"),
        Index("ix_telemetry_samples_at", "at"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    scope: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100))
    node: Mapped[str | None] = mapped_column(String(253))
    workspace: Mapped[str | None] = mapped_column(String(63))
    app: Mapped[str | None] = mapped_column(String(63))
    labels: Mapped[dict[str, Any]]
    value: Mapped[float] = mapped_column(Float)
