"""``ironplane logs`` and ``ironplane restart``: reach a running app through its cluster's agent."""

from __future__ import annotations

import typer

from ironplane.cli import session
from ironplane.cli.commands.remote._common import resolve_app, workspace_option


def logs(
    ref: str = typer.Argument(..., metavar="APP", help="APP or WORKSPACE/APP."),
    workspace: str | None = workspace_option(),
    lines: int = typer.Option(100, "--lines", "-n", min=1, max=10_000, help="How many lines."),
) -> None:
    """Print the app's last log lines (from its cluster's agent)."""
    with session.connect() as client:
        ws, name = resolve_app(client, ref, workspace)
        result = client.apps.logs(ws, name, lines=lines)
    for line in result.lines:
        print(line)


def restart(
    ref: str = typer.Argument(..., metavar="APP", help="APP or WORKSPACE/APP."),
    workspace: str | None = workspace_option(),
) -> None:
    """Restart the app's processes or pods; its version stays the same."""
    with session.connect() as client:
        ws, name = resolve_app(client, ref, workspace)
        client.apps.restart(ws, name)
    print(f"restarted {ws}/{name}")
