"""Secret groups: their key names, never their values.

The page lists the groups of every workspace where the user holds ``secrets.list`` (what
``GET /workspaces/{ws}/secrets`` shows). Nothing on it reads a value: values typed into the
create form go to the same service as ``PUT /workspaces/{ws}/secrets/{group}`` and are never
echoed back, not even when the form is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from ironplane.api.common import ObjectName
from ironplane.api.common import Request as Body
from ironplane.api.permissions import Permission as P
from ironplane.api.secrets import SecretGroup, SecretGroupPut
from ironplane.core.errors import ConflictError, InvalidError, IronplaneError
from ironplane.server.db.tables import WorkspaceRow
from ironplane.server.security.guards import Access, allow, require
from ironplane.server.security.principals import Target
from ironplane.server.services import secrets as secrets_service
from ironplane.server.services.clusters import workspace_target
from ironplane.server.services.lookup import by_name
from ironplane.ui.pages.formkit import body, see_other, shown, text
from ironplane.ui.render import can, page
from ironplane.ui.session import check_csrf

router = APIRouter(include_in_schema=False)

NOTICES = {"created": "Secret group created.", "deleted": "Secret group deleted."}
MAX_FORM_VALUES = 64 * 1024
"""The key=value text of the create form, at most (the API's body limit applies too)."""


class SecretGroupName(Body):
    """The group's name, checked as the API's path parameter is."""

    name: ObjectName


@dataclass(frozen=True, slots=True)
class WorkspaceGroups:
    workspace: str
    cluster: str
    target: Target
    groups: list[SecretGroup]


async def _listing(access: Access) -> list[WorkspaceGroups]:
    """Every workspace where the caller holds secrets.list, with its groups."""
    out = []
    async with access.services.db.session() as session:
        rows = list(await session.scalars(select(WorkspaceRow).order_by(WorkspaceRow.name)))
        for row in rows:
            target = workspace_target(row)
            if not can(access, P.SECRETS_LIST, target):
                continue
            groups = await secrets_service.list_groups(session, row.name)
            out.append(WorkspaceGroups(row.name, row.cluster.name, target, groups))
    return out


async def _page(
    request: Request,
    access: Access,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    listing = await _listing(access)
    writable = [w.workspace for w in listing if can(access, P.SECRETS_WRITE, w.target)]
    return page(
        request,
        access,
        "secrets.html",
        status=status,
        listing=listing,
        writable=writable,
        error=error,
        form=form or {},
        notice=NOTICES.get(request.query_params.get("done", "")),
    )


@router.get("/secrets", response_class=HTMLResponse)
async def secrets(request: Request, access: Access = Depends(allow(None))) -> HTMLResponse:
    return await _page(request, access)


def parse_values(raw: str) -> dict[str, str]:
    """``KEY=value`` lines (blank lines skipped; the value is everything after the first ``=``).
    Errors name the line number, never its text: it may hold a secret."""
    if len(raw) > MAX_FORM_VALUES:
        raise InvalidError(f"values: at most {MAX_FORM_VALUES // 1024} KiB of key=value lines")
    values: dict[str, str] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidError(f"values: line {number} is not KEY=value")
        if key in values:
            raise InvalidError(f"values: line {number} repeats key {key[:80]!r}")
        values[key] = value
    if not values:
        raise InvalidError("values: give at least one KEY=value line")
    return values


@router.post("/secrets", dependencies=[Depends(check_csrf)])
async def create_group(request: Request, access: Access = Depends(allow(None))) -> Response:
    """Create a group in the workspace the form names: needs secrets.write there (checked as
    the API's guard does: 404 where the caller sees nothing of the workspace, else 403)."""
    form = await request.form()
    workspace, name = text(form, "workspace", 63), text(form, "name", 63)
    raw = form.get("values")
    kept = {"workspace": workspace, "name": name}  # never the values
    try:
        async with access.services.db.session() as session:
            row = await by_name(session, WorkspaceRow, workspace)
            require(access, P.SECRETS_WRITE, workspace_target(row))
            checked = body(SecretGroupName, {"name": name})
            request_body = body(
                SecretGroupPut,
                {"values": parse_values(raw if isinstance(raw, str) else "")},
            )
            existing = await secrets_service.list_groups(session, workspace)
            if any(g.name == checked.name for g in existing):
                raise ConflictError(
                    f"secret group {checked.name!r} already exists in workspace {workspace!r}"
                )
            await secrets_service.put_group(
                session, access.caller, access.services.box, workspace, checked.name, request_body
            )
    except IronplaneError as exc:
        status, message = shown(exc)
        return await _page(request, access, status=status, error=message, form=kept)
    return see_other("/ui/secrets", done="created")


@router.post("/secrets/{workspace}/{group}/delete", dependencies=[Depends(check_csrf)])
async def delete_group(
    workspace: str,
    group: str,
    access: Access = Depends(allow(P.SECRETS_WRITE, on="workspace")),
) -> Response:
    async with access.services.db.session() as session:
        await secrets_service.delete_group(session, access.caller, workspace, group)
    return see_other("/ui/secrets", done="deleted")
