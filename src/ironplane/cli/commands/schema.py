"""``ironplane schema``: the JSON Schema of the specs, for editors."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def schema(
    output: Path | None = typer.Option(None, "-o", "--output", help="Write to this file."),
) -> None:
    """Print the JSON Schema of Ironplane spec documents (for yaml-language-server)."""
    from ironplane.spec.schema import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
