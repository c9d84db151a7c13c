"""``ironplane cluster bootstrap``: the add-on stack as an Argo CD app-of-apps."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``cluster`` group."""
