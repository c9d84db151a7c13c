"""Health, password login and who-am-I."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request

from ironplane.api.identity import LoginRequest, LoginResponse, Token, Whoami
from ironplane.core.errors import UnauthenticatedError
from ironplane.server.security.guards import Access, allow, services_of
from ironplane.server.services import roles as roles_service
from ironplane.server.services import tokens as tokens_service
from ironplane.server.services import users as users_service

router = APIRouter(tags=["auth"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/auth/login", response_model=LoginResponse)
async def login(body: LoginRequest, request: Request) -> LoginResponse:
    services = services_of(request)
    source_ip = request.client.host if request.client else None
    name = body.username[:63]
    services.login_throttle.check(name, source_ip)
    async with services.db.session() as session:
        result = await tokens_service.login(
            session,
            body,
            ttl=timedelta(hours=services.settings.session_ttl_hours),
            source_ip=source_ip,
        )
    if result is None:
        services.login_throttle.failed(name, source_ip)
        raise UnauthenticatedError("wrong user name or password")
    services.login_throttle.succeeded(name)
    return result


@router.post("/auth/logout")
async def logout(access: Access = Depends(allow(None))) -> Token:
    """Revoke the token this call is made with (a login session, or any user or SA token)."""
    async with access.services.db.session() as session:
        return await tokens_service.logout(session, access.caller)


@router.get("/auth/whoami", response_model=Whoami)
async def whoami(access: Access = Depends(allow(None))) -> Whoami:
    p = access.caller.principal
    async with access.services.db.session() as session:
        teams = (
            set((await users_service.get_user(session, p.name)).teams)
            if p.kind == "user"
            else set()
        )
        bindings = [
            b
            for b in await roles_service.list_bindings(session)
            if (b.subject_kind == p.kind and b.subject == p.name)
            or (b.subject_kind == "team" and b.subject in teams)
        ]
    return Whoami(subject_kind=p.kind, name=p.name, bindings=bindings)
