"""Declarative access rules: each route names the permission it needs and where it applies.

    @router.get("/workspaces/{workspace}/apps")
    async def list_apps(access: Access = Depends(allow(Permission.APPS_READ, on="workspace"))):

A caller without the permission gets 403 when one of their bindings reaches the object, and 404
when none does, so that the names of clusters and workspaces a caller cannot see do not leak.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import Request
from sqlalchemy import select

from ironplane.api.permissions import Permission
from ironplane.core.errors import ForbiddenError, NotFoundError
from ironplane.server.context import Caller, Services
from ironplane.server.db.tables import ClusterRow, WorkspaceRow
from ironplane.server.security.authn import authenticate
from ironplane.server.security.principals import TENANT, Target

On = Literal["tenant", "cluster", "workspace"]


@dataclass(frozen=True, slots=True)
class Access:
    caller: Caller
    target: Target
    services: Services


def services_of(request: Request) -> Services:
    services = request.app.state.services
    assert isinstance(services, Services)
    return services


UI_PREFIX = "/ui"
SESSION_COOKIE = "ironplane_session"
"""The web UI's login session: an HttpOnly, SameSite=Strict cookie read only under /ui (the JSON
API takes bearer tokens alone, so a browser's cookie can never drive it)."""


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.url.path.startswith(UI_PREFIX + "/"):
        return request.cookies.get(SESSION_COOKIE) or None
    return None


def allow(
    permission: Permission | None,
    *,
    on: On = "tenant",
    param: str | None = None,
    agent: bool = False,
    or_self: str | None = None,
) -> Callable[[Request], Awaitable[Access]]:
    """The dependency for one access rule.

    ``permission=None`` admits any authenticated user or service account. ``on`` says whether the
    path names a cluster or a workspace (in the path parameter ``param``, by default the level's
    own name). ``agent=True`` also admits the agent of the cluster in the path; ``or_self``
    names a path parameter that admits a user acting on their own record.
    """
    key = param or on

    async def guard(request: Request) -> Access:
        services = services_of(request)
        source_ip = request.client.host if request.client else None
        async with services.db.session() as session:
            principal = await authenticate(session, _bearer(request))
            caller = Caller(principal=principal, source_ip=source_ip)
            request.state.caller = caller  # the error handler audits denials with it
            target = TENANT
            if on == "cluster":
                name = request.path_params[key]
                cluster = await session.scalar(select(ClusterRow).where(ClusterRow.name == name))
                if cluster is None:
                    raise NotFoundError(f"cluster {name!r} not found")
                target = Target(cluster_id=cluster.id, label=f"cluster/{name}")
            elif on == "workspace":
                name = request.path_params[key]
                ws = await session.scalar(select(WorkspaceRow).where(WorkspaceRow.name == name))
                if ws is None:
                    raise NotFoundError(f"workspace {name!r} not found")
                target = Target(
                    cluster_id=ws.cluster_id, workspace_id=ws.id, label=f"workspace/{name}"
                )
        if agent and principal.agent_cluster_id is not None:
            if principal.agent_cluster_id == target.cluster_id:
                return Access(caller, target, services)
            raise NotFoundError(f"{target.label} not found")
        if or_self and principal.kind == "user" and request.path_params[or_self] == principal.name:
            return Access(caller, target, services)
        if permission is None:
            if principal.kind != "agent":
                return Access(caller, target, services)
        elif principal.allows(permission, target):
            return Access(caller, target, services)
        if target.level != "tenant" and not principal.sees(target):
            # Nothing the caller holds reaches this object: answer as if it did not exist.
            raise NotFoundError(f"{on} {request.path_params[key]!r} not found")
        need = permission.value if permission else "a user or service-account token"
        raise ForbiddenError(f"permission denied: this needs {need} on {target.label}")

    guard.__name__ = f"allow_{permission.value if permission else 'authenticated'}_on_{on}"
    return guard


def require(access: Access, permission: Permission, target: Target) -> None:
    """The same rule as ``allow``, for targets known only from the body (403, or 404 if unseen)."""
    principal = access.caller.principal
    if principal.allows(permission, target):
        return
    if target.level != "tenant" and not principal.sees(target):
        raise NotFoundError(f"{target.label.replace('/', ' ', 1)!s} not found")
    raise ForbiddenError(f"permission denied: this needs {permission.value} on {target.label}")
