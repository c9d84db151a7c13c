"""Permissions, the scope each one applies at, and the built-in roles.

A role is a named set of permissions. A role binding grants a role to a subject (a user, a team
or a service account) on a scope: the whole tenant, one cluster (and its workspaces) or one
workspace. A permission of a narrower level is granted by a binding on any scope that contains
the object: ``apps.write`` bound on a cluster covers every workspace of that cluster.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    USERS_READ = "users.read"
    USERS_WRITE = "users.write"
    TEAMS_READ = "teams.read"
    TEAMS_WRITE = "teams.write"
    SERVICE_ACCOUNTS_READ = "service_accounts.read"
    SERVICE_ACCOUNTS_WRITE = "service_accounts.write"
    ROLES_READ = "roles.read"
    ROLES_WRITE = "roles.write"
    AUDIT_READ = "audit.read"
    CLUSTERS_CREATE = "clusters.create"
    CLUSTERS_READ = "clusters.read"
    CLUSTERS_WRITE = "clusters.write"
    WORKSPACES_CREATE = "workspaces.create"
    WORKSPACES_READ = "workspaces.read"
    WORKSPACES_WRITE = "workspaces.write"
    APPS_READ = "apps.read"
    APPS_WRITE = "apps.write"
    SECRETS_LIST = "secrets.list"
    SECRETS_READ = "secrets.read"
    SECRETS_WRITE = "secrets.write"
    GATEWAY_SERVE = "gateway.serve"
    """Read the gateway snapshot (routes, hashed keys) and post request logs: a gateway's own
    service account holds it."""
    GATEWAY_READ = "gateway.read"
    """Read the gateway's request logs: who used which model, how much. Admin only by default."""


_VIEWER = frozenset(
    {
        Permission.USERS_READ,
        Permission.TEAMS_READ,
        Permission.SERVICE_ACCOUNTS_READ,
        Permission.ROLES_READ,
        Permission.CLUSTERS_READ,
        Permission.WORKSPACES_READ,
        Permission.APPS_READ,
        Permission.SECRETS_LIST,
    }
)
_EDITOR = _VIEWER | {Permission.APPS_WRITE, Permission.SECRETS_READ, Permission.SECRETS_WRITE}

BUILTIN_ROLES: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "editor": _EDITOR,
    "viewer": _VIEWER,
}
BUILTIN_DESCRIPTIONS: dict[str, str] = {
    "admin": "everything, including users, roles, clusters, the audit log and gateway usage",
    "editor": "read everything in scope; apply, roll back and delete apps; manage secrets",
    "viewer": "read everything in scope except secret values",
}

ALL_PERMISSIONS: tuple[str, ...] = tuple(p.value for p in Permission)
