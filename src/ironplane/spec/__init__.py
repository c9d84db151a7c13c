"""Typed app specs: the user-facing YAML vocabulary (see docs/specs.md).

Parsing is strict: unknown fields, wrong types and bad values fail with a located diagnostic.
"""

from ironplane.spec.kinds import (
    AppSpec,
    ClusterSpec,
    JobSpec,
    ModelSpec,
    ServiceSpec,
    Spec,
    TrainingJobSpec,
    VolumeSpec,
    WorkspaceSpec,
)
from ironplane.spec.loading import Document, load_documents, load_files

__all__ = [
    "AppSpec",
    "ClusterSpec",
    "Document",
    "JobSpec",
    "ModelSpec",
    "ServiceSpec",
    "Spec",
    "TrainingJobSpec",
    "VolumeSpec",
    "WorkspaceSpec",
    "load_documents",
    "load_files",
]
