"""API tokens, roles and role bindings."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query

from ironplane.api.common import MAX_ID, Deleted
from ironplane.api.identity import (
    Role,
    RoleBinding,
    RoleBindingCreate,
    RoleCreate,
    Token,
    TokenCreate,
    TokenCreated,
)
from ironplane.api.permissions import Permission as P
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import roles as roles_svc
from ironplane.server.services import tokens as tokens_svc

router = APIRouter()


@router.get("/tokens", tags=["tokens"])
async def list_tokens(
    all: bool = Query(default=False, description="everyone's tokens (needs users.write)"),
    a: Access = Depends(allow(None)),
) -> list[Token]:
    async with a.services.db.session() as s:
        return await tokens_svc.list_tokens(s, a.caller, everyone=all)


@router.post("/tokens", status_code=201, tags=["tokens"])
async def create_token(body: TokenCreate, a: Access = Depends(allow(None))) -> TokenCreated:
    async with a.services.db.session() as s:
        return await tokens_svc.create_token(s, a.caller, body)


@router.delete("/tokens/{token_id}", tags=["tokens"])
async def revoke_token(token_id: str, a: Access = Depends(allow(None))) -> Token:
    async with a.services.db.session() as s:
        return await tokens_svc.revoke_token(s, a.caller, token_id)


@router.get("/roles", tags=["roles"])
async def list_roles(a: Access = Depends(allow(P.ROLES_READ))) -> list[Role]:
    async with a.services.db.session() as s:
        return await roles_svc.list_roles(s)


@router.post("/roles", status_code=201, tags=["roles"])
async def create_role(body: RoleCreate, a: Access = Depends(allow(P.ROLES_WRITE))) -> Role:
    async with a.services.db.session() as s:
        return await roles_svc.create_role(s, a.caller, body)


@router.delete("/roles/{name}", tags=["roles"])
async def delete_role(name: str, a: Access = Depends(allow(P.ROLES_WRITE))) -> Deleted:
    async with a.services.db.session() as s:
        return await roles_svc.delete_role(s, a.caller, name)


@router.get("/role-bindings", tags=["roles"])
async def list_bindings(a: Access = Depends(allow(P.ROLES_READ))) -> list[RoleBinding]:
    async with a.services.db.session() as s:
        return await roles_svc.list_bindings(s)


@router.post("/role-bindings", status_code=201, tags=["roles"])
async def create_binding(body: RoleBindingCreate, a: Access = Depends(allow(None))) -> RoleBinding:
    """Needs roles.write on the binding's scope, and every permission of the role there."""
    async with a.services.db.session() as s:
        return await roles_svc.create_binding(s, a.caller, body)


@router.delete("/role-bindings/{binding_id}", tags=["roles"])
async def delete_binding(
    binding_id: int = Path(ge=1, le=MAX_ID), a: Access = Depends(allow(P.ROLES_WRITE))
) -> Deleted:
    async with a.services.db.session() as s:
        return await roles_svc.delete_binding(s, a.caller, binding_id)
