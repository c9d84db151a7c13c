"""``ironplane describe app``: an app, its active version's objects and its history."""

from __future__ import annotations

import typer

from ironplane.cli import session
from ironplane.cli.commands.remote._common import resolve_app, workspace_option
from ironplane.cli.commands.remote.rollout import status_rows
from ironplane.cli.tables import Format, cell, dump, output_option, print_table, short_hash

app = typer.Typer(help="Show one object in detail.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Show one object in detail."""


@app.command("app")
def describe_app(
    ref: str = typer.Argument(..., metavar="APP", help="APP or WORKSPACE/APP."),
    workspace: str | None = workspace_option(),
    output: Format = output_option(),
) -> None:
    """Show an app: its active version, the objects it deploys, and its version history."""
    with session.connect() as client:
        ws, name = resolve_app(client, ref, workspace)
        detail = client.apps.get(ws, name)
    if dump(detail, output):
        return
    a, active = detail.app, detail.active
    fields = [
        ("App", f"{a.workspace}/{a.name}"),
        ("Kind", a.kind),
        ("Active version", a.active_version if a.active_version is not None else "none (deleted)"),
        ("Latest version", a.latest_version),
        ("Source", a.source),
        ("Created", a.created_at),
        ("Updated", a.updated_at),
    ]
    if active is not None:
        fields += [
            ("Hash", active.hash),
            ("Author", active.author),
            ("Cluster revision", active.cluster_revision),
        ]
    width = max(len(label) for label, _ in fields) + 2
    for label, value in fields:
        print(f"{label + ':':<{width}}{cell(value)}")
    if a.status is not None:
        print("\nStatus (as the cluster's agent reports it):")
        print_table(["FIELD", "VALUE"], status_rows(a))
    if active is not None:
        print(f"\nObjects of version {active.number}:")
        print_table(
            ["KIND", "NAME"],
            [[o.get("kind"), o.get("metadata", {}).get("name")] for o in active.objects],
        )
    if detail.versions:
        print("\nHistory:")
        print_table(
            ["VERSION", "ACTIVE", "REASON", "AUTHOR", "HASH", "CREATED"],
            [
                [
                    v.number,
                    "*" if v.active else "",
                    f"rollback of {v.rollback_of}" if v.rollback_of else v.reason,
                    v.author,
                    short_hash(v.hash),
                    v.created_at,
                ]
                for v in sorted(detail.versions, key=lambda v: v.number, reverse=True)
            ],
        )
