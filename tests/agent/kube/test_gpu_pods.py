"""The GPUs in use on each node, as the inventory reports them: counted from every pod bound to a
node, whoever made it, through a watch of all pods that keeps only a small record of the pods
asking for GPUs (``KubeRuntime.gpu_pods``, ``status.gpu_usage``)."""

from __future__ import annotations

from typing import Any

import pytest
from lightkube.core.selector import build_selector

from ironplane.agent.kube import KubeApi, KubeRuntime, ResourceType
from ironplane.agent.kube.runtime import HOLDING_A_NODE
from ironplane.agent.kube.status import gpu_usage, gpus_on_nodes, pod_gpus
from ironplane.agent.kube.watching import Informer
from ironplane.wire.agent_protocol import Object
from tests.agent.kube import objects as o
from tests.agent.kube.conftest import Cluster, eventually

PODS = ResourceType.of("v1", "Pod")
HELD = "spec.nodeName!=,status.phase!=Failed,status.phase!=Succeeded"
RECORD_KEYS = {"metadata", "node", "phase", "gpus"}


def container(name: str, gpus: int = 0, *, limits: bool = False) -> Object:
    resources: Object = {"requests": {"cpu": "1"}}
    if gpus:
        resources = {"limits" if limits else "requests": {"nvidia.com/gpu": str(gpus)}}
    return {"name": name, "image": "x", "resources": resources}


def pod(
    namespace: str,
    name: str,
    *,
    node: str | None,
    gpus: int,
    phase: str = "Running",
    labels: dict[str, str] | None = None,
    init_gpus: int = 0,
) -> Object:
    """A pod whose ``main`` container asks for ``gpus`` (as a limit: requests default to it),
    with a CPU-only sidecar; ``init_gpus``: an init container asking for that many."""
    spec: Object = {"containers": [container("main", gpus, limits=True), container("side")]}
    if init_gpus:
        spec["initContainers"] = [container("init", init_gpus)]
    if node is not None:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": spec,
        "status": {"phase": phase},
    }


# --- the accounting, on plain pods ---------------------------------------------------------


def test_the_effective_request_is_the_containers_or_the_largest_init_container() -> None:
    assert pod_gpus(pod("ns", "p", node="n", gpus=2)) == 2
    assert pod_gpus(pod("ns", "p", node="n", gpus=2, init_gpus=4)) == 4
    assert pod_gpus(pod("ns", "p", node="n", gpus=4, init_gpus=1)) == 4
    both = pod("ns", "p", node="n", gpus=1)
    both["spec"]["containers"][1] = container("side", 2)  # containers run together: 1 + 2
    assert pod_gpus(both) == 3
    amd = pod("ns", "p", node="n", gpus=0)
    amd["spec"]["containers"][0]["resources"] = {"limits": {"amd.com/gpu": "8"}}
    assert pod_gpus(amd) == 8
    assert pod_gpus({"metadata": {"name": "bare"}}) == 0


def test_gpu_usage_keeps_a_small_record_of_the_pods_holding_gpus_only() -> None:
    running = pod("other", "f", node="gpu-1", gpus=4, labels={"app": "x"})
    running["metadata"]["resourceVersion"] = "7"
    running["metadata"]["managedFields"] = [{"manager": "kubelet"}]
    assert gpu_usage(running) == {
        "metadata": {"name": "f", "namespace": "other", "resourceVersion": "7"},
        "node": "gpu-1",
        "phase": "Running",
        "gpus": 4,
    }
    assert gpu_usage(pod("ns", "p", node=None, gpus=4, phase="Pending")) is None  # unscheduled
    assert gpu_usage(pod("ns", "p", node="gpu-1", gpus=4, phase="Succeeded")) is None
    assert gpu_usage(pod("ns", "p", node="gpu-1", gpus=4, phase="Failed")) is None
    assert gpu_usage(pod("ns", "p", node="gpu-1", gpus=0)) is None  # no GPU asked for
    # Bound but not started yet: its GPUs are reserved already.
    assert gpu_usage(pod("ns", "p", node="gpu-1", gpus=2, phase="Pending")) is not None


def test_gpus_on_nodes_sums_the_records_of_unfinished_bound_pods() -> None:
    pods = [
        pod("a", "1", node="gpu-1", gpus=4),
        pod("a", "2", node="gpu-1", gpus=2, init_gpus=3),
        pod("b", "3", node="gpu-2", gpus=8),
        pod("b", "4", node="gpu-2", gpus=8, phase="Succeeded"),
        pod("b", "5", node=None, gpus=8, phase="Pending"),
        pod("b", "6", node="gpu-2", gpus=0),
    ]
    records = [r for p in pods if (r := gpu_usage(p))]
    assert gpus_on_nodes(records) == {"gpu-1": 7, "gpu-2": 8}


