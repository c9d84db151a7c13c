"""A rendered bootstrap as files (``ironplane cluster bootstrap -o DIR``).

One file per object: the installer's (``installer-*``), the OCI repository Secrets
(``repository-*``), the root Application (``root-ironplane-addons.yaml``), each child Application
as the root creates it (``application-*``, for review: the root holds them, nothing applies these
files), and the Istio Gateway (``gateway-*``: needs Istio's CRDs, apply it once Istio runs).
``kustomization.yaml`` lists what ``kubectl apply --server-side -k DIR`` should apply now: the
installer, the repositories and the root, exactly what the agent applies.
"""

from __future__ import annotations

from typing import Any

from ironplane.compiler.bootstrap.render import INSTALLER, ROOT, Plan
from ironplane.yamlsource import KUSTOMIZATION, kustomization


def _name(obj: dict[str, Any]) -> str:
    kind = str(obj["kind"]).lower()
    name = str(obj["metadata"]["name"])
    if obj["kind"] == "Application" and name == ROOT:
        return f"root-{name}.yaml"
    if obj["kind"] == "Gateway":
        return f"gateway-{name}.yaml"
    if obj["kind"] == "Secret":
        return f"repository-{name}.yaml"
    if name.startswith(INSTALLER) or obj["kind"] == "Namespace":
        return f"installer-{kind}.yaml"
    return f"{kind}-{name}.yaml"


def plan_files(plan: Plan) -> list[tuple[str, dict[str, Any]]]:
    """``(file name, content)`` in apply order, ``kustomization.yaml`` last."""
    files: list[tuple[str, dict[str, Any]]] = []
    applied: list[str] = []
    for obj in plan.objects:
        name = _name(obj)
        files.append((name, obj))
        if obj["kind"] != "Gateway":
            applied.append(name)
    for app in plan.applications:
        files.append((f"application-{app['metadata']['name']}.yaml", app))
    files.append((KUSTOMIZATION, kustomization(applied)))
    return files
