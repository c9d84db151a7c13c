"""What an app's page can do: roll back, delete (after a confirmation), restart, and steer a
canary or blue-green rollout (promote, promote to the end, abort).

Each action calls the same service as its JSON route (and records the same audit events), under
the same access rule (``apps.write`` on the app's workspace), and needs the form's CSRF token.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ironplane.api.apps import RollbackRequest
from ironplane.api.common import MAX_ID
from ironplane.api.permissions import Permission as P
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import apps as apps_service
from ironplane.server.services import rollouts
from ironplane.ui.render import fragment, page
from ironplane.ui.session import check_csrf
from ironplane.ui.views import is_htmx

router = APIRouter(include_in_schema=False)
_APP = "/apps/{workspace}/{app}"
_WRITE = allow(P.APPS_WRITE, on="workspace")


def app_url(workspace: str, app: str, query: str = "") -> str:
    return f"/ui/apps/{quote(workspace)}/{quote(app)}" + (f"?{query}" if query else "")


def _done(request: Request, access: Access, url: str, message: str) -> Response:
    """htmx: a notice swapped into the page; a plain form: back to the app's page."""
    if is_htmx(request):
        return fragment(request, access, "_notice.html", message=message)
    return RedirectResponse(url, status_code=303)


@router.post(_APP + "/rollback", dependencies=[Depends(check_csrf)])
async def rollback(
    request: Request,
    workspace: str,
    app: str,
    to: int = Form(ge=1, le=MAX_ID),
    access: Access = Depends(_WRITE),
) -> Response:
    """A new version holding version ``to``'s spec (``POST .../rollback`` of the API)."""
    async with access.services.db.session() as s:
        change = await apps_service.rollback(
            s, access.caller, workspace, app, RollbackRequest(to=to)
        )
    query = f"rolled={to}" + (f"&applied={change.version}" if change.version else "")
    return RedirectResponse(app_url(workspace, app, query), status_code=303)


@router.get(_APP + "/delete", response_class=HTMLResponse)
async def delete_confirm(
    request: Request, workspace: str, app: str, access: Access = Depends(_WRITE)
) -> HTMLResponse:
    async with access.services.db.session() as s:
        detail = await apps_service.describe(s, workspace, app)
    return page(request, access, "app_delete.html", app=detail.app)


@router.post(_APP + "/delete", dependencies=[Depends(check_csrf)])
async def delete(
    request: Request, workspace: str, app: str, access: Access = Depends(_WRITE)
) -> Response:
    """Takes the app out of the desired state; its history stays (``DELETE`` of the API)."""
    async with access.services.db.session() as s:
        await apps_service.delete(s, access.caller, workspace, app)
    return RedirectResponse(app_url(workspace, app, "removed=true"), status_code=303)


@router.post(_APP + "/restart", dependencies=[Depends(check_csrf)])
async def restart(
    request: Request, workspace: str, app: str, access: Access = Depends(_WRITE)
) -> Response:
    """Restart the app's pods or processes through its cluster's agent."""
    await rollouts.restart(access.services, access.caller, workspace, app)
    return _done(
        request,
        access,
        app_url(workspace, app, "restarted=true"),
        f"{workspace}/{app} is restarting.",
    )


async def _rollout(
    request: Request,
    access: Access,
    workspace: str,
    app: str,
    action: Literal["promote", "abort"],
    full: bool = False,
) -> Response:
    result = await rollouts.act(access.services, access.caller, workspace, app, action, full=full)
    return _done(request, access, app_url(workspace, app), f"{action}: {result.message}")


@router.post(_APP + "/rollout/promote", dependencies=[Depends(check_csrf)])
async def promote(
    request: Request,
    workspace: str,
    app: str,
    full: bool = Form(False),
    access: Access = Depends(_WRITE),
) -> Response:
    """Past the current pause; ``full``: skip the remaining steps (``ironplane rollout promote
    [--full]``)."""
    return await _rollout(request, access, workspace, app, "promote", full)


@router.post(_APP + "/rollout/abort", dependencies=[Depends(check_csrf)])
async def abort(
    request: Request, workspace: str, app: str, access: Access = Depends(_WRITE)
) -> Response:
    """All traffic back to the stable version (``ironplane rollout abort``)."""
    return await _rollout(request, access, workspace, app, "abort")
