"""Cluster → the cluster-wide objects its profile calls for.

For an OCI cluster (the RoCE v2 bare-metal profile):

- Kueue topology-aware scheduling: a ``Topology`` ``oci-rdma`` with the levels HPC island →
  network block → local block → host (the labels OKE sets from the RDMA topology data), one
  ``ResourceFlavor`` per GPU type of the cluster's table pointing at it (the shape's node labels
  and the GPU toleration), a ``cpu`` flavor without topology for CPU-only pods (the MPI launcher,
  the Ray head), and one ``ClusterQueue`` ``ironplane-gpu`` over all of them. Workspaces with GPUs
  and a ``queue`` get a ``LocalQueue`` of that name pointing at it (``kinds/workspace.py``).
  Quotas are effectively unlimited: Kueue orders jobs and places them on the topology; sharing
  GPUs between teams by quota is not expressed in the specs yet.
- The admission policy that keeps privileged RDMA pods in the namespaces of privileged
  workspaces (``policy.py``): a Kyverno ``ClusterPolicy`` when Kyverno is among the cluster's
  add-ons, else a ``ValidatingAdmissionPolicy`` and its binding (no add-on needed).

A generic cluster that lists the ``kueue`` add-on gets the flavors (without a topology) and the
ClusterQueue; otherwise nothing. The objects are computed from the Cluster spec whenever the
cluster's desired state is served; they are not stored.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ironplane.compiler.bootstrap import bootstrap_objects
from ironplane.compiler.context import ClusterProfile
from ironplane.compiler.gpus import AMD, NVIDIA
from ironplane.compiler.labels import KIND, MANAGED_BY, MANAGER
from ironplane.compiler.rdma import TOPOLOGY_LEVELS
from ironplane.spec.kinds import ClusterSpec

KUEUE = "kueue.x-k8s.io/v1beta2"
TOPOLOGY = "oci-rdma"
CLUSTER_QUEUE = "ironplane-gpu"
CPU_FLAVOR = "cpu"
LEVELS = (
    TOPOLOGY_LEVELS["hpc_island"],
    TOPOLOGY_LEVELS["network_block"],
    TOPOLOGY_LEVELS["local_block"],
    "kubernetes.io/hostname",
)
UNLIMITED = {"cpu": "100000", "memory": "1000Ti", NVIDIA: "100000", AMD: "100000"}
COVERED = ["cpu", "memory", NVIDIA, AMD]


def flavor_name(gpu_type: str, node_labels: dict[str, str], resource: str) -> str:
    """``gpu-<type>-<digest>``: DNS-safe whatever the GPU type is called, unique per type, and
    new whenever the type's node labels or resource change (Kueue makes a flavor's labels and
    tolerations immutable once it has a topology, so a changed flavor is replaced, not edited)."""
    slug = re.sub(r"[^a-z0-9]+", "-", gpu_type.lower()).strip("-")[:40] or "gpu"
    digest = hashlib.sha256(
        json.dumps([gpu_type, sorted(node_labels.items()), resource]).encode()
    ).hexdigest()[:6]
    return f"gpu-{slug}-{digest}"


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "labels": {MANAGED_BY: MANAGER, KIND: "cluster"}}


def kueue_objects(profile: ClusterProfile) -> list[dict[str, Any]]:
    topology = {
        "apiVersion": KUEUE,
        "kind": "Topology",
        "metadata": _meta(TOPOLOGY),
        "spec": {"levels": [{"nodeLabel": level} for level in LEVELS]},
    }
    # The CPU flavor first: Kueue tries flavors in order, and a GPU pod set moves past it (its
    # GPU quota is 0) while CPU-only pods (the MPI launcher) stay off the GPU flavors' nodes.
    flavors: list[dict[str, Any]] = [
        {"apiVersion": KUEUE, "kind": "ResourceFlavor", "metadata": _meta(CPU_FLAVOR), "spec": {}}
    ]
    for gpu_type, nodes in profile.gpu_types.items():
        labels = dict(nodes.node_selector)
        spec: dict[str, Any] = {
            "nodeLabels": labels,
            "tolerations": [{"key": nodes.resource, "operator": "Exists", "effect": "NoSchedule"}],
        }
        if profile.provider == "oci":
            spec["topologyName"] = TOPOLOGY
        flavors.append(
            {
                "apiVersion": KUEUE,
                "kind": "ResourceFlavor",
                "metadata": _meta(flavor_name(gpu_type, labels, nodes.resource)),
                "spec": spec,
            }
        )
    queue_flavors = []
    for flavor in flavors:
        tolerations = flavor["spec"].get("tolerations") or [{}]
        resource = tolerations[0].get("key")  # the flavor's GPU resource (None: the CPU flavor)
        queue_flavors.append(
            {
                "name": flavor["metadata"]["name"],
                "resources": [
                    {
                        "name": name,
                        "nominalQuota": UNLIMITED[name]
                        if name in ("cpu", "memory") or name == resource
                        else "0",
                    }
                    for name in COVERED
                ],
            }
        )
    queue = {
        "apiVersion": KUEUE,
        "kind": "ClusterQueue",
        "metadata": _meta(CLUSTER_QUEUE),
        "spec": {
            "namespaceSelector": {},
            "queueingStrategy": "BestEffortFIFO",
            "resourceGroups": [{"coveredResources": COVERED, "flavors": queue_flavors}],
        },
    }
    return [topology, *flavors, queue] if profile.provider == "oci" else [*flavors, queue]


def local_queue(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": KUEUE,
        "kind": "LocalQueue",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"clusterQueue": CLUSTER_QUEUE},
    }


def uses_kueue(profile: ClusterProfile) -> bool:
    return profile.provider == "oci" or "kueue" in profile.addons


def cluster_objects(profile: ClusterProfile) -> list[dict[str, Any]]:
    """The cluster-wide objects of a cluster's profile: Kueue's where it runs Kueue (OCI, or the
    kueue add-on; the Topology only on OCI), the admission policy on OCI."""
    kueue = kueue_objects(profile) if uses_kueue(profile) else []
    if profile.provider != "oci":
        return _owned(kueue)
    from ironplane.compiler.policy import SYSTEM_NAMESPACES, admission_policies, kyverno_policy

    # The NVIDIA GPU operator runs privileged DaemonSets in its own namespace (and a
    # bootstrap-installed Prometheus stack its node exporter on the host network).
    exempt = SYSTEM_NAMESPACES + profile.privileged_namespaces
    if "kyverno" in profile.addons:
        policy = [kyverno_policy(exempt_namespaces=exempt)]
    else:
        policy = admission_policies(exempt_namespaces=exempt)
    return _owned([*kueue, *policy])


def spec_objects(spec: ClusterSpec) -> list[dict[str, Any]]:
    """Everything a Cluster spec puts into its cluster's desired state: its profile's objects
    and, with a ``bootstrap`` section, the add-on stack (``compiler/bootstrap``)."""
    return [*cluster_objects(ClusterProfile.from_spec(spec)), *bootstrap_objects(spec)]


def _owned(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for obj in objects:  # cluster-wide: owned by Ironplane (pruned when gone), by no app
        obj["metadata"].setdefault("labels", {}).update({MANAGED_BY: MANAGER, KIND: "cluster"})
    return objects
