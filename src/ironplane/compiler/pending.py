"""Spec fields whose compiler module is not in this release yet: say so, never drop them silently.

Each entry disappears when the module that compiles the field lands (block:// training
weights).
"""

from __future__ import annotations

from dataclasses import dataclass

from ironplane.compiler.core import Build
from ironplane.spec.kinds import TrainingJobSpec


@dataclass(frozen=True, slots=True)
class PendingFields:
    name: str = "pending"

    def applies(self, build: Build) -> bool:
        return isinstance(build.spec, TrainingJobSpec)

    def apply(self, build: Build) -> None:
        spec = build.spec
        weights = spec.weights if isinstance(spec, TrainingJobSpec) else None
        if weights is not None and weights.scheme == "block":
            build.warn(
                "block:// weights are not wired into training pods yet (a raw multi-attach "
                "device needs mounting inside the pod); the training code reads the device itself",
                path=("weights", "source"),
                hint="use fss:// (mounted at /weights) or oci:// (downloaded on each node)",
            )
