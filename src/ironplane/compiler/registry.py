"""Which function compiles each kind, and the feature modules that run after it, in order."""

from __future__ import annotations

from collections.abc import Mapping

from ironplane.compiler.analysis import RolloutAnalysis
from ironplane.compiler.autoscaling import KedaAutoscaling
from ironplane.compiler.core import Build, Feature, KindCompiler
from ironplane.compiler.exposure import IstioExposure
from ironplane.compiler.kinds.job import compile_job
from ironplane.compiler.kinds.model import compile_model
from ironplane.compiler.kinds.server import compile_service
from ironplane.compiler.kinds.training import compile_training
from ironplane.compiler.kinds.volume import compile_volume
from ironplane.compiler.kinds.workspace import compile_workspace
from ironplane.compiler.monitoring import Monitoring
from ironplane.compiler.rollouts import ArgoRollouts


def _nothing(build: Build) -> None:
    """Clusters are platform objects: the control plane keeps them; they emit no manifests."""


KIND_COMPILERS: Mapping[str, KindCompiler] = {
    "Cluster": _nothing,
    "Workspace": compile_workspace,
    "Service": compile_service,
    "Model": compile_model,
    "Job": compile_job,
    "TrainingJob": compile_training,
    "Volume": compile_volume,
}

FEATURES: tuple[Feature, ...] = (
    IstioExposure(),
    ArgoRollouts(),
    RolloutAnalysis(),
    KedaAutoscaling(),
    Monitoring(),
)