# --- the runtime, over HTTP ----------------------------------------------------------------


def used_by_node(nodes: list[Any]) -> dict[str, int]:
    return {n.name: n.used_gpus for n in nodes}


@pytest.mark.anyio
async def test_inventory_counts_the_gpus_of_every_pod_bound_to_a_node(
    cluster: Cluster, runtime: KubeRuntime
) -> None:
    fake = cluster.need_fake()
    ws, other = cluster.namespace(), cluster.namespace("other")
    fake.add_node("gpu-1", gpus=8)
    fake.add_node("gpu-2", gpus=8)
    fake.add_node("cpu-1")
    fake.put(pod(ws, "ours", node="gpu-1", gpus=2, labels=o.pod_labels(ws, "train")))
    fake.put(pod(other, "foreign", node="gpu-1", gpus=4))  # unlabelled, another namespace
    fake.put(pod(other, "done", node="gpu-1", gpus=8, phase="Succeeded"))
    fake.put(pod(other, "failed", node="gpu-2", gpus=8, phase="Failed"))
    fake.put(pod(other, "unscheduled", node=None, gpus=8, phase="Pending"))
    fake.put(pod(other, "init", node="gpu-2", gpus=1, init_gpus=3))  # init: 3 > 1
    for n in range(3):
        fake.put(pod(other, f"cpu-{n}", node="cpu-1", gpus=0))  # no GPU: never stored
        fake.put(pod(other, f"web-{n}", node="gpu-2", gpus=0))

    expected = {"gpu-1": 6, "gpu-2": 3, "cpu-1": 0}

    async def used() -> dict[str, int]:
        found = used_by_node(await runtime.inventory())
        return found if found == expected else {}

    assert await eventually(used, what="the GPUs in use") == expected

    # Only the GPU pods, and of each only its record.
    records = runtime.gpu_pods.objects
    assert set(records) == {(ws, "ours"), (other, "foreign"), (other, "init")}
    assert all(set(r) == RECORD_KEYS for r in records.values())
    # The owned-pods watch, whole pods, for statuses: still Ironplane's pods only.
    assert {p["metadata"]["name"] for p in runtime.informers["Pod"].values()} == {"ours"}
    # The API server was asked for the bound, unfinished pods of every namespace.
    gpu_calls = [c for c in fake.calls if c.plural == "pods" and "fieldSelector" in c.query]
    assert {c.verb for c in gpu_calls} == {"list", "watch"}
    assert all(c.query["fieldSelector"] == HELD for c in gpu_calls)
    assert all(c.namespace is None and "labelSelector" not in c.query for c in gpu_calls)


@pytest.mark.anyio
async def test_the_count_follows_the_watch(cluster: Cluster, runtime: KubeRuntime) -> None:
    fake = cluster.need_fake()
    other = cluster.namespace("other")
    fake.add_node("gpu-1", gpus=8)
    fake.put(pod(other, "queued", node=None, gpus=4, phase="Pending"))

    async def used_is(count: int) -> bool:
        return used_by_node(await runtime.inventory()) == {"gpu-1": count}

    await eventually(lambda: used_is(0), what="nothing in use")
    fake.put(pod(other, "queued", node="gpu-1", gpus=4, phase="Pending"))  # bound
    await eventually(lambda: used_is(4), what="the bound pod counted")
    fake.put(pod(other, "other", node="gpu-1", gpus=2))
    await eventually(lambda: used_is(6), what="a second pod counted")

    # GPU usage feeds only the inventory (sent on its own timer): no change of it wakes the
    # status report.
    await eventually(lambda: (other, "other") in runtime.gpu_pods.objects)
    runtime.changed.clear()
    status = {"phase": "Running", "containerStatuses": [{"name": "main", "restartCount": 1}]}
    version = fake.set_status("Pod", other, "other", status)["metadata"]["resourceVersion"]

    def seen() -> bool:
        record = runtime.gpu_pods.objects.get((other, "other")) or {}
        return (record.get("metadata") or {}).get("resourceVersion") == version

    await eventually(seen, what="the status update")
    assert not runtime.changed.is_set()

    fake.set_status("Pod", other, "queued", {"phase": "Succeeded"})  # leaves the selection
    await eventually(lambda: used_is(2), what="the finished pod no longer counted")
    assert not runtime.changed.is_set()
    fake.remove("Pod", other, "other")
    await eventually(lambda: used_is(0), what="the deleted pod no longer counted")
    assert runtime.gpu_pods.objects == {}


