"""Every spec kind, and the registry that maps ``kind:`` to its model."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from ironplane.spec.kinds.job import JobSpec
from ironplane.spec.kinds.model import ModelSpec
from ironplane.spec.kinds.platform import ClusterSpec, WorkspaceSpec
from ironplane.spec.kinds.server import ServiceSpec
from ironplane.spec.kinds.training import TrainingJobSpec
from ironplane.spec.kinds.volume import VolumeSpec

Spec = (
    ClusterSpec | WorkspaceSpec | ServiceSpec | ModelSpec | JobSpec | TrainingJobSpec | VolumeSpec
)
AppSpec = ServiceSpec | ModelSpec | JobSpec | TrainingJobSpec | VolumeSpec
"""Kinds that live in a workspace."""

KINDS: dict[str, type[Spec]] = {
    "Cluster": ClusterSpec,
    "Workspace": WorkspaceSpec,
    "Service": ServiceSpec,
    "Model": ModelSpec,
    "Job": JobSpec,
    "TrainingJob": TrainingJobSpec,
    "Volume": VolumeSpec,
}

SPEC_ADAPTER: TypeAdapter[Spec] = TypeAdapter(Annotated[Spec, Field(discriminator="kind")])

__all__ = [
    "KINDS",
    "SPEC_ADAPTER",
    "AppSpec",
    "ClusterSpec",
    "JobSpec",
    "ModelSpec",
    "ServiceSpec",
    "Spec",
    "TrainingJobSpec",
    "VolumeSpec",
    "WorkspaceSpec",
]
