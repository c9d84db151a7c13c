"""Roles (named permission sets) and role bindings (a role, a subject, a scope)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.common import Deleted
from ironplane.api.identity import Role, RoleBinding, RoleBindingCreate, RoleCreate
from ironplane.api.permissions import (
    ALL_PERMISSIONS,
    BUILTIN_DESCRIPTIONS,
    BUILTIN_ROLES,
    Permission,
)
from ironplane.core.diagnostics import closest
from ironplane.core.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from ironplane.server.context import Caller
from ironplane.server.db.tables import (
    ClusterRow,
    RoleBindingRow,
    RoleRow,
    ServiceAccountRow,
    TeamRow,
    UserRow,
    WorkspaceRow,
)
from ironplane.server.security.escalation import (
    ensure_tenant_admin,
    lock_tenant_admins,
    require_held,
)
from ironplane.server.security.principals import TENANT, Target
from ironplane.server.services.audit import record
from ironplane.server.services.lookup import by_name


def role_out(row: RoleRow) -> Role:
    return Role(
        name=row.name,
        permissions=sorted(row.permissions),
        description=row.description,
        builtin=row.builtin,
    )


def binding_out(row: RoleBindingRow) -> RoleBinding:
    subject = row.user or row.team or row.service_account
    scope = row.cluster or row.workspace
    return RoleBinding(
        id=row.id,
        role=row.role,
        subject_kind=row.subject_kind,
        subject=subject.name if subject else "?",
        scope_kind=row.scope_kind,
        scope=scope.name if scope else None,
        created_at=row.created_at,
    )


async def ensure_builtin_roles(session: AsyncSession) -> None:
    """Create the built-in roles, or bring their permissions up to this release's definition."""
    for name, perms in BUILTIN_ROLES.items():
        row = await session.get(RoleRow, name)
        values = sorted(p.value for p in perms)
        if row is None:
            session.add(
                RoleRow(
                    name=name,
                    permissions=values,
                    description=BUILTIN_DESCRIPTIONS[name],
                    builtin=True,
                )
            )
        elif row.permissions != values or not row.builtin:
            row.permissions = values
            row.builtin = True


async def list_roles(session: AsyncSession) -> list[Role]:
    rows = await session.scalars(select(RoleRow).order_by(RoleRow.builtin.desc(), RoleRow.name))
    return [role_out(r) for r in rows]


async def create_role(session: AsyncSession, caller: Caller, body: RoleCreate) -> Role:
    unknown = [p for p in body.permissions if p not in ALL_PERMISSIONS]
    if unknown:
        guess = closest(unknown[0], ALL_PERMISSIONS)
        raise InvalidError(
            f"unknown permission {unknown[0][:80]!r}"
            + (f" (did you mean {guess!r}?)" if guess else "")
            + "; allowed: "
            + ", ".join(ALL_PERMISSIONS)
        )
    if await session.get(RoleRow, body.name) is not None:
        raise ConflictError(f"role {body.name!r} already exists")
    row = RoleRow(
        name=body.name,
        permissions=sorted(set(body.permissions)),
        description=body.description,
        builtin=False,
    )
    session.add(row)
    record(
        session,
        caller,
        action="role.create",
        target=f"role/{body.name}",
        details={"permissions": row.permissions},
    )
    return role_out(row)


async def delete_role(session: AsyncSession, caller: Caller, name: str) -> Deleted:
    row = await session.get(RoleRow, name)
    if row is None:
        raise NotFoundError(f"role {name!r} not found")
    if row.builtin:
        raise ConflictError(f"role {name!r} is built in and cannot be deleted")
    used = await session.scalar(
        select(func.count()).select_from(RoleBindingRow).where(RoleBindingRow.role == name)
    )
    if used:
        raise ConflictError(
            f"role {name!r} is bound {used} time(s); delete those role bindings first"
        )
    await session.delete(row)
    record(session, caller, action="role.delete", target=f"role/{name}")
    return Deleted(deleted=f"role/{name}")


async def list_bindings(session: AsyncSession) -> list[RoleBinding]:
    rows = await session.scalars(select(RoleBindingRow).order_by(RoleBindingRow.id))
    return [binding_out(r) for r in rows]


async def _scope(session: AsyncSession, body: RoleBindingCreate) -> Target:
    """The binding's scope as a target; a cluster or workspace of another name is 404."""
    if body.scope_kind == "tenant":
        if body.scope is not None:
            raise InvalidError("scope: a tenant binding names no scope; leave `scope` out")
        return TENANT
    if body.scope is None:
        raise InvalidError(f"scope: a {body.scope_kind} binding needs the {body.scope_kind}'s name")
    if body.scope_kind == "cluster":
        cluster = await by_name(session, ClusterRow, body.scope)
        return Target(cluster_id=cluster.id, label=f"cluster/{cluster.name}")
    ws = await by_name(session, WorkspaceRow, body.scope)
    return Target(cluster_id=ws.cluster_id, workspace_id=ws.id, label=f"workspace/{ws.name}")


async def create_binding(
    session: AsyncSession, caller: Caller, body: RoleBindingCreate
) -> RoleBinding:
    """Bind a role on a scope: needs roles.write there, and every permission of the role there."""
    principal = caller.principal
    target = await _scope(session, body)
    if not principal.allows(Permission.ROLES_WRITE, target):
        if target.level != "tenant" and not principal.sees(target):
            raise NotFoundError(f"{body.scope_kind} {body.scope!r} not found")
        raise ForbiddenError(f"permission denied: this needs roles.write on {target.label}")
    role = await session.get(RoleRow, body.role)
    if role is None:
        raise NotFoundError(f"role {body.role!r} not found")
    known = {p.value for p in Permission}
    require_held(
        principal,
        (Permission(p) for p in role.permissions if p in known),
        target,
        action=f"binding role {body.role!r} on {target.label}",
    )
    row = RoleBindingRow(
        role=body.role,
        subject_kind=body.subject_kind,
        scope_kind=body.scope_kind,
        cluster_id=target.cluster_id if target.level == "cluster" else None,
        workspace_id=target.workspace_id,
    )
    if body.subject_kind == "user":
        row.user_id = (await by_name(session, UserRow, body.subject)).id
    elif body.subject_kind == "team":
        row.team_id = (await by_name(session, TeamRow, body.subject)).id
    else:
        row.service_account_id = (await by_name(session, ServiceAccountRow, body.subject)).id
    session.add(row)
    await session.flush()
    await session.refresh(row)
    record(
        session,
        caller,
        action="role_binding.create",
        target=f"role_binding/{row.id}",
        details={
            "role": body.role,
            "subject": f"{body.subject_kind}:{body.subject}",
            "scope": f"{body.scope_kind}:{body.scope or ''}",
        },
    )
    return binding_out(row)


async def delete_binding(session: AsyncSession, caller: Caller, binding_id: int) -> Deleted:
    await lock_tenant_admins(session)
    row = await session.get(RoleBindingRow, binding_id)
    if row is None:
        raise NotFoundError(f"role binding {binding_id} not found")
    await session.delete(row)
    if row.role == "admin" and row.scope_kind == "tenant":
        await ensure_tenant_admin(session, change=f"deleting role binding {binding_id}")
    record(session, caller, action="role_binding.delete", target=f"role_binding/{binding_id}")
    return Deleted(deleted=f"role_binding/{binding_id}")
