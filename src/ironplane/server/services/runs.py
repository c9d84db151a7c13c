"""Job runs: start, list, stop and read the logs of runs, through the cluster's agent.

A run is recorded before the agent is asked to start it (so that the agent's status report,
which may arrive first, finds the row) and removed again when the agent refuses or cannot be
reached: a run that never started leaves no row. The audit log records every attempt.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.runs import JobRun, RunLogs
from ironplane.core.errors import (
    ConflictError,
    InvalidError,
    IronplaneError,
    NotFoundError,
    UnsupportedError,
)
from ironplane.server.agents.hub import AgentNotConnected
from ironplane.server.context import Caller, Services
from ironplane.server.db.tables import AppRow, JobRunRow, WorkspaceRow
from ironplane.server.db.types import utcnow
from ironplane.server.services.audit import record
from ironplane.server.services.versions import version_of
from ironplane.wire import agent_protocol as proto
from ironplane.wire.jobs import check_params

MAX_RUNS_PER_REPORT = 1000
KEEP_PER_JOB = 500
"""Finished runs kept per job; older ones are deleted as new ones are recorded."""
LOST_AFTER = timedelta(minutes=2)
"""An unfinished run missing from the agent's reports for this long is marked Unknown (its
Workflow or Job was deleted, or the agent restarted and forgot it)."""
REFUSED = (InvalidError, NotFoundError, ConflictError, UnsupportedError, AgentNotConnected)
"""Agent answers (or no agent) that mean the run did not start."""
UNFINISHED = ("Pending", "Running")
SCHEDULE = "schedule"
OUTSIDE = "outside ironplane"


def run_out(row: JobRunRow, now: datetime | None = None) -> JobRun:
    duration = None
    if row.started_at is not None:
        end = row.finished_at or (now or utcnow())
        duration = max(0.0, (end - row.started_at).total_seconds())
    return JobRun(
        name=row.name,
        workspace=row.workspace,
        job=row.job,
        phase=row.phase,
        started_by=row.started_by,
        params=dict(row.params),
        scheduled=row.scheduled,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_s=None if duration is None else round(duration, 3),
        message=row.message,
    )


async def _job(session: AsyncSession, workspace: str, job: str) -> AppRow:
    app = await session.scalar(
        select(AppRow).join(WorkspaceRow).where(WorkspaceRow.name == workspace, AppRow.name == job)
    )
    if app is None or app.active_version is None:
        raise NotFoundError(f"job {job!r} not found in workspace {workspace!r}")
    if app.kind != "Job":
        raise InvalidError(f"{workspace}/{job} is a {app.kind}, not a Job: only Jobs have runs")
    return app


async def _workspace(session: AsyncSession, workspace: str) -> WorkspaceRow:
    ws = await session.scalar(select(WorkspaceRow).where(WorkspaceRow.name == workspace))
    if ws is None:
        raise NotFoundError(f"workspace {workspace!r} not found")
    return ws


async def _run(session: AsyncSession, workspace: str, name: str) -> tuple[JobRunRow, str]:
    """The run, and the name of its workspace's cluster."""
    ws = await _workspace(session, workspace)
    row = await session.scalar(
        select(JobRunRow).where(
            JobRunRow.cluster_id == ws.cluster_id,
            JobRunRow.workspace == workspace,
            JobRunRow.name == name,
        )
    )
    if row is None:
        raise NotFoundError(f"run {name!r} not found in workspace {workspace!r}")
    return row, ws.cluster.name


async def start(
    services: Services, caller: Caller, workspace: str, job: str, params: dict[str, str]
) -> JobRun:
    """Check ``params`` against the job's active version, record the run, ask the agent to
    start it. Nothing is recorded (but the audit event) when the params are wrong or the agent
    refuses."""
    async with services.db.session() as s:
        app = await _job(s, workspace, job)
        version = await version_of(s, app, app.active_version)
        assert version is not None
        declared = [
            (str(p["name"]), None if p.get("default") is None else str(p["default"]))
            for p in version.spec.get("params") or []
        ]
        check_params(declared, params, job=job)
        cluster_id, cluster = app.workspace.cluster_id, app.workspace.cluster.name
        row = JobRunRow(
            cluster_id=cluster_id,
            workspace=workspace,
            job=job,
            name=f"{job}-{secrets.token_hex(4)}",
            started_by=caller.ref,
            params=dict(params),
            scheduled=False,
            phase="Pending",
        )
        s.add(row)
    target = f"run/{workspace}/{row.name}"
    details: dict[str, Any] = {"job": job, "params": sorted(params)}
    try:
        await services.hub.command(
            cluster_id, cluster, op="run", workspace=workspace, app=job, run=row.name, params=params
        )
    except REFUSED as exc:
        # The agent refused: nothing started, nothing to keep.
        async with services.db.session() as s:
            await s.execute(delete(JobRunRow).where(JobRunRow.id == row.id))
            record(s, caller, action="job.run", target=target, outcome="failed", details=details)
        raise exc from None
    except IronplaneError as exc:
        # No answer (disconnect, timeout): the run may have started. Keep who started it and
        # with what; the agent's next report says what became of it.
        async with services.db.session() as s:
            kept = await s.get(JobRunRow, row.id)
            if kept is not None and kept.phase == "Pending":
                kept.phase, kept.message = "Unknown", f"not confirmed by the agent: {exc.message}"
            record(s, caller, action="job.run", target=target, outcome="unknown", details=details)
        raise exc from None
    async with services.db.session() as s:
        record(s, caller, action="job.run", target=target, details=details)
        fresh = await s.get(JobRunRow, row.id)
        return run_out(fresh or row)


