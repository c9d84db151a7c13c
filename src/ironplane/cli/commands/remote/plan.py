"""``ironplane plan``: where would a TrainingJob's pods fit on its cluster, before submitting it."""

from __future__ import annotations

from pathlib import Path

import typer

from ironplane.cli import session
from ironplane.core.errors import InvalidError


def plan(
    files: list[Path] = typer.Option(..., "--file", "-f", help="Spec files or directories."),
    cluster: str | None = typer.Option(
        None, "--cluster", help="The cluster to plan on (default: the workspace's)."
    ),
    workspace: str | None = typer.Option(
        None, "--workspace", "-w", help="Workspace of documents that name none."
    ),
) -> None:
    """Preview whether and where each TrainingJob's pods fit, from the nodes the cluster's agent
    reports (topology labels, allocatable and used GPUs), reasoning like Kueue's topology-aware
    scheduler. Exits 1 when a job does not fit."""
    # Imported here: `ironplane --help` must not load pydantic (the specs).
    from ironplane.placement import preview
    from ironplane.placement.jobs import nodes_of, podset_of
    from ironplane.spec.kinds import TrainingJobSpec
    from ironplane.spec.loading import load_files

    docs = load_files(files, default_workspace=workspace)
    jobs = [d.spec for d in docs if isinstance(d.spec, TrainingJobSpec)]
    if not jobs:
        raise InvalidError("no TrainingJob in the given files: plan previews TrainingJobs")
    misfits = 0
    with session.connect() as client:
        for spec in jobs:
            ws = spec.workspace or "default"
            name = cluster or client.workspaces.get(ws).cluster
            info = client.clusters.get(name)
            if info.provider != "oci":
                raise InvalidError(
                    f"cluster {name!r} is not an OCI cluster: the preview places pods on the "
                    "oci.oraclecloud.com/rdma.* topology labels Kueue uses there"
                )
            podset = podset_of(spec, info.provider, info.spec.get("gpu_types"))
            result = preview(nodes_of([n.model_dump() for n in info.nodes]), podset)
            print(f"{ws}/{spec.name} on cluster {name}:")
            print(result.render())
            misfits += 0 if result.fits else 1
    if misfits:
        raise typer.Exit(1)
