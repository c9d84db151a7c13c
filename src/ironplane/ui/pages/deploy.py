"""Deploy from the browser: paste or upload spec documents, preview (a dry run with the diff
against each app's active version), apply.

Both call the service behind ``POST /api/v1/apply`` (``ironplane apply``), which checks every
document's own permission; the page itself needs ``apps.write`` somewhere. Spec errors come back
next to the text, each with its file, line and column.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from ironplane.api.apps import ApplyRequest, ApplyResult, SourceText
from ironplane.api.common import DiagnosticBody
from ironplane.api.permissions import Permission as P
from ironplane.core.errors import ForbiddenError, InvalidError, IronplaneError, SpecError
from ironplane.server.db.tables import WorkspaceRow
from ironplane.server.errors import audit_denial
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import clusters as clusters_service
from ironplane.server.services.apply import apply as apply_specs
from ironplane.ui.pages.app_actions import app_url
from ironplane.ui.render import fragment, holds_anywhere, page
from ironplane.ui.session import check_csrf
from ironplane.ui.views import diff_lines, is_htmx

router = APIRouter(include_in_schema=False)

EDITOR_SOURCE = "editor.yaml"
MAX_FILES = 50


@dataclass
class _Input:
    text: str
    workspace: str | None
    documents: list[SourceText]


def _may_deploy(access: Access) -> None:
    if not holds_anywhere(access, P.APPS_WRITE):
        raise ForbiddenError("permission denied: deploying needs apps.write on a workspace")


async def _writable(access: Access) -> list[str]:
    """Workspaces the caller may deploy to (for the default-workspace choice)."""
    p = access.caller.principal
    async with access.services.db.session() as s:
        rows = await s.scalars(select(WorkspaceRow).order_by(WorkspaceRow.name))
        return [
            r.name for r in rows if p.allows(P.APPS_WRITE, clusters_service.workspace_target(r))
        ]


async def _input(spec: str, workspace: str, files: list[UploadFile]) -> _Input:
    default = workspace.strip() or None
    documents: list[SourceText] = []
    if spec.strip():
        documents.append(SourceText(source=EDITOR_SOURCE, content=spec))
    uploads = [f for f in files if f.filename]
    if len(uploads) > MAX_FILES:
        raise InvalidError(f"choose at most {MAX_FILES} files")
    for upload in uploads:
        raw = await upload.read()
        try:
            content = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidError(f"{upload.filename}: not UTF-8 text") from None
        if content.strip():
            name = (upload.filename or "upload.yaml")[:200]
            documents.append(SourceText(source=name, content=content))
    return _Input(text=spec, workspace=default, documents=documents)


# Declared as form fields so that FastAPI parses the form (check_csrf reads the same one) and
# closes the uploaded files after the response.
_SPEC = Form("")
_WORKSPACE = Form("", max_length=63)
_FILES = File(default_factory=list)


async def _run(access: Access, given: _Input, *, dry_run: bool) -> ApplyResult:
    if not given.documents:
        raise InvalidError("paste spec documents into the text box or choose a file")
    body = ApplyRequest(
        documents=given.documents,
        default_workspace=given.workspace,
        dry_run=dry_run,
        diff=True,
    )
    async with access.services.db.session(commit=not dry_run) as s:
        return await apply_specs(s, access.caller, body)


def _problems(exc: IronplaneError) -> list[DiagnosticBody]:
    if isinstance(exc, SpecError):
        return [DiagnosticBody.of(d) for d in exc.diagnostics]
    return []


def _changes(result: ApplyResult) -> list[dict[str, object]]:
    return [{"change": c, "diff": diff_lines(c.diff) if c.diff else []} for c in result.changes]


@router.get("/deploy", response_class=HTMLResponse)
async def deploy_form(
    request: Request,
    workspace: str | None = Query(default=None, max_length=63),
    access: Access = Depends(allow(None)),
) -> HTMLResponse:
    _may_deploy(access)
    return page(
        request,
        access,
        "deploy.html",
        text="",
        workspace=workspace or "",
        workspaces=await _writable(access),
        error=None,
        problems=[],
        preview=None,
    )


async def _form_page(
    request: Request,
    access: Access,
    given: _Input,
    *,
    status: int = 200,
    error: str | None = None,
    problems: list[DiagnosticBody] | None = None,
    preview: ApplyResult | None = None,
) -> HTMLResponse:
    values = {
        "error": error,
        "problems": problems or [],
        "preview": preview,
        "changes": _changes(preview) if preview else [],
    }
    if is_htmx(request):
        return fragment(request, access, "_deploy_result.html", status=status, **values)
    return page(
        request,
        access,
        "deploy.html",
        status=status,
        text=given.text,
        workspace=given.workspace or "",
        workspaces=await _writable(access),
        **values,
    )


async def _attempt(
    request: Request, access: Access, given: _Input, *, dry_run: bool
) -> ApplyResult | Response:
    """The apply's result, or the form again with what was wrong (a refused apply is audited,
    as the API's is)."""
    try:
        return await _run(access, given, dry_run=dry_run)
    except (InvalidError, ForbiddenError) as exc:
        status = 403 if isinstance(exc, ForbiddenError) else 400
        if isinstance(exc, ForbiddenError) and not dry_run:
            await audit_denial(request, exc)
        return await _form_page(
            request, access, given, status=status, error=exc.message, problems=_problems(exc)
        )


@router.post("/deploy/preview", dependencies=[Depends(check_csrf)])
async def deploy_preview(
    request: Request,
    spec: str = _SPEC,
    workspace: str = _WORKSPACE,
    files: list[UploadFile] = _FILES,
    access: Access = Depends(allow(None)),
) -> Response:
    """A dry run with diffs: a fragment for htmx, the whole form otherwise."""
    _may_deploy(access)
    given = await _input(spec, workspace, files)
    result = await _attempt(request, access, given, dry_run=True)
    if isinstance(result, Response):
        return result
    return await _form_page(request, access, given, preview=result)


@router.post("/deploy/apply", dependencies=[Depends(check_csrf)])
async def deploy_apply(
    request: Request,
    spec: str = _SPEC,
    workspace: str = _WORKSPACE,
    files: list[UploadFile] = _FILES,
    access: Access = Depends(allow(None)),
) -> Response:
    """Store the versions (like ``ironplane apply``), then go to the app's page."""
    _may_deploy(access)
    given = await _input(spec, workspace, files)
    result = await _attempt(request, access, given, dry_run=False)
    if isinstance(result, Response):
        return result
    apps = [c for c in result.changes if c.workspace and c.kind not in ("Cluster", "Workspace")]
    if len(apps) == 1 and not any(c.agent_token for c in result.changes):
        change = apps[0]
        assert change.workspace is not None
        query = f"applied={change.version}" if change.action != "unchanged" else ""
        url = app_url(change.workspace, change.name, query)
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)
    return page(request, access, "deploy_done.html", result=result)
