"""TrainingJob: multi-node distributed training on GPUs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ironplane.spec.base import AbsPath, Duration, Image, Label, Name, Quantity, SpecModel
from ironplane.spec.fields import Resources, Weights
from ironplane.spec.kinds.server import AppFields


class Network(SpecModel):
    rdma: bool = Field(
        default=False, description="RoCE v2 pod pattern; needs a privileged workspace"
    )


class Topology(SpecModel):
    within: Literal["local_block", "network_block", "hpc_island"]
    mode: Literal["required", "preferred"] = "preferred"


class Checkpoints(SpecModel):
    volume: Name
    path: AbsPath = "/checkpoints"


class TrainingJobSpec(AppFields):
    kind: Literal["TrainingJob"]
    framework: Literal["pytorch", "mpi", "ray", "trainer"]
    image: Image
    command: list[str] = Field(min_length=1)
    args: list[str] | None = None
    nodes: int = Field(ge=1, le=1024)
    resources: Resources | None = None
    network: Network = Field(default_factory=Network)
    shm: Quantity | None = None
    topology: Topology | None = None
    queue: Label | None = None
    weights: Weights | None = None
    checkpoints: Checkpoints | None = None
    retries: int = Field(default=0, ge=0, le=10)
    timeout: Duration | None = None
