"""``ironplane audit``: the append-only audit log, newest first."""

from __future__ import annotations

import typer

from ironplane.cli import session
from ironplane.cli.tables import Format, emit, output_option


def audit(
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000, help="How many events."),
    before: int | None = typer.Option(None, "--before", min=1, help="Events older than this id."),
    output: Format = output_option(),
) -> None:
    """Show who did what, when and from where (needs audit.read)."""
    with session.connect() as client:
        items = client.audit.list(limit=limit, before=before)
    emit(
        items,
        output,
        [
            ("ID", lambda e: e.id),
            ("AT", lambda e: e.at),
            ("ACTOR", lambda e: e.actor),
            ("ACTION", lambda e: e.action),
            ("TARGET", lambda e: e.target),
            ("FROM", lambda e: e.source_ip or ""),
            ("OUTCOME", lambda e: e.outcome),
        ],
        empty="no audit events",
    )
