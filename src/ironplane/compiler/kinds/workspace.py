"""Workspace → Namespace (Pod Security Admission labels) and its workload ServiceAccount."""

from __future__ import annotations

from ironplane.compiler.core import Build
from ironplane.compiler.labels import metadata, owned
from ironplane.compiler.pods import WORKLOAD_SA
from ironplane.spec.kinds import WorkspaceSpec

PSA = "pod-security.kubernetes.io/"


def compile_workspace(build: Build) -> None:
    spec = build.spec
    assert isinstance(spec, WorkspaceSpec)
    labels = owned(spec.name, spec.namespace, "workspace", build.version)
    level = "privileged" if spec.privileged else "restricted"
    ns_labels = {
        **labels,
        PSA + "enforce": level,
        PSA + "enforce-version": "latest",
        PSA + "audit": level,
        PSA + "warn": level,
        "ironplane.dev/gpu": "true" if spec.gpu else "false",
    }
    if spec.queue:
        ns_labels["ironplane.dev/queue"] = spec.queue
    build.objects.add(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": metadata(spec.namespace, labels=ns_labels),
        }
    )
    build.objects.add(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(WORKLOAD_SA, namespace=spec.namespace, labels=labels),
            "automountServiceAccountToken": False,
        }
    )
