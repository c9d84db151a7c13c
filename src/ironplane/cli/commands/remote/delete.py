"""``ironplane delete app``: remove an app from its cluster (its history stays)."""

from __future__ import annotations

import typer

from ironplane.cli import session
from ironplane.cli.commands.remote._common import confirm, resolve_app, workspace_option

app = typer.Typer(help="Delete an object.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Delete an object."""


@app.command("app")
def delete_app(
    ref: str = typer.Argument(..., metavar="APP", help="APP or WORKSPACE/APP."),
    workspace: str | None = workspace_option(),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete an app: its objects leave the cluster; its versions stay for a rollback."""
    with session.connect() as client:
        ws, name = resolve_app(client, ref, workspace)
        confirm(f"Delete app {ws}/{name} and all its running objects?", yes=yes)
        change = client.apps.delete(ws, name)
    revision = f" (cluster revision {change.cluster_revision})" if change.cluster_revision else ""
    print(f"deleted app {ws}/{name}{revision}; `ironplane rollback` can bring a version back")