@pytest.mark.anyio
async def test_inventory_before_the_watch_has_listed_lists_once(cluster: Cluster) -> None:
    """Asked before its watches have listed, the runtime lists the pods itself, through the
    same selector and record, rather than report every GPU free."""
    fake = cluster.need_fake()
    other = cluster.namespace("other")
    fake.add_node("gpu-1", gpus=8)
    fake.put(pod(other, "foreign", node="gpu-1", gpus=4))
    fake.put(pod(other, "done", node="gpu-1", gpus=4, phase="Failed"))
    runtime = KubeRuntime(cluster.client())  # not started
    try:
        assert used_by_node(await runtime.inventory()) == {"gpu-1": 4}
        [listed] = [c for c in fake.calls if c.verb == "list" and c.plural == "pods"]
        assert (listed.query["fieldSelector"], listed.query["limit"]) == (HELD, "500")
        fake.fail_next("list", kind="Pod", code=403, reason="Forbidden", message="no pods")
        with pytest.raises(Exception, match=r"cannot list Pod \*: 403 Forbidden: no pods"):
            await runtime.inventory()
    finally:
        await runtime.close()


@pytest.mark.anyio
async def test_an_informer_transform_drops_what_it_does_not_keep(
    cluster: Cluster, api: KubeApi
) -> None:
    """Without a server-side selector (the transform alone): a pod that stops holding GPUs is
    reported deleted and forgotten; pods without GPUs are never kept nor reported."""
    fake = cluster.need_fake()
    ns = cluster.namespace()
    fake.put(pod(ns, "gpu", node="gpu-1", gpus=2))
    fake.put(pod(ns, "cpu", node="gpu-1", gpus=0))
    changes: list[tuple[str | None, str | None]] = []

    def on_change(old: Object | None, new: Object | None) -> None:
        assert all(set(r) == RECORD_KEYS for r in (old, new) if r is not None)
        name = ((new or old or {}).get("metadata") or {}).get("name")
        changes.append((name if old else None, name if new else None))

    informer = Informer(api, PODS, transform=gpu_usage, on_change=on_change, resync_s=30.0)
    informer.start()
    try:
        await eventually(informer.synced.is_set)
        assert changes == [(None, "gpu")] and set(informer.objects) == {(ns, "gpu")}
        fake.put(pod(ns, "cpu-2", node="gpu-1", gpus=0))
        fake.set_status("Pod", ns, "gpu", {"phase": "Succeeded"})  # MODIFIED, dropped
        await eventually(lambda: not informer.objects, what="the finished pod dropped")
        assert changes == [(None, "gpu"), ("gpu", None)]
    finally:
        await informer.stop()


def test_the_selector_is_the_one_pods_support() -> None:
    assert build_selector(dict(HOLDING_A_NODE), for_fields=True) == HELD


@pytest.mark.anyio
async def test_the_list_of_every_pod_is_read_in_pages(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of GPU_LIST_CHUNK (lightkube follows the continue tokens): every GPU pod counted,
    the CPU-only ones of every page dropped."""
    from ironplane.agent.kube import runtime as runtime_module

    monkeypatch.setattr(runtime_module, "GPU_LIST_CHUNK", 2)
    fake = cluster.need_fake()
    other = cluster.namespace("other")
    fake.add_node("gpu-1", gpus=8)
    for n in range(5):
        fake.put(pod(other, f"p{n}", node="gpu-1", gpus=1))
        fake.put(pod(other, f"cpu{n}", node="gpu-1", gpus=0))
    rt = KubeRuntime(cluster.client())
    await rt.start()
    try:
        assert await eventually(rt.gpu_pods.synced.is_set, what="the first list")
        assert used_by_node(await rt.inventory()) == {"gpu-1": 5}
        pages = [
            c
            for c in fake.calls
            if c.verb == "list" and c.plural == "pods" and "fieldSelector" in c.query
        ]
        assert [c.query.get("limit") for c in pages] == ["2"] * 5  # 10 pods, 2 a page
        assert "continue" not in pages[0].query
        assert all("continue" in c.query for c in pages[1:])
        assert set(rt.gpu_pods.objects) == {(other, f"p{n}") for n in range(5)}
    finally:
        await rt.close()
