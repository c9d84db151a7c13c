"""``ironplane render``: compile specs to Kubernetes manifests, offline."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ironplane.cli.output import warn, write_directory, yaml_stream


def render(
    files: list[Path] = typer.Option(
        ..., "-f", "--file", help="Spec file or directory (repeatable); '-' reads stdin."
    ),
    workspace: str | None = typer.Option(
        None, "--workspace", "-w", help="Workspace for documents that name none."
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write one file per object into this directory."
    ),
    app_version: str | None = typer.Option(
        None,
        "--app-version",
        help="Value of the ironplane.dev/version label (default: each spec's content hash).",
    ),
) -> None:
    """Compile spec files to a manifest bundle and print it as multi-document YAML."""
    from ironplane.compiler import compile_documents
    from ironplane.spec import load_files

    docs = load_files([str(f) for f in files], default_workspace=workspace)
    compiled = compile_documents(docs, version=app_version)
    warn(compiled.warnings)
    objects = compiled.bundle.objects
    if output is not None:
        write_directory(output, objects)
        print(f"wrote {len(objects)} objects to {output} ({compiled.bundle.hash})", file=sys.stderr)
    else:
        sys.stdout.write(yaml_stream(objects))
        print(f"# {len(objects)} objects, {compiled.bundle.hash}", file=sys.stderr)
