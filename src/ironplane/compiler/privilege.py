"""What in compiled objects only a privileged workspace admits.

A workspace without ``privileged: true`` is labelled ``pod-security.kubernetes.io/enforce:
restricted`` and is outside the admission policy's RDMA namespaces (``compiler/policy.py``). The
compiler only emits the fields below where the workspace is privileged (RDMA, ``block://``
weights, the node-shared weights cache), so manifests compiled for a privileged workspace can
carry them; restored or kept in a workspace that is no longer privileged, their pods would be
refused. This finds them in any object with a pod spec (Deployments, training-operator jobs, a
TrainJob's runtime...), wherever the spec sits: a mapping with a ``containers`` list is a pod
spec.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

PodSpec = Mapping[str, Any]


def _pod_specs(value: Any) -> Iterator[PodSpec]:
    if isinstance(value, Mapping):
        if isinstance(value.get("containers"), list):
            yield value
            return
        for item in value.values():
            yield from _pod_specs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _pod_specs(item)


def _root(context: Mapping[str, Any]) -> bool:
    return context.get("runAsUser") == 0 or context.get("runAsNonRoot") is False


def _uses(pod: PodSpec) -> Iterator[str]:
    if pod.get("hostNetwork"):
        yield "the host network"
    for volume in pod.get("volumes") or []:
        if "hostPath" in volume:
            yield f"the host path {volume['hostPath'].get('path')} (volume {volume.get('name')})"
    if _root(pod.get("securityContext") or {}):
        yield "root (the pod's securityContext)"
    for group in ("initContainers", "containers"):
        for container in pod.get(group) or []:
            name, context = container.get("name"), container.get("securityContext") or {}
            if context.get("privileged"):
                yield f"a privileged container ({name})"
            if (context.get("capabilities") or {}).get("add"):
                yield f"added capabilities ({name})"
            if _root(context):
                yield f"root ({name})"


def privileged_uses(objects: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each use, as ``Kind name: what``, in object order (empty when a restricted workspace
    admits every pod of ``objects``)."""
    found: list[str] = []
    for obj in objects:
        ref = f"{obj.get('kind')} {(obj.get('metadata') or {}).get('name')}"
        for pod in _pod_specs(obj.get("spec")):
            found.extend(f"{ref}: {use}" for use in _uses(pod) if f"{ref}: {use}" not in found)
    return found
