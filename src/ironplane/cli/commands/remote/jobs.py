"""``ironplane jobs``: start a run of a Job, list its runs, read a run's logs, stop a run."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import typer

from ironplane.cli import session
from ironplane.cli.commands.remote._common import resolve_app, workspace_option
from ironplane.cli.tables import Format, dump, emit, output_option
from ironplane.core.errors import InvalidError, NotFoundError

if TYPE_CHECKING:
    from ironplane.api.runs import JobRun
    from ironplane.sdk import Client

app = typer.Typer(help="Run Jobs and follow their runs.", no_args_is_help=True)

FINISHED = ("Succeeded", "Failed", "Stopped", "Unknown")
"""Phases after which a run does not change (Unknown: the agent lost it)."""


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` -> ``{"a": "1", "b": "x=y"}``; a pair without ``=`` or a name given
    twice is an error."""
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidError(f"-p {pair!r}: write it as NAME=VALUE")
        if name in params:
            raise InvalidError(f"-p {name}: given twice")
        params[name] = value
    return params


def duration(run: JobRun) -> str:
    if run.duration_s is None:
        return "-"
    seconds = int(run.duration_s)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def resolve_run(client: Client, ref: str, workspace: str | None) -> tuple[str, str]:
    """``(workspace, run)`` for ``RUN`` or ``WS/RUN``. A bare run name is looked up through its
    job (a run is named after its job): the Job apps whose name prefixes it."""
    if "/" in ref:
        ws, _, run = ref.partition("/")
        if not ws or not run or "/" in run:
            raise InvalidError(f"run {ref!r}: name it RUN or WORKSPACE/RUN")
        return ws, run
    if workspace is not None:
        return workspace, ref
    owners = sorted(
        {
            a.workspace
            for a in client.apps.list()
            if a.kind == "Job" and ref.startswith(a.name + "-")
        }
    )
    if not owners:
        raise NotFoundError(
            f"no job in the workspaces you can see has a run named {ref!r}; "
            "name its workspace with --workspace/-w"
        )
    if len(owners) > 1:
        raise InvalidError(
            f"run {ref!r} could be in workspaces {', '.join(owners)}: pick one with --workspace/-w"
        )
    return owners[0], ref


@app.command("run")
def run(
    ref: str = typer.Argument(..., metavar="JOB", help="JOB or WORKSPACE/JOB."),
    param: list[str] = typer.Option(
        [], "--param", "-p", metavar="NAME=VALUE", help="A param value (repeatable)."
    ),
    workspace: str | None = workspace_option("The job's workspace (or name it WS/JOB)."),
    wait: bool = typer.Option(
        False, "--wait", help="Wait until the run ends; exit 1 unless it succeeds."
    ),
    output: Format = output_option(),
) -> None:
    """Start a run of a Job now (params not given take their defaults)."""
    params = parse_params(param)
    with session.connect() as client:
        ws, job = resolve_app(client, ref, workspace)
        started = client.runs.start(ws, job, params)
        final = _wait(client, ws, started.name) if wait else started
    if not dump(final, output):
        print(f"started run {ws}/{started.name}" + (f": {final.phase}" if wait else ""))
    if wait and final.phase != "Succeeded":
        if final.message:
            print(f"{final.phase}: {final.message}", file=sys.stderr)
        raise typer.Exit(1)


def _wait(client: Client, workspace: str, name: str, *, poll_s: float = 2.0) -> JobRun:
    last = None
    while True:
        current = client.runs.get(workspace, name)
        if current.phase != last:
            print(f"{name}: {current.phase}", file=sys.stderr)
            last = current.phase
        if current.phase in FINISHED:
            return current
        time.sleep(poll_s)


@app.command("runs")
def runs(
    ref: str = typer.Argument(..., metavar="JOB", help="JOB or WORKSPACE/JOB."),
    workspace: str | None = workspace_option("The job's workspace (or name it WS/JOB)."),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="How many runs, newest first."),
    output: Format = output_option(),
) -> None:
    """List a job's runs with their phase and duration, newest first."""
    with session.connect() as client:
        ws, job = resolve_app(client, ref, workspace)
        items = client.runs.list(ws, job, limit=limit)
    emit(
        items,
        output,
        [
            ("RUN", lambda r: r.name),
            ("PHASE", lambda r: r.phase),
            ("STARTED", lambda r: r.started_at or r.created_at),
            ("DURATION", duration),
            ("BY", lambda r: r.started_by),
            ("PARAMS", lambda r: [f"{k}={v}" for k, v in sorted(r.params.items())]),
            ("MESSAGE", lambda r: r.message),
        ],
        empty=f"job {ws}/{job} has no runs yet",
    )


@app.command("logs")
def logs(
    ref: str = typer.Argument(..., metavar="RUN", help="RUN or WORKSPACE/RUN."),
    workspace: str | None = workspace_option("The run's workspace (or name it WS/RUN)."),
    lines: int = typer.Option(100, "--lines", "-n", min=1, max=10_000, help="How many lines."),
) -> None:
    """Print a run's last log lines (from its cluster's agent)."""
    with session.connect() as client:
        ws, name = resolve_run(client, ref, workspace)
        result = client.runs.logs(ws, name, lines=lines)
    for line in result.lines:
        print(line)


@app.command("stop")
def stop(
    ref: str = typer.Argument(..., metavar="RUN", help="RUN or WORKSPACE/RUN."),
    workspace: str | None = workspace_option("The run's workspace (or name it WS/RUN)."),
) -> None:
    """Stop a run; it ends as Stopped."""
    with session.connect() as client:
        ws, name = resolve_run(client, ref, workspace)
        client.runs.stop(ws, name)
    print(f"stopping run {ws}/{name}")
