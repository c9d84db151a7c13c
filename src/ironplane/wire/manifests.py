"""The manifest bundle: the compiler's output, the store's unit of versioning, the agent's input.

A bundle is a list of Kubernetes objects in canonical order (dependencies first) plus a content
hash over their canonical JSON, so two bundles are equal exactly when their hashes are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

Object = dict[str, Any]

# Objects that others depend on go first. Later parts add their kinds here (CRD-typed objects
# after the namespaces and accounts they live in, before the workloads that reference them).
KIND_RANK: Mapping[str, int] = {
    "Namespace": 0,
    "CustomResourceDefinition": 1,
    "PriorityClass": 2,
    "StorageClass": 3,
    "ClusterRole": 4,
    "ServiceAccount": 10,
    "Role": 11,
    "RoleBinding": 12,
    "ClusterRoleBinding": 12,
    "Secret": 13,
    "ConfigMap": 14,
    "PersistentVolume": 15,
    "PersistentVolumeClaim": 16,
    "TrainingRuntime": 17,  # before the TrainJob that refers to it
    "Service": 20,
    "Deployment": 30,
    "StatefulSet": 31,
    "DaemonSet": 32,
    "Job": 33,
    "CronJob": 34,
}
_UNRANKED = 50

_json = msgspec.json.Encoder(order="sorted")


def object_key(obj: Mapping[str, Any]) -> tuple[int, str, str, str, str]:
    meta = obj.get("metadata", {})
    kind = str(obj.get("kind", ""))
    return (
        KIND_RANK.get(kind, _UNRANKED),
        str(obj.get("apiVersion", "")),
        kind,
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )


def identity(obj: Mapping[str, Any]) -> str:
    """``apiVersion/kind/namespace/name``: what the API server treats as the same object."""
    _, api_version, kind, namespace, name = object_key(obj)
    return f"{api_version}/{kind}/{namespace or '-'}/{name}"


def content_hash(objects: Iterable[Mapping[str, Any]]) -> str:
    digest = hashlib.sha256()
    for obj in objects:
        digest.update(_json.encode(obj))
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


class ManifestBundle(msgspec.Struct, frozen=True, kw_only=True):
    """Objects in canonical order with their content hash."""

    objects: list[Object]
    hash: str

    @classmethod
    def of(cls, objects: Iterable[Object]) -> ManifestBundle:
        ordered = sorted(objects, key=object_key)
        return cls(objects=ordered, hash=content_hash(ordered))

    def __len__(self) -> int:
        return len(self.objects)


ANALYSIS_RUN_KIND = "analysis-run"
"""The ``ironplane.dev/kind`` label Argo Rollouts puts on an app's AnalysisRuns (the compiler
sets it in ``analysisRunMetadata``); the agent watches AnalysisRuns by it."""
