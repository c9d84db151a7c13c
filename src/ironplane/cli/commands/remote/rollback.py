"""``ironplane rollback``: make an earlier version of an app active again."""

from __future__ import annotations

import sys

import typer

from ironplane.cli import session
from ironplane.cli.commands.remote._common import resolve_app, workspace_option
from ironplane.cli.tables import Format, dump, output_option


def rollback(
    ref: str = typer.Argument(..., metavar="APP", help="APP or WORKSPACE/APP."),
    to: int = typer.Option(..., "--to", min=1, help="The version to bring back."),
    workspace: str | None = workspace_option(),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and report; change nothing."),
    output: Format = output_option(),
) -> None:
    """Roll an app back to version N; the rollback is recorded as a new version."""
    with session.connect() as client:
        ws, name = resolve_app(client, ref, workspace)
        change = client.apps.rollback(ws, name, to=to, dry_run=dry_run)
    if dump(change, output):
        return
    if dry_run:
        print(f"dry run: would roll {ws}/{name} back to version {to} ({change.action})")
        return
    if change.action == "unchanged":
        print(f"{ws}/{name}: version {to} is already active; nothing changed")
        return
    print(
        f"rolled {ws}/{name} back to version {to}: now version {change.version}"
        + (f", cluster revision {change.cluster_revision}" if change.cluster_revision else "")
    )
    if change.diff:
        sys.stdout.write(change.diff)
