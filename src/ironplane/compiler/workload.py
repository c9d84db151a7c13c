"""Which object holds a server's pods once the feature modules have run.

The kind compiler emits a Deployment ``<app>``; the rollouts feature may add an Argo ``Rollout``
``<app>`` that either carries the pod template itself (the Deployment removed) or points at the
Deployment with ``workloadRef``. Features that scale the pods or edit their template (autoscaling,
monitoring) ask here instead of assuming a Deployment, so they work whichever ran before them.
"""

from __future__ import annotations

from typing import Any

from ironplane.compiler.core import Build
from ironplane.compiler.rollouts import ROLLOUT_API
from ironplane.wire.manifests import Object

__all__ = ["ROLLOUT_API", "main_container", "pod_template", "scale_target"]


def scale_target(build: Build) -> Object | None:
    """The object whose replica count is the app's: the Rollout if there is one, else the
    Deployment (a Rollout with ``workloadRef`` owns the count; the Deployment is scaled down)."""
    name = build.spec.name
    return build.objects.find("Rollout", name) or build.objects.find("Deployment", name)


def pod_template(build: Build) -> dict[str, Any] | None:
    """The pod template the app's pods are made from (``spec.template``), wherever it lives."""
    name = build.spec.name
    rollout = build.objects.find("Rollout", name)
    if rollout is not None and "template" in rollout.get("spec", {}):
        template: dict[str, Any] = rollout["spec"]["template"]
        return template
    deployment = build.objects.find("Deployment", name)
    if deployment is None:
        return None
    template = deployment["spec"]["template"]
    return template


def main_container(template: dict[str, Any]) -> dict[str, Any]:
    """The app's own container (``main``; the first one if a feature renamed it)."""
    containers: list[dict[str, Any]] = template["spec"]["containers"]
    return next((c for c in containers if c.get("name") == "main"), containers[0])
