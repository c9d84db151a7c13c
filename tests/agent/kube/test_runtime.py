"""KubeRuntime's inventory, logs and restart over real HTTP (the GPUs in use: test_gpu_pods)."""

from __future__ import annotations

import pytest

from ironplane.agent.kube import KubeApi, KubeRuntime, ResourceType
from ironplane.core.errors import NotFoundError
from ironplane.wire.agent_protocol import NodeInfo
from tests.agent.kube import objects as o
from tests.agent.kube.conftest import Cluster, eventually

pytestmark = pytest.mark.anyio

DEPLOY = ResourceType.of("apps/v1", "Deployment")
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
RDMA = {
    "node.kubernetes.io/instance-type": "BM.GPU.H100.8",
    "oci.oraclecloud.com/rdma.host_id": "a1b2c3",
    "oci.oraclecloud.com/rdma.network_block_id": "nb-7",
    "oci.oraclecloud.com/rdma.local_block_id": "lb-3",
}


async def test_inventory_lists_nodes_with_labels_and_gpus(
    cluster: Cluster, runtime: KubeRuntime
) -> None:
    fake = cluster.need_fake()
    fake.add_node("gpu-1", labels=RDMA, gpus=8)
    fake.add_node("gpu-2", labels={"kubernetes.io/arch": "amd64"}, gpus=4, ready=False)
    fake.add_node("mi300", gpus=8, gpu_resource="amd.com/gpu")
    fake.add_node("cpu-1", labels={"kubernetes.io/os": "linux"})

    async def four() -> list[NodeInfo]:
        nodes = await runtime.inventory()
        return nodes if len(nodes) == 4 else []

    nodes = {n.name: n for n in await eventually(four)}
    assert nodes["gpu-1"] == NodeInfo(
        name="gpu-1", labels=RDMA, ready=True, allocatable_gpus=8, gpu_resource="nvidia.com/gpu"
    )
    assert (nodes["gpu-2"].ready, nodes["gpu-2"].allocatable_gpus) == (False, 4)
    assert (nodes["mi300"].allocatable_gpus, nodes["mi300"].gpu_resource) == (8, "amd.com/gpu")
    assert (nodes["cpu-1"].allocatable_gpus, nodes["cpu-1"].gpu_resource) == (0, None)

    runtime.changed.clear()
    fake.add_node("gpu-2", labels={"kubernetes.io/arch": "amd64"}, gpus=4, ready=True)
    await eventually(runtime.changed.is_set)


async def test_inventory_on_any_cluster(runtime: KubeRuntime) -> None:
    """Against the fake: no nodes; against a real cluster: every node, named."""
    nodes = await runtime.inventory()
    assert all(node.name for node in nodes)
    assert nodes == sorted(nodes, key=lambda n: n.name)


async def test_logs_of_one_pod(cluster: Cluster, runtime: KubeRuntime) -> None:
    fake = cluster.need_fake()
    ws = cluster.namespace()
    fake.add_pod(ws, "web-1", labels=o.pod_labels(ws, "web"), containers=["main", "proxy"])
    fake.set_logs(ws, "web-1", "one\ntwo\nthree", container="main")
    fake.set_logs(ws, "web-1", "proxy noise", container="proxy")

    assert await runtime.logs(ws, "web", 2) == ["two", "three"]
    assert await runtime.logs(ws, "web", 100) == ["one", "two", "three"]
    assert await runtime.logs(ws, "web", 0) == []


async def test_logs_of_several_pods_interleave_by_time_with_prefixes(
    cluster: Cluster, runtime: KubeRuntime
) -> None:
    fake = cluster.need_fake()
    ws = cluster.namespace()
    for pod in ("web-b", "web-a"):
        fake.add_pod(ws, pod, labels=o.pod_labels(ws, "web"))
    fake.set_logs(ws, "web-a", "a1")
    fake.set_logs(ws, "web-b", "b1\nb2")
    fake.set_logs(ws, "web-a", "a1\na2")  # later lines
    fake.add_pod(ws, "other-1", labels=o.pod_labels(ws, "other"))
    fake.set_logs(ws, "other-1", "not this app")

    assert await runtime.logs(ws, "web", 10) == [
        "[web-b] b1",
        "[web-b] b2",
        "[web-a] a1",
        "[web-a] a2",
    ]
    assert await runtime.logs(ws, "web", 3) == ["[web-b] b2", "[web-a] a1", "[web-a] a2"]


async def test_logs_say_why_a_pod_has_none(cluster: Cluster, runtime: KubeRuntime) -> None:
    fake = cluster.need_fake()
    ws = cluster.namespace()
    fake.add_pod(ws, "web-1", labels=o.pod_labels(ws, "web"))
    fake.add_pod(ws, "web-2", labels=o.pod_labels(ws, "web"))
    fake.set_logs(ws, "web-1", "hello")
    fake.fail_next(
        "log",
        name="web-2",
        code=400,
        reason="BadRequest",
        message='container "main" in pod "web-2" is waiting to start: ContainerCreating',
    )
    assert await runtime.logs(ws, "web", 10) == [
        '[web-2] (no logs: container "main" in pod "web-2" is waiting to start: ContainerCreating)',
        "[web-1] hello",
    ]


async def test_logs_of_an_unknown_app(cluster: Cluster, runtime: KubeRuntime) -> None:
    with pytest.raises(NotFoundError, match="no pods"):
        await runtime.logs(cluster.namespace(), "nope", 10)


async def test_restart_annotates_the_pod_template_and_survives_converge(
    cluster: Cluster, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    desired = [o.namespace(ws), *o.app_objects(ws, "web")]
    await runtime.converge(desired)
    before = await api.get(DEPLOY, "web", ws)
    assert before is not None

    await runtime.restart(ws, "web")

    after = await api.get(DEPLOY, "web", ws)
    assert after is not None
    stamp = after["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert stamp.endswith("Z") and "T" in stamp
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    # The annotation belongs to the restart, not to the desired state: a converge keeps it.
    await runtime.converge(desired)
    again = await api.get(DEPLOY, "web", ws)
    assert again is not None
    assert again["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] == stamp
    managers = {(m["manager"], m["operation"]) for m in again["metadata"]["managedFields"]}
    assert {("ironplane-agent", "Apply"), ("ironplane-agent-restart", "Update")} <= managers


async def test_restart_of_an_app_without_a_deployment(
    cluster: Cluster, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.pvc(ws, "data")])
    with pytest.raises(NotFoundError, match="no Deployment"):
        await runtime.restart(ws, "data")
    with pytest.raises(NotFoundError):
        await runtime.restart(ws, "nope")


async def test_restart_refused_is_a_runtime_error(cluster: Cluster, runtime: KubeRuntime) -> None:
    fake = cluster.need_fake()
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.deployment(ws, "web")])
    fake.fail_next("patch", kind="Deployment", code=403, reason="Forbidden", message="no patch")
    with pytest.raises(Exception, match=rf"cannot restart Deployment {ws}/web: 403 Forbidden"):
        await runtime.restart(ws, "web")
