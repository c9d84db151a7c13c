"""``install(app)``: the UI's pages under ``/ui``, its static files, and its error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ironplane.server.security.guards import UI_PREFIX
from ironplane.ui.headers import UiProtection
from ironplane.ui.pages import (
    access,
    app_actions,
    apps,
    audit,
    auth,
    charts,
    clusters,
    deploy,
    gateway,
    home,
    jobs,
    logs,
    secrets,
    tokens,
)

STATIC = Path(__file__).parent / "static"
PAGES = (
    auth,
    home,
    clusters,
    apps,
    app_actions,
    charts,
    deploy,
    logs,
    jobs,
    secrets,
    tokens,
    access,
    audit,
    gateway,
)


async def page_errors(request: Request, status: int, code: str, message: str) -> Response | None:
    """Errors of UI routes as pages (or, for htmx, as an alert fragment); None elsewhere."""
    if not request.url.path.startswith(UI_PREFIX + "/"):
        return None
    if status == 401:
        return auth.login_redirect(request)
    from ironplane.ui.render import env

    if request.headers.get("hx-request"):
        html = env.get_template("_alert.html").render(message=message, code=code)
        # htmx swaps 4xx answers only where the page asks to (hx-target-error); retarget here.
        return HTMLResponse(
            html, status_code=status, headers={"HX-Retarget": "#alerts", "HX-Reswap": "innerHTML"}
        )
    from ironplane.ui.render import bare

    return bare("error.html", status=status, code=code, message=message)


def install(app: FastAPI) -> None:
    app.state.page_errors = page_errors
    app.add_middleware(UiProtection)
    app.mount(f"{UI_PREFIX}/static", StaticFiles(directory=STATIC), name="ui-static")
    for module in PAGES:
        app.include_router(module.router, prefix=UI_PREFIX)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PREFIX}/", status_code=307)

    @app.get(UI_PREFIX, include_in_schema=False)
    async def ui_root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PREFIX}/", status_code=307)
