"""Cluster → its cluster-wide objects: Kueue topology-aware scheduling and the admission policy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ironplane.compiler.cluster import CLUSTER_QUEUE, LEVELS, TOPOLOGY
from tests.compiler.helpers import OCI, compile_text

Validate = Callable[[Sequence[dict[str, Any]]], None]

GENERIC = "kind: Cluster\nname: lab\nprovider: generic\n---\n"


def cluster_objects(platform: str = OCI) -> list[dict[str, Any]]:
    compiled = compile_text("", platform=platform)
    return [o for d, r in compiled.results if d.spec.kind == "Cluster" for o in r.bundle.objects]


def by_kind(objects: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_oci_cluster_gets_the_kueue_topology_flavors_and_queue(validated: Validate) -> None:
    objects = cluster_objects()
    validated(objects)
    [topology] = by_kind(objects, "Topology")
    assert topology["metadata"]["name"] == TOPOLOGY
    assert [lv["nodeLabel"] for lv in topology["spec"]["levels"]] == [
        "oci.oraclecloud.com/rdma.hpc_island_id",
        "oci.oraclecloud.com/rdma.network_block_id",
        "oci.oraclecloud.com/rdma.local_block_id",
        "kubernetes.io/hostname",
    ]
    assert tuple(lv["nodeLabel"] for lv in topology["spec"]["levels"]) == LEVELS
    flavors = {f["metadata"]["name"]: f["spec"] for f in by_kind(objects, "ResourceFlavor")}

    def flavor_of(shape: str) -> str:
        [name] = [
            n
            for n, f in flavors.items()
            if f.get("nodeLabels", {}).get("node.kubernetes.io/instance-type") == shape
        ]
        return name

    assert flavor_of("BM.GPU.H100.8").startswith("gpu-h100-")
    h100 = flavors[flavor_of("BM.GPU.H100.8")]
    assert h100["nodeLabels"] == {"node.kubernetes.io/instance-type": "BM.GPU.H100.8"}
    assert h100["topologyName"] == TOPOLOGY
    assert h100["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert flavors[flavor_of("BM.GPU.MI300X.8")]["tolerations"][0]["key"] == "amd.com/gpu"
    assert flavors["cpu"] == {}  # CPU-only pods (the MPI launcher) land anywhere
    [queue] = by_kind(objects, "ClusterQueue")
    assert queue["metadata"]["name"] == CLUSTER_QUEUE
    [group] = queue["spec"]["resourceGroups"]
    assert {f["name"] for f in group["flavors"]} == set(flavors)
    quotas = {
        f["name"]: {r["name"]: r["nominalQuota"] for r in f["resources"]} for f in group["flavors"]
    }
    assert quotas["cpu"]["nvidia.com/gpu"] == "0" and quotas["cpu"]["amd.com/gpu"] == "0"
    assert quotas[flavor_of("BM.GPU.H100.8")]["amd.com/gpu"] == "0"
    assert quotas[flavor_of("BM.GPU.H100.8")]["nvidia.com/gpu"] != "0"
    # CPU first: Kueue tries flavors in order; GPU pod sets skip it (no GPU quota there).
    assert group["flavors"][0]["name"] == "cpu"


def test_the_admission_policy_follows_the_addons(validated: Validate) -> None:
    plain = cluster_objects()
    assert by_kind(plain, "ValidatingAdmissionPolicy") and by_kind(
        plain, "ValidatingAdmissionPolicyBinding"
    )
    assert not by_kind(plain, "ClusterPolicy")
    with_kyverno = cluster_objects(
        OCI.replace("enhanced: true\n", "enhanced: true\naddons: [kyverno]\n", 1)
    )
    validated(with_kyverno)
    assert by_kind(with_kyverno, "ClusterPolicy")
    assert not by_kind(with_kyverno, "ValidatingAdmissionPolicy")


def test_a_generic_cluster_gets_nothing_yet() -> None:
    assert cluster_objects(GENERIC) == []


def test_a_generic_cluster_with_kueue_gets_flavors_and_the_queue_without_topology(
    validated: Validate,
) -> None:
    objects = cluster_objects(
        GENERIC.replace("provider: generic\n", "provider: generic\naddons: [kueue]\n")
    )
    validated(objects)
    assert {o["kind"] for o in objects} == {"ResourceFlavor", "ClusterQueue"}
    assert all("topologyName" not in f["spec"] for f in by_kind(objects, "ResourceFlavor"))


def test_flavor_names_are_safe_unique_and_follow_the_selector(validated: Validate) -> None:
    custom = OCI.replace(
        "enhanced: true\n",
        "enhanced: true\ngpu_types:\n  h100: {node_selector: {pool: a}}\n"
        '  "RTX 6000": {node_selector: {pool: b}}\n',
        1,
    )
    objects = cluster_objects(custom)
    validated(objects)
    names = [f["metadata"]["name"] for f in by_kind(objects, "ResourceFlavor")]
    assert len(names) == len(set(names))  # H100 and h100 do not collide
    assert any(n.startswith("gpu-rtx-6000-") for n in names)
    moved = cluster_objects(custom.replace("pool: b", "pool: c"))
    renamed = {f["metadata"]["name"] for f in by_kind(moved, "ResourceFlavor")} - set(names)
    assert len(renamed) == 1 and next(iter(renamed)).startswith("gpu-rtx-6000-")


def test_gpu_workspaces_with_a_queue_get_their_local_queue(validated: Validate) -> None:
    text = (
        "kind: Workspace\nname: team-q\ncluster: oke-prod\ngpu: true\nqueue: gpu-queue\n---\n"
        "kind: Workspace\nname: no-gpu\ncluster: oke-prod\nqueue: cpu-queue\n---\n"
    )
    compiled = compile_text(text)
    queues = by_kind(list(compiled.bundle.objects), "LocalQueue")
    assert [(q["metadata"]["namespace"], q["metadata"]["name"]) for q in queues] == [
        ("team-q", "gpu-queue")
    ]
    assert queues[0]["spec"] == {"clusterQueue": CLUSTER_QUEUE}
    validated(queues)


def test_privileged_workspaces_are_marked_for_the_policy() -> None:
    compiled = compile_text("")
    namespaces = {
        o["metadata"]["name"]: o["metadata"]["labels"]
        for o in compiled.bundle.objects
        if o["kind"] == "Namespace"
    }
    assert namespaces["training"]["ironplane.dev/rdma"] == "true"
    assert namespaces["training"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert "ironplane.dev/rdma" not in namespaces["prod"]
    assert namespaces["prod"]["pod-security.kubernetes.io/enforce"] == "restricted"
