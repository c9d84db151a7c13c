"""Users, teams and service accounts."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ironplane.api.common import Deleted, ObjectName
from ironplane.api.identity import (
    ServiceAccount,
    ServiceAccountCreate,
    Team,
    TeamCreate,
    User,
    UserCreate,
    UserUpdate,
)
from ironplane.api.permissions import Permission as P
from ironplane.core.errors import ForbiddenError
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import users as svc

router = APIRouter()


@router.get("/users", tags=["users"])
async def list_users(a: Access = Depends(allow(P.USERS_READ))) -> list[User]:
    async with a.services.db.session() as s:
        return await svc.list_users(s)


@router.post("/users", status_code=201, tags=["users"])
async def create_user(body: UserCreate, a: Access = Depends(allow(P.USERS_WRITE))) -> User:
    async with a.services.db.session() as s:
        return await svc.create_user(s, a.caller, body)


@router.get("/users/{name}", tags=["users"])
async def get_user(name: str, a: Access = Depends(allow(P.USERS_READ, or_self="name"))) -> User:
    async with a.services.db.session() as s:
        return await svc.get_user(s, name)


@router.patch("/users/{name}", tags=["users"])
async def update_user(
    name: str, body: UserUpdate, a: Access = Depends(allow(P.USERS_WRITE, or_self="name"))
) -> User:
    if body.active is not None and not a.caller.principal.allows(P.USERS_WRITE):
        raise ForbiddenError("permission denied: changing `active` needs users.write on tenant")
    async with a.services.db.session() as s:
        return await svc.update_user(s, a.caller, name, body)


@router.delete("/users/{name}", tags=["users"])
async def delete_user(name: str, a: Access = Depends(allow(P.USERS_WRITE))) -> Deleted:
    async with a.services.db.session() as s:
        return await svc.delete_user(s, a.caller, name)


@router.get("/teams", tags=["teams"])
async def list_teams(a: Access = Depends(allow(P.TEAMS_READ))) -> list[Team]:
    async with a.services.db.session() as s:
        return await svc.list_teams(s)


@router.post("/teams", status_code=201, tags=["teams"])
async def create_team(body: TeamCreate, a: Access = Depends(allow(P.TEAMS_WRITE))) -> Team:
    async with a.services.db.session() as s:
        return await svc.create_team(s, a.caller, body)


@router.get("/teams/{name}", tags=["teams"])
async def get_team(name: str, a: Access = Depends(allow(P.TEAMS_READ))) -> Team:
    async with a.services.db.session() as s:
        return await svc.get_team(s, name)


@router.delete("/teams/{name}", tags=["teams"])
async def delete_team(name: str, a: Access = Depends(allow(P.TEAMS_WRITE))) -> Deleted:
    async with a.services.db.session() as s:
        return await svc.delete_team(s, a.caller, name)


@router.put("/teams/{name}/members/{user}", tags=["teams"])
async def add_member(
    name: str, user: ObjectName, a: Access = Depends(allow(P.TEAMS_WRITE))
) -> Team:
    async with a.services.db.session() as s:
        return await svc.set_member(s, a.caller, name, user, member=True)


@router.delete("/teams/{name}/members/{user}", tags=["teams"])
async def remove_member(name: str, user: str, a: Access = Depends(allow(P.TEAMS_WRITE))) -> Team:
    async with a.services.db.session() as s:
        return await svc.set_member(s, a.caller, name, user, member=False)


@router.get("/service-accounts", tags=["service accounts"])
async def list_service_accounts(
    a: Access = Depends(allow(P.SERVICE_ACCOUNTS_READ)),
) -> list[ServiceAccount]:
    async with a.services.db.session() as s:
        return await svc.list_service_accounts(s)


@router.post("/service-accounts", status_code=201, tags=["service accounts"])
async def create_service_account(
    body: ServiceAccountCreate, a: Access = Depends(allow(P.SERVICE_ACCOUNTS_WRITE))
) -> ServiceAccount:
    async with a.services.db.session() as s:
        return await svc.create_service_account(s, a.caller, body)


@router.delete("/service-accounts/{name}", tags=["service accounts"])
async def delete_service_account(
    name: str, a: Access = Depends(allow(P.SERVICE_ACCOUNTS_WRITE))
) -> Deleted:
    async with a.services.db.session() as s:
        return await svc.delete_service_account(s, a.caller, name)