async def list_runs(services: Services, workspace: str, job: str, *, limit: int) -> list[JobRun]:
    async with services.db.session() as s:
        ws = await _workspace(s, workspace)
        rows = await s.scalars(
            select(JobRunRow)
            .where(
                JobRunRow.cluster_id == ws.cluster_id,
                JobRunRow.workspace == workspace,
                JobRunRow.job == job,
            )
            .order_by(JobRunRow.created_at.desc(), JobRunRow.id.desc())
            .limit(limit)
        )
        now = utcnow()
        runs = [run_out(r, now) for r in rows]
        if not runs:
            await _job(s, workspace, job)  # a clear error for an unknown job
        return runs


async def get(services: Services, workspace: str, name: str) -> JobRun:
    async with services.db.session() as s:
        row, _ = await _run(s, workspace, name)
        return run_out(row)


async def stop(services: Services, caller: Caller, workspace: str, name: str) -> JobRun:
    """Ask the agent to stop the run; the phase becomes Stopped when the agent reports it."""
    async with services.db.session() as s:
        row, cluster_name = await _run(s, workspace, name)
    await services.hub.command(
        row.cluster_id, cluster_name, op="stop", workspace=workspace, app=row.job, run=name
    )
    async with services.db.session() as s:
        record(s, caller, action="job.stop", target=f"run/{workspace}/{name}")
        row, _ = await _run(s, workspace, name)
        return run_out(row)


async def logs(services: Services, workspace: str, name: str, lines: int) -> RunLogs:
    async with services.db.session() as s:
        row, cluster_name = await _run(s, workspace, name)
    result = await services.hub.command(
        row.cluster_id,
        cluster_name,
        op="run_logs",
        workspace=workspace,
        app=row.job,
        run=name,
        lines=lines,
    )
    return RunLogs(workspace=workspace, run=name, lines=result.lines)


def _at(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


async def record_reported(
    session: AsyncSession,
    cluster_id: int,
    workspaces: set[str],
    runs: list[proto.RunStatus],
    *,
    complete: bool = True,
) -> None:
    """Upsert what the agent reports: phases and times of known runs, and new rows for runs
    the control plane did not start (by the job's schedule, or from outside Ironplane). With
    ``complete`` (the report holds every run the agent knows), unfinished runs it no longer
    reports become Unknown; each job keeps its newest ``KEEP_PER_JOB`` finished runs."""
    complete = complete and len(runs) <= MAX_RUNS_PER_REPORT
    runs = [r for r in runs[:MAX_RUNS_PER_REPORT] if r.workspace in workspaces and r.job]
    now = utcnow()
    names = {r.id[:63] for r in runs}
    rows = {
        (r.workspace, r.name): r
        for r in await session.scalars(
            select(JobRunRow).where(JobRunRow.cluster_id == cluster_id, JobRunRow.name.in_(names))
        )
    }
    added: set[tuple[str, str]] = set()
    for run in runs:
        key = (run.workspace[:63], run.id[:63])
        fields = {
            "phase": run.phase,
            "message": (run.message or "")[:2000] or None,
            "started_at": _at(run.started_at),
            "finished_at": _at(run.finished_at),
        }
        row = rows.get(key)
        if row is None:
            row = JobRunRow(
                cluster_id=cluster_id,
                workspace=key[0],
                job=run.job[:63],
                name=key[1],
                started_by=SCHEDULE if run.scheduled else OUTSIDE,
                params={},
                scheduled=run.scheduled,
                created_at=_at(run.started_at) or now,
                updated_at=now,
                **fields,
            )
            session.add(row)
            rows[key] = row
            added.add((key[0], row.job))
        elif any(getattr(row, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(row, k, v)
            row.updated_at = now
    if complete:
        await _mark_lost(session, cluster_id, set(rows), now)
    for workspace, job in sorted(added):
        await _trim(session, cluster_id, workspace, job)


async def _mark_lost(
    session: AsyncSession, cluster_id: int, reported: set[tuple[str, str]], now: datetime
) -> None:
    unfinished = await session.scalars(
        select(JobRunRow).where(
            JobRunRow.cluster_id == cluster_id,
            JobRunRow.phase.in_(UNFINISHED),
            JobRunRow.updated_at < now - LOST_AFTER,
        )
    )
    for row in unfinished:
        if (row.workspace, row.name) not in reported:
            row.phase, row.updated_at = "Unknown", now
            row.message = (
                "the agent no longer reports this run: its Workflow or Job was deleted, or the "
                "agent restarted and forgot it"
            )


async def _trim(session: AsyncSession, cluster_id: int, workspace: str, job: str) -> None:
    old = await session.scalars(
        select(JobRunRow.id)
        .where(
            JobRunRow.cluster_id == cluster_id,
            JobRunRow.workspace == workspace,
            JobRunRow.job == job,
            JobRunRow.phase.not_in(UNFINISHED),
        )
        .order_by(JobRunRow.created_at.desc(), JobRunRow.id.desc())
        .offset(KEEP_PER_JOB)
    )
    doomed = list(old)
    if doomed:
        await session.execute(delete(JobRunRow).where(JobRunRow.id.in_(doomed)))
