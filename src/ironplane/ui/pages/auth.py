"""Sign in and out."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ironplane.api.identity import LoginRequest
from ironplane.core.errors import RateLimitedError, UnauthenticatedError
from ironplane.server.security.guards import SESSION_COOKIE, UI_PREFIX, Access, allow, services_of
from ironplane.server.services import sessions as sessions_service
from ironplane.server.services import tokens as tokens_service
from ironplane.ui.render import bare
from ironplane.ui.session import check_csrf, cookie_args

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path of this UI: never another site (an open redirect)."""
    if target and target.startswith(UI_PREFIX + "/") and not target.startswith("//"):
        return target
    return UI_PREFIX + "/"


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return bare("login.html", next=safe_next(next), error=None, username="")


@router.post("/login")
async def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    token: str = Form(""),
    next: str = Form(""),
) -> Response:
    services = services_of(request)
    source_ip = request.client.host if request.client else None
    ttl = timedelta(hours=services.settings.session_ttl_hours)
    # Token sign-ins count per address (a token names no user before it is checked): they must
    # neither share one bucket nor clear a user's failed passwords.
    with_token = bool(token.strip())
    name = f"\x00token@{source_ip}" if with_token else username.strip()[:63]
    try:
        services.login_throttle.check(name, source_ip)
    except RateLimitedError as exc:
        return bare(
            "login.html", status=429, next=safe_next(next), error=exc.message, username=username
        )
    result = None
    error = "wrong user name or password"
    async with services.db.session() as session:
        if with_token:
            try:
                result = await sessions_service.session_from_token(
                    session, token.strip(), ttl=ttl, source_ip=source_ip
                )
            except UnauthenticatedError as exc:
                error = exc.message
        elif username.strip() and password:
            result = await tokens_service.login(
                session,
                LoginRequest.model_validate({"username": name, "password": password[:1024]}),
                ttl=ttl,
                source_ip=source_ip,
            )
        else:
            error = "enter a user name and password, or an API token"
    if result is None:
        services.login_throttle.failed(name, source_ip)
        return bare("login.html", status=401, next=safe_next(next), error=error, username=username)
    services.login_throttle.succeeded(name)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(value=result.token, **cookie_args(request, ttl))  # type: ignore[arg-type]
    return response


@router.post("/logout", dependencies=[Depends(check_csrf)])
async def logout(request: Request, access: Access = Depends(allow(None))) -> Response:
    async with access.services.db.session() as session:
        await tokens_service.logout(session, access.caller)
    response = RedirectResponse(UI_PREFIX + "/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=UI_PREFIX)
    return response


def login_redirect(request: Request) -> Response:
    """Where an unauthenticated page request goes (htmx follows ``HX-Redirect``)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request"):
        # Back to the page the user was on, not the fragment htmx was refreshing.
        current = urlsplit(request.headers.get("hx-current-url", ""))
        page = current.path + (f"?{current.query}" if current.query else "")
        target = f"{UI_PREFIX}/login?next={quote(safe_next(page))}"
        return Response(status_code=204, headers={"HX-Redirect": target})
    if request.url.path.endswith(".json"):  # a chart's data: no page to land on
        return JSONResponse({"error": "sign in again"}, status_code=401)
    target = f"{UI_PREFIX}/login?next={quote(safe_next(here))}"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=UI_PREFIX)
    return response
