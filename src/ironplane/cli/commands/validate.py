"""``ironplane validate``: check manifests against the Kubernetes schemas and CRDs, offline."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ironplane.core.errors import InvalidError, ManifestError


def validate(
    files: list[Path] = typer.Option(
        ..., "-f", "--file", help="Manifest file or directory (repeatable)."
    ),
    kube_version: str = typer.Option(
        "1.33", "--kube-version", help="Kubernetes version whose schemas apply (1.33 to 1.37)."
    ),
    crds: Path | None = typer.Option(
        None,
        "--crds",
        envvar="IRONPLANE_CRDS",
        help="Directory of CustomResourceDefinition YAML files for custom resources.",
    ),
) -> None:
    """Validate manifests strictly: unknown fields are errors."""
    from ironplane.validation import check_kube_version, load_manifest_files, validate_objects

    kube_version = check_kube_version(kube_version)
    if crds is not None and not crds.is_dir():
        raise InvalidError(f"--crds {crds}: not a directory")
    entries = load_manifest_files(files)
    problems = []
    for path, document, obj in entries:
        problems.extend(
            validate_objects(
                [obj],
                kube_version=kube_version,
                crd_dir=crds,
                source=str(path),
                documents=[document],
            )
        )
    if problems:
        n = len(problems)
        raise ManifestError(problems, summary=f"{n} problem{'s' if n != 1 else ''} found:")
    print(
        f"ok: {len(entries)} objects valid against Kubernetes {kube_version}"
        + (f" and the CRDs in {crds}" if crds else ""),
        file=sys.stderr,
    )
