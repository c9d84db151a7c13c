"""API tokens: your own (and, with users.write, everyone's, as ``GET /tokens?all=true`` shows),
create and revoke, through the same service as ``/api/v1/tokens``.

A new token's secret is in exactly one response: the page that answers the create form. It is
not stored anywhere the UI could show it again (only its hash is kept).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from ironplane.api.identity import ServiceAccount, TokenCreate, TokenCreated
from ironplane.api.permissions import Permission as P
from ironplane.core.errors import IronplaneError
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import tokens as tokens_service
from ironplane.server.services import users as users_service
from ironplane.ui.pages.formkit import body, see_other, shown, text
from ironplane.ui.render import can, page
from ironplane.ui.session import check_csrf

router = APIRouter(include_in_schema=False)

NOTICES = {"revoked": "Token revoked: it no longer authenticates anything."}


async def _page(
    request: Request,
    access: Access,
    *,
    everyone: bool = False,
    status: int = 200,
    created: TokenCreated | None = None,
    error: str | None = None,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    accounts: list[ServiceAccount] = []
    async with access.services.db.session() as session:
        tokens = await tokens_service.list_tokens(session, access.caller, everyone=everyone)
        if can(access, P.SERVICE_ACCOUNTS_WRITE):
            accounts = await users_service.list_service_accounts(session)
    me = access.caller.principal
    return page(
        request,
        access,
        "tokens.html",
        status=status,
        tokens=sorted(tokens, key=lambda t: t.created_at, reverse=True),
        everyone=everyone,
        may_see_all=can(access, P.USERS_WRITE),
        may_revoke_sa=can(access, P.SERVICE_ACCOUNTS_WRITE),
        accounts=accounts,
        mine=f"user:{me.name}" if me.kind == "user" else "",
        current=me.token_id,
        created=created,
        error=error,
        form=form or {"expires_in_days": "90"},
        notice=NOTICES.get(request.query_params.get("done", "")),
    )


@router.get("/tokens", response_class=HTMLResponse)
async def tokens(
    request: Request,
    all: bool = Query(default=False),
    access: Access = Depends(allow(None)),
) -> HTMLResponse:
    return await _page(request, access, everyone=all)


@router.post("/tokens", dependencies=[Depends(check_csrf)])
async def create_token(request: Request, access: Access = Depends(allow(None))) -> Response:
    """The answer is the tokens page with the new secret in a notice: the only time it is
    shown. The page is not cached (``no-store``)."""
    form = await request.form()
    name = text(form, "name", 200)
    days = text(form, "expires_in_days", 10)
    never = text(form, "never", 10) == "on"
    account = text(form, "service_account", 63)
    kept = {"name": name, "expires_in_days": days, "never": never, "service_account": account}
    try:
        data: dict[str, Any] = {"name": name, "expires_in_days": None if never else days or "90"}
        if account:
            data["service_account"] = account
        request_body = body(TokenCreate, data)
        async with access.services.db.session() as session:
            created = await tokens_service.create_token(session, access.caller, request_body)
    except IronplaneError as exc:
        status, message = shown(exc)
        return await _page(request, access, status=status, error=message, form=kept)
    return await _page(request, access, status=201, created=created)


@router.post("/tokens/{token_id}/revoke", dependencies=[Depends(check_csrf)])
async def revoke_token(
    request: Request, token_id: str, access: Access = Depends(allow(None))
) -> Response:
    async with access.services.db.session() as session:
        await tokens_service.revoke_token(session, access.caller, token_id[:64])
    everyone = request.query_params.get("all") == "true"
    return see_other("/ui/tokens", done="revoked", **({"all": "true"} if everyone else {}))
