"""Spec fields whose compiler module is not in this release yet: say so, never drop them silently.

Each entry disappears when the module that compiles the field lands (Istio exposure, KEDA
autoscaling, Argo Rollouts, training weights other than fss://).
"""

from __future__ import annotations

from dataclasses import dataclass

from ironplane.compiler.core import Build
from ironplane.spec.kinds import TrainingJobSpec
from ironplane.spec.kinds.server import ServerFields, ServiceSpec


@dataclass(frozen=True, slots=True)
class PendingFields:
    name: str = "pending"

    def applies(self, build: Build) -> bool:
        return isinstance(build.spec, ServerFields | TrainingJobSpec)

    def apply(self, build: Build) -> None:
        spec = build.spec
        if isinstance(spec, ServiceSpec):
            for i, port in enumerate(spec.ports):
                if port.expose is not None:
                    build.warn(
                        "public exposure is not compiled yet (Istio VirtualService); "
                        "the port is reachable inside the cluster only",
                        path=("ports", i, "expose"),
                    )
        if isinstance(spec, ServerFields):
            if spec.autoscaling is not None:
                build.warn(
                    "autoscaling is not compiled yet (KEDA ScaledObject); the Deployment leaves "
                    "replicas to the autoscaler and runs one replica until one is installed",
                    path=("autoscaling",),
                )
            if spec.rollout.strategy != "rolling":
                build.warn(
                    f"the {spec.rollout.strategy} strategy is not compiled yet (Argo Rollouts); "
                    "the Deployment rolls out with a rolling update",
                    path=("rollout", "strategy"),
                )
        weights = spec.weights if isinstance(spec, TrainingJobSpec) else None
        if weights is not None and weights.scheme != "fss":
            build.warn(
                f"{weights.scheme}:// weights are not wired into training pods yet (only "
                "fss:// volumes are mounted, at /weights); the training code loads them itself",
                path=("weights", "source"),
                hint="use fss:// weights to have them mounted",
            )
