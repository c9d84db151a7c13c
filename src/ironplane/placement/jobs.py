"""The pod set a TrainingJob asks Kueue to place, from its spec and its cluster's GPU table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ironplane.compiler.gpus import gpu_table
from ironplane.core.errors import InvalidError
from ironplane.placement.preview import Node, PodSet
from ironplane.spec.kinds import TrainingJobSpec
from ironplane.spec.kinds.platform import GpuNodes


def podset_of(
    spec: TrainingJobSpec, provider: str, gpu_types: Mapping[str, Any] | None = None
) -> PodSet:
    """One pod per node of the job with its GPUs, on the nodes of its GPU type.

    Without ``topology`` the job may land anywhere: the preview then looks for the tightest
    local block first and climbs (``preferred``), which says how well it would be placed.
    """
    gpu = spec.resources.gpu if spec.resources else None
    if gpu is None:
        raise InvalidError(
            f"TrainingJob {spec.name!r} asks for no GPUs (resources.gpu): a placement preview "
            "is about where its GPU pods fit"
        )
    overrides = {k: GpuNodes.model_validate(v) for k, v in (gpu_types or {}).items()}
    labels: Mapping[str, str] = {}
    if gpu.type is not None:
        table = gpu_table(provider, overrides)
        if gpu.type not in table:
            raise InvalidError(
                f"TrainingJob {spec.name!r}: GPU type {gpu.type!r} is unknown on a "
                f"{provider!r} cluster; known: {', '.join(table)}"
            )
        labels = table[gpu.type].node_selector
    topology = spec.topology
    return PodSet(
        pods=spec.nodes,
        gpus_per_pod=gpu.count,
        within=topology.within if topology else "local_block",
        mode=topology.mode if topology else "preferred",
        node_labels=dict(labels),
    )


def nodes_of(inventory: list[dict[str, Any]]) -> list[Node]:
    """Placement nodes from the nodes a cluster's agent reported, as stored or served (dicts)."""
    return [
        Node(
            name=str(n["name"]),
            labels=dict(n.get("labels") or {}),
            allocatable_gpus=int(n.get("allocatable_gpus") or 0),
            used_gpus=int(n.get("used_gpus") or 0),
            ready=bool(n.get("ready", True)),
        )
        for n in inventory
    ]
