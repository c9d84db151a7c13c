"""Who may do what: users, teams, service accounts, roles and role bindings.

Every form calls the same service as its JSON route (``/users``, ``/teams``,
``/service-accounts``, ``/role-bindings``) behind the same guard, so the escalation rules of
``server/security/escalation.py`` (nobody hands over what they do not hold; the tenant keeps an
admin) apply unchanged: their refusals are 403 (audited) or 409 shown on the page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from ironplane.api.common import MAX_ID
from ironplane.api.identity import (
    RoleBindingCreate,
    ServiceAccountCreate,
    TeamCreate,
    UserCreate,
)
from ironplane.api.permissions import Permission as P
from ironplane.core.errors import IronplaneError
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import roles as roles_service
from ironplane.server.services import users as users_service
from ironplane.ui.pages.formkit import body, see_other, shown, text
from ironplane.ui.render import can, holds_anywhere, page
from ironplane.ui.session import check_csrf

router = APIRouter(include_in_schema=False)

NOTICES = {
    "user": "User created.",
    "team": "Team created.",
    "member": "Member added.",
    "removed": "Member removed.",
    "service_account": "Service account created.",
    "bound": "Role bound.",
    "unbound": "Role binding deleted.",
}
PAGE = "/ui/access"


async def _page(
    request: Request,
    access: Access,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    values: dict[str, Any] = {"users": [], "teams": [], "accounts": [], "roles": [], "bindings": []}
    async with access.services.db.session() as s:
        values["users"] = await users_service.list_users(s)
        if can(access, P.TEAMS_READ):
            values["teams"] = await users_service.list_teams(s)
        if can(access, P.SERVICE_ACCOUNTS_READ):
            values["accounts"] = await users_service.list_service_accounts(s)
        if can(access, P.ROLES_READ):
            values["roles"] = await roles_service.list_roles(s)
            values["bindings"] = await roles_service.list_bindings(s)
    return page(
        request,
        access,
        "access.html",
        status=status,
        error=error,
        form=form or {},
        notice=NOTICES.get(request.query_params.get("done", "")),
        # roles.write on any scope binds there (the service checks the scope itself)
        may_bind=holds_anywhere(access, P.ROLES_WRITE),
        **values,
    )


@router.get("/access", response_class=HTMLResponse)
async def access_page(
    request: Request, access: Access = Depends(allow(P.USERS_READ))
) -> HTMLResponse:
    return await _page(request, access)


async def _form(request: Request, *names: str) -> dict[str, str]:
    form = await request.form()
    return {name: text(form, name, 1024) for name in names}


async def _refused(
    request: Request, access: Access, exc: IronplaneError, form: dict[str, str]
) -> HTMLResponse:
    status, message = shown(exc)
    return await _page(request, access, status=status, error=message, form=form)


@router.post("/access/users", dependencies=[Depends(check_csrf)])
async def create_user(request: Request, access: Access = Depends(allow(P.USERS_WRITE))) -> Response:
    form = await _form(request, "name", "email")
    raw = (await request.form()).get("password")
    password = raw if isinstance(raw, str) else ""  # as typed: spaces are part of a password
    data: dict[str, Any] = {"name": form["name"], "email": form["email"] or None}
    if password:
        data["password"] = password
    kept = {"user_name": form["name"], "user_email": form["email"]}  # never the password
    try:
        async with access.services.db.session() as s:
            await users_service.create_user(s, access.caller, body(UserCreate, data))
    except IronplaneError as exc:
        return await _refused(request, access, exc, kept)
    return see_other(PAGE, done="user")


@router.post("/access/teams", dependencies=[Depends(check_csrf)])
async def create_team(request: Request, access: Access = Depends(allow(P.TEAMS_WRITE))) -> Response:
    form = await _form(request, "name")
    try:
        async with access.services.db.session() as s:
            await users_service.create_team(s, access.caller, body(TeamCreate, form))
    except IronplaneError as exc:
        return await _refused(request, access, exc, {"team_name": form["name"]})
    return see_other(PAGE, done="team")


@router.post("/access/teams/{team}/members", dependencies=[Depends(check_csrf)])
async def add_member(
    request: Request, team: str, access: Access = Depends(allow(P.TEAMS_WRITE))
) -> Response:
    """Needs every permission the team's bindings grant (``set_member``), like the API."""
    form = await _form(request, "user")
    try:
        async with access.services.db.session() as s:
            await users_service.set_member(s, access.caller, team, form["user"], member=True)
    except IronplaneError as exc:
        return await _refused(request, access, exc, {})
    return see_other(PAGE, done="member")


@router.post("/access/teams/{team}/members/{user}/remove", dependencies=[Depends(check_csrf)])
async def remove_member(
    request: Request, team: str, user: str, access: Access = Depends(allow(P.TEAMS_WRITE))
) -> Response:
    try:
        async with access.services.db.session() as s:
            await users_service.set_member(s, access.caller, team, user, member=False)
    except IronplaneError as exc:
        return await _refused(request, access, exc, {})
    return see_other(PAGE, done="removed")


@router.post("/access/service-accounts", dependencies=[Depends(check_csrf)])
async def create_service_account(
    request: Request, access: Access = Depends(allow(P.SERVICE_ACCOUNTS_WRITE))
) -> Response:
    form = await _form(request, "name", "description")
    try:
        async with access.services.db.session() as s:
            await users_service.create_service_account(
                s, access.caller, body(ServiceAccountCreate, form)
            )
    except IronplaneError as exc:
        kept = {"sa_name": form["name"], "sa_description": form["description"]}
        return await _refused(request, access, exc, kept)
    return see_other(PAGE, done="service_account")


@router.post("/access/bindings", dependencies=[Depends(check_csrf)])
async def create_binding(request: Request, access: Access = Depends(allow(None))) -> Response:
    """Needs roles.write on the binding's scope and every permission of the role there: the
    service checks both, as for ``POST /role-bindings``."""
    form = await _form(request, "role", "subject_kind", "subject", "scope_kind", "scope")
    data: dict[str, Any] = {**form, "scope": form["scope"] or None}
    data["scope_kind"] = form["scope_kind"] or "tenant"
    try:
        async with access.services.db.session() as s:
            await roles_service.create_binding(s, access.caller, body(RoleBindingCreate, data))
    except IronplaneError as exc:
        return await _refused(request, access, exc, {f"bind_{k}": v for k, v in form.items()})
    return see_other(PAGE, done="bound")


@router.post("/access/bindings/{binding_id}/delete", dependencies=[Depends(check_csrf)])
async def delete_binding(
    request: Request,
    binding_id: int = Path(ge=1, le=MAX_ID),
    access: Access = Depends(allow(P.ROLES_WRITE)),
) -> Response:
    try:
        async with access.services.db.session() as s:
            await roles_service.delete_binding(s, access.caller, binding_id)
    except IronplaneError as exc:
        return await _refused(request, access, exc, {})
    return see_other(PAGE, done="unbound")
