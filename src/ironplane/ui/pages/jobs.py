"""Jobs and their runs: the jobs a user can see, one job's params, runs and run form, a run's
logs. Starting, stopping and reading logs go through the same service (and the cluster's agent)
as ``POST /workspaces/{ws}/jobs/{job}/runs``, ``.../runs/{run}/stop`` and ``.../logs``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from ironplane.api.apps import App
from ironplane.api.permissions import Permission as P
from ironplane.api.runs import JobRun, RunRequest
from ironplane.core.errors import IronplaneError, NotFoundError
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import apps as apps_service
from ironplane.server.services import runs as runs_service
from ironplane.ui.pages.formkit import body, see_other, shown
from ironplane.ui.render import fragment, page
from ironplane.ui.session import check_csrf

router = APIRouter(include_in_schema=False)

ACTIVE = frozenset(runs_service.UNFINISHED)
PARAM_FIELD = "param."
"""Run form fields are ``param.<name>``: apart from the CSRF token, whatever the form holds."""
NOTICES = {"stopping": "Asked the agent to stop the run; its phase changes when it reports it."}


def duration(seconds: float | None) -> str:
    """``1h 02m``, ``3m 05s``, ``42s``: short durations for tables."""
    if seconds is None:
        return ""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{seconds:.1f}s" if seconds < 10 else f"{secs}s"


def _values(**values: Any) -> dict[str, Any]:
    return {"duration": duration, "active_phases": ACTIVE, **values}


@router.get("/jobs", response_class=HTMLResponse)
async def jobs(request: Request, access: Access = Depends(allow(None))) -> HTMLResponse:
    async with access.services.db.session() as session:
        apps = await apps_service.list_apps(session, access.caller, None)
    found: list[tuple[App, JobRun | None]] = []
    for app in apps:
        if app.kind != "Job" or app.active_version is None:
            continue
        runs = await runs_service.list_runs(access.services, app.workspace, app.name, limit=1)
        found.append((app, runs[0] if runs else None))
    return page(request, access, "jobs.html", **_values(jobs=found))


def _params(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": str(p["name"]),
            "default": None if p.get("default") is None else str(p["default"]),
            "description": p.get("description") or "",
            "required": p.get("default") is None,
        }
        for p in spec.get("params") or []
    ]


async def _job_page(
    request: Request,
    access: Access,
    workspace: str,
    job: str,
    *,
    status: int = 200,
    error: str | None = None,
    given: dict[str, str] | None = None,
) -> HTMLResponse:
    async with access.services.db.session() as session:
        detail = await apps_service.describe(session, workspace, job)
    if detail.app.kind != "Job" or detail.active is None:
        raise NotFoundError(f"job {job!r} not found in workspace {workspace!r}")
    runs = await runs_service.list_runs(access.services, workspace, job, limit=50)
    done = request.query_params.get("done", "")
    started = request.query_params.get("started", "")
    return page(
        request,
        access,
        "job.html",
        status=status,
        **_values(
            workspace=workspace,
            job=job,
            app=detail.app,
            spec=detail.active.spec,
            params=_params(detail.active.spec),
            runs=runs,
            error=error,
            given=given,
            notice=NOTICES.get(done),
            started=started if any(r.name == started for r in runs) else "",
            target=access.target,
        ),
    )


@router.get("/jobs/{workspace}/{job}", response_class=HTMLResponse)
async def job_page(
    request: Request,
    workspace: str,
    job: str,
    access: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> HTMLResponse:
    return await _job_page(request, access, workspace, job)


@router.get("/jobs/{workspace}/{job}/runs", response_class=HTMLResponse)
async def runs_fragment(
    request: Request,
    workspace: str,
    job: str,
    access: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> HTMLResponse:
    """The runs table alone: what the job page polls while a run is active."""
    runs = await runs_service.list_runs(access.services, workspace, job, limit=50)
    return fragment(
        request,
        access,
        "_runs.html",
        **_values(workspace=workspace, job=job, runs=runs, target=access.target),
    )


@router.post("/jobs/{workspace}/{job}/runs", dependencies=[Depends(check_csrf)])
async def start_run(
    request: Request,
    workspace: str,
    job: str,
    access: Access = Depends(allow(P.APPS_WRITE, on="workspace")),
) -> Response:
    """The run form: one field per param; a blank field takes the param's default (and a blank
    required param is refused by the service, as a missing one)."""
    form = await request.form()
    given = {
        key.removeprefix(PARAM_FIELD): value
        for key, value in form.multi_items()
        if key.startswith(PARAM_FIELD) and isinstance(value, str)
    }
    params = {k: v for k, v in given.items() if v != ""}
    try:
        request_body = body(RunRequest, {"params": params})
        run = await runs_service.start(
            access.services, access.caller, workspace, job, dict(request_body.params)
        )
    except IronplaneError as exc:
        status, message = shown(exc)
        return await _job_page(
            request, access, workspace, job, status=status, error=message, given=given
        )
    return see_other(f"/ui/jobs/{workspace}/{job}", started=run.name)


@router.post("/runs/{workspace}/{run}/stop", dependencies=[Depends(check_csrf)])
async def stop_run(
    request: Request,
    workspace: str,
    run: str,
    access: Access = Depends(allow(P.APPS_WRITE, on="workspace")),
) -> Response:
    found = await runs_service.stop(access.services, access.caller, workspace, run)
    return see_other(f"/ui/jobs/{workspace}/{found.job}", done="stopping")


async def _logs(access: Access, workspace: str, run: str, lines: int) -> dict[str, Any]:
    try:
        logs = await runs_service.logs(access.services, workspace, run, lines)
    except IronplaneError as exc:
        _, message = shown(exc)
        return {"lines": None, "logs_error": message}
    return {"lines": logs.lines, "logs_error": None}


_LINES = Query(default=200, ge=1, le=10_000)


@router.get("/runs/{workspace}/{run}", response_class=HTMLResponse)
async def run_page(
    request: Request,
    workspace: str,
    run: str,
    lines: int = _LINES,
    access: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> HTMLResponse:
    found = await runs_service.get(access.services, workspace, run)
    return page(
        request,
        access,
        "run.html",
        **_values(
            workspace=workspace,
            run=found,
            count=lines,
            target=access.target,
            **await _logs(access, workspace, run, lines),
        ),
    )


@router.get("/runs/{workspace}/{run}/logs", response_class=HTMLResponse)
async def run_logs(
    request: Request,
    workspace: str,
    run: str,
    lines: int = _LINES,
    access: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> HTMLResponse:
    """The logs alone (the run page polls it while the run is active)."""
    found = await runs_service.get(access.services, workspace, run)
    logs = await _logs(access, workspace, run, lines)
    return fragment(
        request,
        access,
        "_run_logs.html",
        **_values(workspace=workspace, run=found, count=lines, **logs),
    )
