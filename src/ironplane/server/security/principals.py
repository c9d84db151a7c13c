"""Who is calling, and what their role bindings allow where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ironplane.api.permissions import Permission

PrincipalKind = Literal["user", "service_account", "agent"]


@dataclass(frozen=True, slots=True)
class Target:
    """What a permission is checked against: the tenant, a cluster or a workspace."""

    cluster_id: int | None = None
    workspace_id: int | None = None
    label: str = "tenant"

    @property
    def level(self) -> str:
        if self.workspace_id is not None:
            return "workspace"
        return "cluster" if self.cluster_id is not None else "tenant"


TENANT = Target()


@dataclass(frozen=True, slots=True)
class Grant:
    """One role binding, resolved: its permissions and the scope it was bound on.

    ``cluster_id`` is set for cluster bindings and, for workspace bindings, is the workspace's
    cluster: so that ``target`` is the scope as a permission check sees it.
    """

    permissions: frozenset[Permission]
    scope_kind: str
    cluster_id: int | None = None
    workspace_id: int | None = None
    label: str = "tenant"
    """``tenant``, ``cluster/<name>`` or ``workspace/<name>``: for messages."""

    def covers(self, cluster_id: int | None, workspace_id: int | None) -> bool:
        """Whether the binding's scope contains the target (a cluster, a workspace, or None)."""
        if self.scope_kind == "tenant":
            return True
        if self.scope_kind == "cluster":
            return cluster_id is not None and cluster_id == self.cluster_id
        return workspace_id is not None and workspace_id == self.workspace_id

    @property
    def target(self) -> Target:
        """The binding's own scope, as a target to check permissions against."""
        if self.scope_kind == "tenant":
            return TENANT
        if self.scope_kind == "cluster":
            return Target(cluster_id=self.cluster_id, label=self.label)
        return Target(cluster_id=self.cluster_id, workspace_id=self.workspace_id, label=self.label)


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    name: str
    id: int
    token_id: str | None = None
    grants: tuple[Grant, ...] = ()
    agent_cluster_id: int | None = None
    """Set for a cluster's agent: it may read that cluster's desired state and nothing else."""

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.name}"

    def allows(self, permission: Permission, target: Target = TENANT) -> bool:
        if self.kind == "agent":
            return False
        return any(
            permission in g.permissions and g.covers(target.cluster_id, target.workspace_id)
            for g in self.grants
        )

    def sees(self, target: Target) -> bool:
        """Whether any binding reaches the target; if none does, a denial answers 404."""
        return any(g.covers(target.cluster_id, target.workspace_id) for g in self.grants)
