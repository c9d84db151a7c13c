"""Workspace → Namespace (Pod Security Admission labels) and its workload ServiceAccount; with
GPUs and a ``queue`` on a cluster that runs Kueue, the LocalQueue of that name.

Privileged workspaces are labelled ``ironplane.dev/rdma: "true"``: the cluster's admission policy
(``compiler/policy.py``) allows host networking, privileged containers, added capabilities and
``/dev/infiniband`` only in namespaces with that label."""

from __future__ import annotations

from ironplane.compiler.cluster import local_queue, uses_kueue
from ironplane.compiler.core import Build
from ironplane.compiler.labels import metadata, owned
from ironplane.compiler.pods import WORKLOAD_SA
from ironplane.compiler.policy import RDMA_NAMESPACE_LABEL
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
    if spec.privileged:
        ns_labels[RDMA_NAMESPACE_LABEL] = "true"
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
    if spec.gpu and spec.queue and uses_kueue(build.ctx.cluster):
        build.objects.add(local_queue(spec.queue, spec.namespace, labels))
