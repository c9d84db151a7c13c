"""Which app a pod or a Service belongs to, from the ownership labels.

Every object the compiler emits carries ``ironplane.dev/workspace`` and ``ironplane.dev/app``
(``agent/runtime.py``), pods included (their template's labels). So:

- a **pod** (DCGM exporter's ``pod``/``namespace`` labels) belongs to the app its labels name,
  when the runtime watches pods (the Kubernetes runtime holds Ironplane's pods); a pod not known
  there is matched by name against the desired workloads: ``<deployment>-<hash>-<id>``,
  ``<statefulset>-<ordinal>``, ``<job>-<id>``;
- a **Service** (Istio's ``destination_service_name``/``destination_service_namespace``) belongs
  to the app of the desired Service of that name: the app's own, its ``-canary`` or ``-preview``.

Anything else (pods of other tenants on a shared GPU node, Services Ironplane does not own) has
no app and only counts in the node's totals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ironplane.agent.runtime import AppKey, labelled_app
from ironplane.wire.agent_protocol import Object

WORKLOADS = frozenset(
    {"Deployment", "StatefulSet", "Job", "CronJob", "Rollout", "LeaderWorkerSet", "RayService"}
)


def _owner(obj: Object) -> tuple[str | None, str | None, AppKey | None]:
    """Namespace, name and the (workspace, app) its labels name (not its namespace's)."""
    meta = obj.get("metadata") or {}
    return meta.get("namespace"), meta.get("name"), labelled_app(obj)


class Owners:
    """Built from the desired state; ``pods`` returns the runtime's watched pods (or none)."""

    def __init__(
        self,
        desired: Iterable[Object],
        pods: Callable[[], Iterable[Object]] | None = None,
    ) -> None:
        self.services: dict[tuple[str, str], AppKey] = {}
        self.workloads: dict[tuple[str, str], AppKey] = {}
        for obj in desired:
            namespace, name, key = _owner(obj)
            if key is None or not namespace or not name:
                continue
            if obj.get("kind") == "Service":
                self.services[(namespace, name)] = key
            elif obj.get("kind") in WORKLOADS:
                self.workloads[(namespace, name)] = key
        self.pods: dict[tuple[str, str], AppKey] = {}
        for pod in pods() if pods is not None else ():
            namespace, name, key = _owner(pod)
            if key is not None and namespace and name:
                self.pods[(namespace, name)] = key

    def of_pod(self, namespace: str, pod: str) -> AppKey | None:
        found = self.pods.get((namespace, pod))
        if found is not None:
            return found
        parts = pod.split("-")
        for cut in (2, 1):  # <deployment>-<rs hash>-<id>, then <statefulset|job>-<suffix>
            if len(parts) > cut:
                found = self.workloads.get((namespace, "-".join(parts[:-cut])))
                if found is not None:
                    return found
        return None

    def of_service(self, namespace: str, service: str) -> AppKey | None:
        return self.services.get((namespace, service))
