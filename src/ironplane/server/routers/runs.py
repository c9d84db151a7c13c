"""Job runs: start, list, show, stop, logs."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ironplane.api.permissions import Permission as P
from ironplane.api.runs import JobRun, RunLogs, RunRequest
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import runs as svc

router = APIRouter(tags=["runs"])
_JOB = "/workspaces/{workspace}/jobs/{job}"
_RUN = "/workspaces/{workspace}/runs/{run}"


@router.post(_JOB + "/runs", status_code=201)
async def start_run(
    workspace: str,
    job: str,
    body: RunRequest,
    a: Access = Depends(allow(P.APPS_WRITE, on="workspace")),
) -> JobRun:
    """Start a run of the job with the given params (the others take their defaults). Unknown
    params, or required params not given, are refused before anything is recorded."""
    return await svc.start(a.services, a.caller, workspace, job, dict(body.params))


@router.get(_JOB + "/runs")
async def list_runs(
    workspace: str,
    job: str,
    limit: int = Query(default=50, ge=1, le=500),
    a: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> list[JobRun]:
    """The job's runs, newest first: started by users and by its schedule."""
    return await svc.list_runs(a.services, workspace, job, limit=limit)


@router.get(_RUN)
async def get_run(
    workspace: str, run: str, a: Access = Depends(allow(P.APPS_READ, on="workspace"))
) -> JobRun:
    return await svc.get(a.services, workspace, run)


@router.post(_RUN + "/stop")
async def stop_run(
    workspace: str, run: str, a: Access = Depends(allow(P.APPS_WRITE, on="workspace"))
) -> JobRun:
    """Stop the run; its phase becomes Stopped once the agent reports it."""
    return await svc.stop(a.services, a.caller, workspace, run)


@router.get(_RUN + "/logs")
async def run_logs(
    workspace: str,
    run: str,
    request_lines: int = Query(default=100, ge=1, le=10_000, alias="lines"),
    a: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> RunLogs:
    """The run's last log lines, fetched from its cluster's agent."""
    return await svc.logs(a.services, workspace, run, request_lines)
