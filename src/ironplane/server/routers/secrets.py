"""Secret groups of a workspace."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ironplane.api.common import Deleted, ObjectName
from ironplane.api.permissions import Permission as P
from ironplane.api.secrets import SecretGroup, SecretGroupPatch, SecretGroupPut, SecretGroupValues
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import secrets as svc

router = APIRouter(tags=["secrets"])
_GROUP = "/workspaces/{workspace}/secrets/{group}"


@router.get("/workspaces/{workspace}/secrets")
async def list_groups(
    workspace: str, a: Access = Depends(allow(P.SECRETS_LIST, on="workspace"))
) -> list[SecretGroup]:
    async with a.services.db.session() as s:
        return await svc.list_groups(s, workspace)


@router.get(_GROUP)
async def read_group(
    workspace: str, group: str, a: Access = Depends(allow(P.SECRETS_READ, on="workspace"))
) -> SecretGroupValues:
    async with a.services.db.session() as s:
        return await svc.read_group(s, a.services.box, workspace, group)


@router.put(_GROUP)
async def put_group(
    workspace: str,
    group: ObjectName,
    body: SecretGroupPut,
    a: Access = Depends(allow(P.SECRETS_WRITE, on="workspace")),
) -> SecretGroup:
    async with a.services.db.session() as s:
        return await svc.put_group(s, a.caller, a.services.box, workspace, group, body)


@router.patch(_GROUP)
async def patch_group(
    workspace: str,
    group: ObjectName,
    body: SecretGroupPatch,
    a: Access = Depends(allow(P.SECRETS_WRITE, on="workspace")),
) -> SecretGroup:
    """Set keys and delete keys (``null``) of a group, keeping its other keys."""
    async with a.services.db.session() as s:
        return await svc.patch_group(s, a.caller, a.services.box, workspace, group, body)


@router.delete(_GROUP)
async def delete_group(
    workspace: str, group: str, a: Access = Depends(allow(P.SECRETS_WRITE, on="workspace"))
) -> Deleted:
    async with a.services.db.session() as s:
        return await svc.delete_group(s, a.caller, workspace, group)
