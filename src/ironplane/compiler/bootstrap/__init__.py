"""``ironplane cluster bootstrap``: a Cluster's add-on stack as an Argo CD app-of-apps
(``catalog``: the pinned charts and sync waves; ``values``: their Helm values per profile;
``render``: the objects)."""

from __future__ import annotations

from ironplane.compiler.bootstrap.render import Plan, bootstrap_objects, plan

__all__ = ["Plan", "bootstrap_objects", "plan"]
