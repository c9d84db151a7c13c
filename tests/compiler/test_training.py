"""TrainingJob → MPIJob, PyTorchJob, TrainJob or RayJob: suspended, queued, RDMA, topology."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ironplane.cli.output import yaml_stream
from ironplane.compiler.pods import secret_name
from ironplane.compiler.rdma import SHAPES, TOPOLOGY_LEVELS
from tests.compiler.helpers import compile_text
from tests.conftest import REPO

Validate = Callable[[Sequence[dict[str, Any]]], None]
GOLDEN = REPO / "tests" / "golden" / "training"

VOLUMES = """\
kind: Volume
name: ckpt
workspace: training
type: fss
size: 1Ti
---
kind: Volume
name: weights
workspace: training
type: fss
size: 1Ti
---
kind: Volume
name: data
workspace: training
type: fss
size: 1Ti
---
kind: Workspace
name: queued
cluster: oke-prod
gpu: true
privileged: true
queue: ws-queue
---
"""

KINDS = {"mpi": "MPIJob", "pytorch": "PyTorchJob", "trainer": "TrainJob", "ray": "RayJob"}
API = {
    "mpi": "kubeflow.org/v2beta1",
    "pytorch": "kubeflow.org/v1",
    "trainer": "trainer.kubeflow.org/v1alpha1",
    "ray": "ray.io/v1",
}


def training(
    name: str,
    framework: str,
    *,
    nodes: int = 2,
    rdma: bool = False,
    gpu: str = "H100",
    extra: str = "",
    workspace: str = "training",
) -> str:
    return (
        f"kind: TrainingJob\nname: {name}\nworkspace: {workspace}\nframework: {framework}\n"
        "image: registry.example.com/train:1\ncommand: [torchrun, train.py]\nargs: [--lr, '1e-4']\n"
        f"nodes: {nodes}\nresources: {{gpu: {{count: 8, type: {gpu}}}, cpu: 100, memory: 1800Gi}}\n"
        f"network: {{rdma: {str(rdma).lower()}}}\nqueue: gpu-queue\n{extra}---\n"
    )


RUNTIMES: dict[int, dict[str, Any]] = {}
"""The TrainingRuntime compiled with each TrainJob, by the TrainJob object's id (written when
the job is compiled, so a live job always finds its own): a TrainJob's node pods are there."""


def compile_one(text: str) -> tuple[dict[str, Any], list[str]]:
    """The one training object of ``text`` and the warnings (a TrainJob's runtime is kept in
    ``RUNTIMES`` for ``node_templates``)."""
    compiled = compile_text(VOLUMES + text)
    objects = [
        o for d, r in compiled.results if d.spec.kind == "TrainingJob" for o in r.bundle.objects
    ]
    jobs = [o for o in objects if o["kind"] in KINDS.values()]
    assert len(jobs) == 1, objects
    [job] = jobs
    if job["kind"] == "TrainJob":
        [runtime] = [o for o in objects if o["kind"] == "TrainingRuntime"]
        RUNTIMES[id(job)] = runtime
    assert len(objects) == (2 if job["kind"] == "TrainJob" else 1), objects
    return job, [w.message for w in compiled.warnings]


def runtime_of(job: dict[str, Any]) -> dict[str, Any]:
    runtime = RUNTIMES[id(job)]
    assert runtime["metadata"]["name"] == job["spec"]["runtimeRef"]["name"]
    return runtime


