"""Add-on gating: a feature emits objects of an add-on's kinds only where the cluster lists it.

A cluster without the add-on would reject the objects (no CRD) or ignore them (no controller), so
the feature keeps the plain Kubernetes objects instead and says so in one warning of the same
shape everywhere: which cluster, which add-on, what happens instead, and how to get the feature.
"""

from __future__ import annotations

from ironplane.compiler.core import Build
from ironplane.core.diagnostics import PathItem

ISTIO = "istio"
ARGO_ROLLOUTS = "argo-rollouts"
PROMETHEUS = "prometheus"


def has_addon(build: Build, addon: str) -> bool:
    return addon in build.ctx.cluster.addons


def warn_missing(build: Build, addon: str, consequence: str, path: tuple[PathItem, ...]) -> None:
    """``cluster 'x' has no <addon> add-on: <consequence>``, with the way out as the hint."""
    build.warn(
        f"cluster {build.ctx.cluster.name!r} has no {addon} add-on: {consequence}",
        path=path,
        hint=f"add {addon} to the Cluster's addons once it is installed",
    )