def node_templates(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod templates of the training nodes (not the MPI launcher or the Ray head)."""
    spec = obj["spec"]
    if obj["kind"] == "MPIJob":
        return [spec["mpiReplicaSpecs"]["Worker"]["template"]]
    if obj["kind"] == "PyTorchJob":
        return [r["template"] for r in spec["pytorchReplicaSpecs"].values()]
    if obj["kind"] == "RayJob":
        return [g["template"] for g in spec["rayClusterSpec"]["workerGroupSpecs"]]
    job_set = runtime_of(obj)["spec"]["template"]["spec"]
    return [job["template"]["spec"]["template"] for job in job_set["replicatedJobs"]]


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def is_suspended(obj: dict[str, Any]) -> bool:
    spec = obj["spec"]
    return bool(spec.get("suspend") or spec.get("runPolicy", {}).get("suspend"))


TOPOLOGIES = {
    "none": "",
    "required": "topology: {within: local_block, mode: required}\n",
    "preferred": "topology: {within: hpc_island}\n",
}


def test_every_framework_rdma_and_topology_validates(validated: Validate) -> None:
    text = ""
    names = {}
    for framework in KINDS:
        for rdma in (False, True):
            for topo, extra in TOPOLOGIES.items():
                name = f"{framework}-{'rdma' if rdma else 'tcp'}-{topo}"
                names[name] = (framework, rdma, topo)
                text += training(
                    name,
                    framework,
                    rdma=rdma,
                    extra=extra + "shm: 32Gi\ncheckpoints: {volume: ckpt}\n"
                    "weights: {source: fss://weights/llama}\nretries: 2\ntimeout: 2h\n"
                    "mounts: [{volume: data, path: /data}]\n",
                )
    compiled = compile_text(VOLUMES + text)
    bundle = [
        o for d, r in compiled.results if d.spec.kind == "TrainingJob" for o in r.bundle.objects
    ]
    objects = {o["metadata"]["name"]: o for o in bundle if o["kind"] in KINDS.values()}
    assert set(objects) == set(names)
    validated(bundle)
    for name, (framework, _rdma, topo) in names.items():
        obj = objects[name]
        if framework == "trainer":
            [runtime] = [
                o
                for o in bundle
                if o["kind"] == "TrainingRuntime" and o["metadata"]["name"] == name
            ]
            RUNTIMES[id(obj)] = runtime
        assert (obj["apiVersion"], obj["kind"]) == (API[framework], KINDS[framework])
        assert is_suspended(obj), name
        assert obj["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu-queue"
        for tmpl in node_templates(obj):
            annotations = dict(tmpl["metadata"].get("annotations", {}))
            group = annotations.pop("kueue.x-k8s.io/podset-group-name", None)
            # Only a PyTorchJob has two GPU pod sets (Master, Worker), grouped to share a domain.
            assert group == (None if topo == "none" or framework != "pytorch" else f"{name}-nodes")
            if topo == "none":
                assert not annotations
            elif topo == "required":
                assert annotations == {
                    "kueue.x-k8s.io/podset-required-topology": TOPOLOGY_LEVELS["local_block"]
                }
            else:
                assert annotations == {
                    "kueue.x-k8s.io/podset-preferred-topology": TOPOLOGY_LEVELS["hpc_island"]
                }


@pytest.mark.parametrize("framework", list(KINDS))
def test_rdma_pattern_only_with_rdma(framework: str) -> None:
    with_rdma, _ = compile_one(training("ft-job", framework, rdma=True, extra="shm: 64Gi\n"))
    without, _ = compile_one(training("ft-job", framework, rdma=False))
    for tmpl in node_templates(with_rdma):
        pod = tmpl["spec"]
        main = pod["containers"][0]
        assert main["securityContext"] == {
            "privileged": True,
            "capabilities": {"add": ["IPC_LOCK"]},
        }
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["devinf"] == {"name": "devinf", "hostPath": {"path": "/dev/infiniband"}}
        assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Gi"}
        assert {"name": "devinf", "mountPath": "/dev/infiniband"} in main["volumeMounts"]
        assert {"name": "shm", "mountPath": "/dev/shm"} in main["volumeMounts"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]
        assert pod["hostNetwork"] is True
        assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
        assert main["resources"]["limits"]["nvidia.com/gpu"] == "8"
    for tmpl in node_templates(without):
        pod = tmpl["spec"]
        main = pod["containers"][0]
        assert "hostNetwork" not in pod and "dnsPolicy" not in pod
        assert main["securityContext"]["allowPrivilegeEscalation"] is False
        assert main["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert "devinf" not in {v["name"] for v in pod.get("volumes", [])}
        assert not any(k.startswith("NCCL_") for k in env_of(main))


def h100_env(obj: dict[str, Any]) -> dict[str, str]:
    return env_of(node_templates(obj)[0]["spec"]["containers"][0])


@pytest.mark.parametrize("framework", list(KINDS))
def test_nccl_values_for_h100(framework: str) -> None:
    obj, _ = compile_one(training("ft-job", framework, rdma=True))
    env = h100_env(obj)
    assert env["NCCL_IB_HCA"] == (
        "=mlx5_0,mlx5_1,mlx5_3,mlx5_4,mlx5_5,mlx5_6,mlx5_7,mlx5_8,mlx5_9,mlx5_10,"
        "mlx5_12,mlx5_13,mlx5_14,mlx5_15,mlx5_16,mlx5_17"
    )
    assert len(env["NCCL_IB_HCA"].split(",")) == 16
    assert env["NCCL_IB_GID_INDEX"] == "3"
    assert env["NCCL_IB_TC"] == "41"
    assert env["NCCL_IB_SL"] == "0"
    assert env["NCCL_SOCKET_IFNAME"] == "eth0"
    assert env["NCCL_IB_TIMEOUT"] == "22"
    assert env["UCX_TLS"] == "tcp"
    for name, value in SHAPES["BM.GPU.H100.8"].env.items():
        assert env[name] == value


@pytest.mark.parametrize("framework", list(KINDS))
def test_user_env_overrides_nccl(framework: str) -> None:
    extra = "env: {NCCL_IB_GID_INDEX: '5', NCCL_DEBUG: INFO}\n"
    obj, _ = compile_one(training("ft-job", framework, rdma=True, extra=extra))
    names = [e["name"] for e in node_templates(obj)[0]["spec"]["containers"][0]["env"]]
    assert names.count("NCCL_IB_GID_INDEX") == 1
    env = h100_env(obj)
    assert env["NCCL_IB_GID_INDEX"] == "5"
    assert env["NCCL_DEBUG"] == "INFO"
    assert env["NCCL_IB_TC"] == "41"


@pytest.mark.parametrize("within", list(TOPOLOGY_LEVELS))
@pytest.mark.parametrize("mode", ["required", "preferred"])
def test_topology_annotation_per_level(within: str, mode: str) -> None:
    extra = f"topology: {{within: {within}, mode: {mode}}}\n"
    obj, _ = compile_one(training("ft-job", "mpi", rdma=True, extra=extra))
    worker = obj["spec"]["mpiReplicaSpecs"]["Worker"]["template"]
    assert worker["metadata"]["annotations"] == {
        f"kueue.x-k8s.io/podset-{mode}-topology": f"oci.oraclecloud.com/rdma.{within}_id"
    }
    launcher = obj["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]
    assert "annotations" not in launcher["metadata"]


@pytest.mark.parametrize("nodes", [1, 2, 5])
def test_pytorch_master_and_workers_form_one_kueue_group(nodes: int) -> None:
    """Kueue's pod set group: exactly two pod sets, one of a single pod, the same topology
    request; one pod set (a single node) needs no group."""
    extra = "topology: {within: network_block, mode: required}\n"
    obj, _ = compile_one(training("ft-job", "pytorch", nodes=nodes, extra=extra))
    replicas = obj["spec"]["pytorchReplicaSpecs"]
    assert sorted(replicas) == (["Master", "Worker"] if nodes > 1 else ["Master"])
    annotations = [r["template"]["metadata"]["annotations"] for r in replicas.values()]
    groups = {a.get("kueue.x-k8s.io/podset-group-name") for a in annotations}
    assert groups == ({"ft-job-nodes"} if nodes > 1 else {None})
    required = {a["kueue.x-k8s.io/podset-required-topology"] for a in annotations}
    assert required == {TOPOLOGY_LEVELS["network_block"]}
    if nodes > 1:
        assert (replicas["Master"]["replicas"], replicas["Worker"]["replicas"]) == (1, nodes - 1)


def test_queue_from_workspace_and_warning_without_one() -> None:
    text = training("ft-job", "pytorch").replace("queue: gpu-queue\n", "")
    obj, warnings = compile_one(text)
    assert "kueue.x-k8s.io/queue-name" not in obj["metadata"]["labels"]
    assert is_suspended(obj)
    assert any("no Kueue queue" in w for w in warnings)
    obj, warnings = compile_one(text.replace("workspace: training", "workspace: queued"))
    assert obj["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "ws-queue"
    assert not any("no Kueue queue" in w for w in warnings)


def test_mpi_job_shape() -> None:
    extra = "retries: 3\ntimeout: 1h\n"
    obj, _ = compile_one(training("ft-job", "mpi", nodes=4, rdma=True, extra=extra))
    spec = obj["spec"]
    assert spec["slotsPerWorker"] == 8
    assert spec["runPolicy"] == {
        "cleanPodPolicy": "Running",
        "backoffLimit": 3,
        "activeDeadlineSeconds": 3600,
        "suspend": True,
    }
    assert spec["mpiReplicaSpecs"]["Worker"]["replicas"] == 4
    launcher = spec["mpiReplicaSpecs"]["Launcher"]
    assert launcher["replicas"] == 1
    pod = launcher["template"]["spec"]
    assert pod["hostNetwork"] is True
    main = pod["containers"][0]
    assert main["command"] == ["torchrun", "train.py"]
    assert "resources" not in main and "tolerations" not in pod
    assert "privileged" not in main["securityContext"]
    env = env_of(main)
    assert env["OMPI_MCA_plm_rsh_args"] == "-p 2222"
    assert env["NCCL_IB_GID_INDEX"] == "3"
    assert pod["securityContext"] == {"runAsUser": 0}  # root: keys at the default /root/.ssh
    assert "sshAuthMountPath" not in spec
    worker_pod = spec["mpiReplicaSpecs"]["Worker"]["template"]["spec"]
    assert worker_pod["securityContext"] == {"runAsUser": 0}
    worker = worker_pod["containers"][0]
    assert worker["command"] == [
        "/bin/sh",
        "-c",
        "mkdir -p /run/sshd; exec /usr/sbin/sshd -De -p 2222",
    ]


def test_pytorch_job_shape() -> None:
    obj, _ = compile_one(training("ft-job", "pytorch", nodes=3, extra="retries: 2\n"))
    spec = obj["spec"]
    assert spec["nprocPerNode"] == "8"
    assert spec["runPolicy"] == {"backoffLimit": 2, "suspend": True}
    replicas = spec["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1
    assert replicas["Worker"]["replicas"] == 2
    assert replicas["Master"]["template"]["spec"]["containers"][0]["name"] == "pytorch"
    single, _ = compile_one(training("ft-job", "pytorch", nodes=1))
    assert set(single["spec"]["pytorchReplicaSpecs"]) == {"Master"}


def test_train_job_shape(validated: Validate) -> None:
    """A TrainJob runs on a TrainingRuntime of its own that holds the whole node pod: host
    networking, privilege and NCCL with RDMA, the command, resources; retries restart the set."""
    obj, warnings = compile_one(
        training("ft-job", "trainer", nodes=4, rdma=True, extra="retries: 1\ntimeout: 2h\n")
    )
    spec = obj["spec"]
    assert spec["runtimeRef"] == {
        "name": "ft-job",
        "apiGroup": "trainer.kubeflow.org",
        "kind": "TrainingRuntime",
    }
    assert spec["trainer"] == {"numNodes": 4, "numProcPerNode": 8}
    assert spec["suspend"] is True and spec["activeDeadlineSeconds"] == 7200
    runtime = runtime_of(obj)
    assert runtime["metadata"]["namespace"] == obj["metadata"]["namespace"]
    assert "kueue.x-k8s.io/queue-name" not in runtime["metadata"]["labels"]
    assert runtime["metadata"]["labels"]["trainer.kubeflow.org/framework"] == "torch"
    assert runtime["spec"]["mlPolicy"] == {"numNodes": 4, "torch": {}}
    job_set = runtime["spec"]["template"]["spec"]
    assert job_set["failurePolicy"] == {"maxRestarts": 1}
    [node] = job_set["replicatedJobs"]
    assert node["name"] == "node"
    assert node["template"]["metadata"]["labels"] == {
        "trainer.kubeflow.org/trainjob-ancestor-step": "trainer"
    }
    assert node["template"]["spec"]["backoffLimit"] == 0
    pod = node["template"]["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    [main] = pod["containers"]
    assert main["name"] == "node"
    assert main["image"] == "registry.example.com/train:1"
    assert main["command"] == ["torchrun", "train.py"]
    assert main["args"] == ["--lr", "1e-4"]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert not any("TrainJob" in w for w in warnings), warnings
    validated([runtime, obj])


def test_ray_job_shape() -> None:
    obj, _ = compile_one(training("ft-job", "ray", nodes=4, rdma=True, extra="timeout: 30m\n"))
    spec = obj["spec"]
    assert spec["entrypoint"] == "torchrun train.py --lr 1e-4"
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["activeDeadlineSeconds"] == 1800
    assert spec["backoffLimit"] == 0
    group = spec["rayClusterSpec"]["workerGroupSpecs"][0]
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == 4
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert "hostNetwork" not in head
    assert "resources" not in head["containers"][0]


def test_a_shape_without_nccl_values_sets_none_and_warns() -> None:
    obj, warnings = compile_one(training("ft-job", "pytorch", rdma=True, gpu="MI300X"))
    env = env_of(node_templates(obj)[0]["spec"]["containers"][0])
    assert not any(k.startswith(("NCCL_", "UCX_")) for k in env)
    assert any("no sourced NCCL values for BM.GPU.MI300X.8" in w for w in warnings)


@pytest.mark.parametrize(
    ("gpu", "hcas", "qps"),
    [
        ("H200", "=mlx5_0,mlx5_3,mlx5_4,mlx5_5,mlx5_6,mlx5_9,mlx5_10,mlx5_11", None),
        ("B200", "=mlx5_0,mlx5_3,mlx5_4,mlx5_5,mlx5_6,mlx5_9,mlx5_10,mlx5_11", None),
        (
            "A100",
            "=mlx5_1,mlx5_2,mlx5_3,mlx5_4,mlx5_5,mlx5_6,mlx5_7,mlx5_8,"
            "mlx5_14,mlx5_15,mlx5_16,mlx5_17,mlx5_9,mlx5_10,mlx5_11,mlx5_12",
            "4",
        ),
        (
            "A100-40G",
            "=mlx5_0,mlx5_2,mlx5_6,mlx5_8,mlx5_10,mlx5_12,mlx5_14,mlx5_16,"
            "mlx5_1,mlx5_3,mlx5_7,mlx5_9,mlx5_11,mlx5_13,mlx5_15,mlx5_17",
            "4",
        ),
    ],
)
def test_nccl_values_for_the_other_shapes(gpu: str, hcas: str, qps: str | None) -> None:
    """oci-hpc-oke's per-shape values: H200 and B200 use eight single-port NICs and the Hopper
    settings; the A100 shapes sixteen devices and four queue pairs per connection."""
    obj, warnings = compile_one(training("ft-job", "pytorch", rdma=True, gpu=gpu))
    env = env_of(node_templates(obj)[0]["spec"]["containers"][0])
    assert env["NCCL_IB_HCA"] == hcas
    assert len(set(hcas[1:].split(","))) == len(hcas[1:].split(","))
    assert (env["NCCL_IB_GID_INDEX"], env["NCCL_IB_TC"], env["NCCL_IB_SL"]) == ("3", "41", "0")
    assert env.get("NCCL_IB_QPS_PER_CONNECTION") == qps
    hopper = gpu in ("H200", "B200")
    assert ("NCCL_SOCKET_IFNAME" in env) is hopper
    assert ("NCCL_CUMEM_ENABLE" in env) is hopper
    assert not any("NCCL" in w for w in warnings)


def test_weights_and_checkpoints() -> None:
    extra = "weights: {source: fss://weights/llama/8b}\ncheckpoints: {volume: ckpt, path: /ck}\n"
    obj, warnings = compile_one(training("ft-job", "pytorch", extra=extra))
    main = node_templates(obj)[0]["spec"]["containers"][0]
    assert {
        "name": "vol-weights",
        "mountPath": "/weights",
        "readOnly": True,
        "subPath": "llama/8b",
    } in main["volumeMounts"]
    assert {"name": "vol-ckpt", "mountPath": "/ck"} in main["volumeMounts"]
    assert env_of(main)["IRONPLANE_WEIGHTS"] == "/weights"
    assert not any("weights" in w for w in warnings)
    obj, warnings = compile_one(
        training("ft-job", "pytorch", extra="weights: {source: hf://org/m}\n")
    )
    main = node_templates(obj)[0]["spec"]["containers"][0]
    assert env_of(main)["IRONPLANE_WEIGHTS"] == "org/m"
    assert not any("weights" in w for w in warnings)


def _weights_env(obj: dict[str, Any]) -> str:
    return env_of(node_templates(obj)[0]["spec"]["containers"][0])["IRONPLANE_WEIGHTS"]


@pytest.mark.parametrize("framework", list(KINDS))
@pytest.mark.parametrize("credentials", [False, True])
def test_oci_weights_are_fetched_on_every_node(
    framework: str, credentials: bool, validated: Validate
) -> None:
    source = "oci://ns/models/llama/8b"
    extra = f"weights: {{source: {source}" + (", credentials: os-keys}\n" if credentials else "}\n")
    obj, warnings = compile_one(training("ft-job", framework, extra=extra))
    assert not any("weights" in w for w in warnings), warnings
    for template in node_templates(obj):
        pod = template["spec"]
        [fetch] = pod["initContainers"]
        assert fetch["name"] == "fetch-weights"
        main = pod["containers"][0]
        assert {"name": "weights-cache", "mountPath": "/weights-cache"} in main["volumeMounts"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["weights-cache"] == {"name": "weights-cache", "emptyDir": {}}
        if credentials:
            # The privileged workspace keeps a node-shared cache on the local NVMe.
            assert fetch["command"][:3] == ["ironplane", "fetch-weights", source]
            assert volumes["weights-node-cache"]["hostPath"]["path"].startswith("/mnt/localdisk")
            assert fetch["securityContext"]["runAsUser"] == 0
            keys = {e["valueFrom"]["secretKeyRef"]["name"] for e in fetch["env"]}
            assert keys == {secret_name("os-keys")}
        else:
            assert fetch["command"][:4] == ["oci", "os", "object", "bulk-download"]
            assert "--prefix" in fetch["command"] and "llama/8b" in fetch["command"]
    expected = "/weights-cache/weights" if credentials else "/weights-cache/oci/llama/8b"
    assert _weights_env(obj) == expected
    validated([obj, runtime_of(obj)] if framework == "trainer" else [obj])


@pytest.mark.parametrize(
    ("weights", "workspace", "warned"),
    [
        # Ironplane's puller in a restricted workspace: no host path, so the pod's own cache.
        ("{source: oci://ns/models/m, credentials: os-keys, cache: nvme}", "prod", True),
        ("{source: oci://ns/models/m, credentials: os-keys}", "prod", True),
        ("{source: oci://ns/models/m, credentials: os-keys, cache: memory}", "prod", False),
        ("{source: oci://ns/models/m, credentials: os-keys}", "training", False),
        # The OCI CLI has no node cache: said when nvme was asked for, not by default.
        ("{source: oci://ns/models/m, cache: nvme}", "training", True),
        ("{source: oci://ns/models/m}", "training", False),
    ],
)
def test_a_node_cache_that_cannot_be_had_is_said(
    weights: str, workspace: str, warned: bool
) -> None:
    obj, warnings = compile_one(
        training("ft-job", "pytorch", extra=f"weights: {weights}\n", workspace=workspace)
    )
    said = [w for w in warnings if "node-shared" in w]
    assert bool(said) is warned, warnings
    pods = [t["spec"] for t in node_templates(obj)]
    host_cache = any(v["name"] == "weights-node-cache" for p in pods for v in p["volumes"])
    assert host_cache is (
        workspace == "training" and "credentials" in weights and "memory" not in weights
    )


GOLDEN_SPECS = {
    "mpi-h100-rdma-8-nodes": training(
        "nccl-allreduce",
        "mpi",
        nodes=8,
        rdma=True,
        extra="shm: 32Gi\ntopology: {within: local_block, mode: required}\nretries: 1\n",
    ).replace(
        "command: [torchrun, train.py]\nargs: [--lr, '1e-4']", "command: [mpirun, all_reduce_perf]"
    ),
    "pytorch-2-nodes": training(
        "llama-ft",
        "pytorch",
        nodes=2,
        extra="shm: 16Gi\ncheckpoints: {volume: ckpt}\ntopology: {within: network_block}\n"
        "timeout: 12h\n",
    ),
}


@pytest.mark.parametrize("name", list(GOLDEN_SPECS))
def test_golden(name: str, validated: Validate) -> None:
    obj, _ = compile_one(GOLDEN_SPECS[name])
    actual = yaml_stream([obj])
    expected_file = GOLDEN / f"{name}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(actual)
    assert expected_file.exists(), f"missing {expected_file}; run with UPDATE_GOLDEN=1"
    assert actual == expected_file.read_text(), f"{name} no longer compiles to golden"
    validated([obj])


def test_weights_and_checkpoints_on_one_volume_stay_writable(validated: Validate) -> None:
    extra = "weights: {source: fss://ckpt/base}\ncheckpoints: {volume: ckpt}\n"
    obj, _ = compile_one(training("ft-job", "pytorch", extra=extra))
    pod = node_templates(obj)[0]["spec"]
    assert [v for v in pod["volumes"] if v["name"] == "vol-ckpt"] == [
        {"name": "vol-ckpt", "persistentVolumeClaim": {"claimName": "ckpt"}}
    ]
    validated([obj])


def test_without_kueue_the_job_starts_at_once_with_a_warning() -> None:
    from tests.compiler.helpers import compile_text

    platform = (
        "kind: Cluster\nname: lab\nprovider: generic\n---\n"
        "kind: Workspace\nname: training\ncluster: lab\ngpu: true\nprivileged: true\n---\n"
    )
    compiled = compile_text(training("plain-job", "pytorch"), platform=platform)
    [job] = [o for o in compiled.bundle.objects if o["kind"] == "PyTorchJob"]
    assert job["spec"]["runPolicy"]["suspend"] is False
    assert "kueue.x-k8s.io/queue-name" not in job["metadata"]["labels"]
    assert any("runs no Kueue" in w.message for w in compiled.warnings)
