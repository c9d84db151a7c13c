"""What the four TrainingJob frameworks share (the builders are in ``training.py``).

The pod of a training node (one per node, all the GPUs of the node, the RoCE v2 host-network
pattern with ``network.rdma``, the NCCL variables of the shape, checkpoints, weights,
``/dev/shm``), the CPU-only coordinator pod (MPI launcher, Ray head), the Kueue queue label and
the topology annotation Kueue's topology-aware scheduling reads.
"""

from __future__ import annotations

from typing import Any

from ironplane.compiler.block_mount import (
    MOUNT_SECURITY,
    block_weights,
    mount_then,
    mounted_path,
)
from ironplane.compiler.context import CompileContext
from ironplane.compiler.core import Build
from ironplane.compiler.labels import metadata, owned
from ironplane.compiler.pods import (
    container_security,
    env_list,
    gpu_placement,
    main_container,
    mounts_block,
    pod_security,
    resources_block,
    service_account,
    template_labels,
    volume_claim,
)
from ironplane.compiler.rdma import SHAPES, TOPOLOGY_LEVELS, nccl_env, shape_of
from ironplane.compiler.weights import NODE_CACHE, oci_cli, puller, uses_node_cache
from ironplane.core.quantities import parse_duration
from ironplane.spec.kinds import TrainingJobSpec

KIND = "trainingjob"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
TOPOLOGY_ANNOTATIONS = {
    "required": "kueue.x-k8s.io/podset-required-topology",
    "preferred": "kueue.x-k8s.io/podset-preferred-topology",
}
WEIGHTS_DIR = "/weights"
WEIGHTS_CACHE = "/weights-cache"
"""Where ``oci://`` weights are downloaded to on a training node."""
WEIGHTS_ENV = "IRONPLANE_WEIGHTS"
DEVINF = "devinf"


def spec_of(build: Build) -> TrainingJobSpec:
    spec = build.spec
    assert isinstance(spec, TrainingJobSpec)
    return spec


def gpus_per_node(spec: TrainingJobSpec) -> int | None:
    return spec.resources.gpu.count if spec.resources and spec.resources.gpu else None


def queued(build: Build) -> bool:
    """Whether Kueue admits the job: created suspended with its queue label, or started at once
    on a cluster without Kueue (neither OCI nor the ``kueue`` add-on)."""
    from ironplane.compiler.cluster import uses_kueue

    return uses_kueue(build.ctx.cluster)


def queue_name(spec: TrainingJobSpec, ctx: CompileContext) -> str | None:
    """The Kueue queue label ``spec`` gets in ``ctx``: its own queue, else its workspace's;
    none on a cluster without Kueue."""
    from ironplane.compiler.cluster import uses_kueue

    return (spec.queue or ctx.workspace.queue) if uses_kueue(ctx.cluster) else None


def queue_of(build: Build) -> str | None:
    """:func:`queue_name`, with a warning when the job is not queued or names no queue."""
    spec = spec_of(build)
    if not queued(build):
        build.warn(
            f"cluster {build.ctx.cluster.name!r} runs no Kueue (not OCI, no kueue add-on): the "
            "job starts at once, without queueing or topology-aware placement",
            path=("queue",) if spec.queue else (),
            hint="add kueue to the Cluster's addons once it is installed",
        )
        return None
    queue = queue_name(spec, build.ctx)
    if queue is None:
        build.warn(
            "no Kueue queue: neither the TrainingJob nor its workspace names one; the job is "
            "created suspended and stays so until it is labelled with a LocalQueue",
            path=("queue",),
            hint=f"set queue, or queue on Workspace {build.ctx.workspace.name!r}",
        )
    return queue


def object_metadata(build: Build) -> dict[str, Any]:
    """The training object's metadata: ownership labels and the Kueue queue label."""
    spec = spec_of(build)
    labels = owned(spec.name, build.ctx.namespace, KIND, build.version)
    queue = queue_of(build)
    if queue is not None:
        labels[QUEUE_LABEL] = queue
    return metadata(spec.name, namespace=build.ctx.namespace, labels=labels)


def deadline(build: Build) -> dict[str, int]:
    """``activeDeadlineSeconds`` from ``timeout``, or nothing."""
    timeout = spec_of(build).timeout
    return {} if timeout is None else {"activeDeadlineSeconds": parse_duration(timeout)}


def training_object(
    build: Build, api_version: str, kind: str, spec: dict[str, Any]
) -> dict[str, Any]:
    """The training-operator object, with the ownership and queue labels."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": object_metadata(build),
        "spec": spec,
    }


def topology_annotations(build: Build) -> dict[str, str]:
    """The Kueue TAS annotation for the pods of the training nodes (empty without topology)."""
    topology = spec_of(build).topology
    if topology is None:
        return {}
    if build.ctx.cluster.provider != "oci":
        build.warn(
            f"topology uses the OCI RDMA node labels; cluster {build.ctx.cluster.name!r} is not "
            "on OCI, so Kueue finds no such topology level unless its nodes carry them",
            path=("topology", "within"),
        )
    return {TOPOLOGY_ANNOTATIONS[topology.mode]: TOPOLOGY_LEVELS[topology.within]}


def template(build: Build, pod: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    spec = spec_of(build)
    meta: dict[str, Any] = {"labels": template_labels(spec.name, build.ctx, KIND)}
    if annotations:
        meta["annotations"] = dict(sorted(annotations.items()))
    return {"metadata": meta, "spec": pod}


def identity_env(build: Build) -> dict[str, str]:
    spec, cluster = spec_of(build), build.ctx.cluster
    env: dict[str, str] = {}
    if spec.identity is not None and cluster.provider == "oci":
        env["OCI_RESOURCE_PRINCIPAL_VERSION"] = "2.2"
        if cluster.region:
            env["OCI_RESOURCE_PRINCIPAL_REGION"] = cluster.region
    return env


def node_env(build: Build, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Variables for a training process: the shape's NCCL values with RDMA, then ``extra``.

    The spec's ``env`` is merged last by ``env_list``, so a user's value always wins.
    """
    spec = spec_of(build)
    env = identity_env(build)
    if spec.network.rdma:
        env |= nccl_env(shape_of(spec.resources, build.ctx))
    return env | (extra or {})


def warn_unsourced_shape(build: Build) -> None:
    spec = spec_of(build)
    if not spec.network.rdma:
        return
    shape = shape_of(spec.resources, build.ctx)
    if shape is None:
        build.warn(
            "RDMA without a GPU type that maps to an OCI bare-metal shape: no NCCL variables "
            "are set",
            path=("network", "rdma"),
            hint="set resources.gpu.type (e.g. H100), or set the NCCL_* variables in env",
        )
    elif not nccl_env(shape):
        known = ", ".join(s for s, entry in SHAPES.items() if entry.env)
        build.warn(
            f"no sourced NCCL values for {shape} in this release (known: {known}); NCCL "
            "auto-detects the RDMA devices",
            path=("network", "rdma"),
            hint="set NCCL_IB_HCA, NCCL_IB_GID_INDEX, NCCL_IB_TC, NCCL_SOCKET_IFNAME... in env",
        )


def node_volumes(
    build: Build,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(pod volumes, volumeMounts, volumeDevices) of a training node: the spec's mounts, the
    weights (fss, or block: the raw device and the directory to mount it on), the checkpoints
    volume, ``/dev/shm`` and, with RDMA, ``/dev/infiniband``."""
    spec, ctx = spec_of(build), build.ctx
    volumes, mounts, devices = mounts_block(spec.mounts, ctx)
    names = {v["name"] for v in volumes}

    def claim(volume: str, *, read_only: bool) -> str:
        """The pod volume of a claim, added once; writable as soon as one mount writes."""
        name = volume_claim(volume)
        if name in names and not read_only:
            for entry in volumes:
                if entry["name"] == name:
                    entry["persistentVolumeClaim"].pop("readOnly", None)
        if name not in names:
            pvc: dict[str, Any] = {"claimName": volume}
            if read_only:
                pvc["readOnly"] = True
            volumes.append({"name": name, "persistentVolumeClaim": pvc})
            names.add(name)
        return name

    weights = spec.weights
    if weights is not None and weights.scheme == "block":
        block = block_weights(weights.location, WEIGHTS_DIR)
        volumes += block.volumes
        mounts += block.mounts
        devices += block.devices
    if weights is not None and weights.scheme == "fss":
        where = weights.location
        mount: dict[str, Any] = {
            "name": claim(where[0], read_only=True),
            "mountPath": WEIGHTS_DIR,
            "readOnly": True,
        }
        if len(where) > 1:
            mount["subPath"] = "/".join(where[1:])
        mounts.append(mount)
    checkpoints = spec.checkpoints
    if checkpoints is not None:
        volume = ctx.volumes.get(checkpoints.volume)
        if volume is not None and volume.type == "block":
            build.warn(
                f"block volume {checkpoints.volume!r} attaches read-only to many nodes; "
                "checkpoints cannot be written to it",
                path=("checkpoints", "volume"),
                hint="use an fss volume for checkpoints",
            )
        else:
            name = claim(checkpoints.volume, read_only=False)
            mounts.append({"name": name, "mountPath": checkpoints.path})
    if spec.shm is not None or spec.network.rdma:
        empty: dict[str, Any] = {"medium": "Memory"}
        if spec.shm is not None:
            empty["sizeLimit"] = spec.shm
        volumes.append({"name": "shm", "emptyDir": empty})
        mounts.append({"name": "shm", "mountPath": "/dev/shm"})
    if spec.network.rdma:
        volumes.append({"name": DEVINF, "hostPath": {"path": "/dev/infiniband"}})
        mounts.append({"name": DEVINF, "mountPath": "/dev/infiniband"})
    return volumes, mounts, devices


def fetch_weights(
    build: Build, volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], str | None]:
    """For ``oci://`` weights: the init container that downloads them on each node (adding its
    volumes and the main container's mounts), and the path the training code reads them from
    (``$IRONPLANE_WEIGHTS``). With ``credentials`` in a privileged workspace and ``cache:
    nvme``, the download goes to the node-shared cache on the local NVMe, so a retried or
    re-queued job on the same node does not fetch again."""
    spec = spec_of(build)
    weights = spec.weights
    if weights is None or weights.scheme != "oci":
        return [], None
    cache = {"name": "weights-cache", "mountPath": WEIGHTS_CACHE}
    volumes.append(
        {
            "name": "weights-cache",
            "emptyDir": {"medium": "Memory"} if weights.cache == "memory" else {},
        }
    )
    mounts.append(cache)
    node = uses_node_cache(build, weights)
    if weights.credentials is None:
        container, path = oci_cli(
            build,
            weights,
            identity=spec.identity is not None,
            mount=cache,
            dest_dir=f"{WEIGHTS_CACHE}/oci",
        )
        return [container], path
    init_mounts, dest = [cache], f"{WEIGHTS_CACHE}/fetched"
    if node:
        volumes.append(
            {
                "name": "weights-node-cache",
                "hostPath": {"path": NODE_CACHE, "type": "DirectoryOrCreate"},
            }
        )
        node_mount = {"name": "weights-node-cache", "mountPath": NODE_CACHE}
        mounts.append({**node_mount, "readOnly": True})
        init_mounts.append(node_mount)
        dest = NODE_CACHE
    link = f"{WEIGHTS_CACHE}/weights"
    container = puller(build, weights, mounts=init_mounts, dest=dest, link=link, as_root=node)
    return [container], link


def mounts_block_weights(spec: TrainingJobSpec) -> bool:
    """Whether the training nodes mount ``block://`` weights themselves (as privileged root)."""
    return spec.weights is not None and spec.weights.scheme == "block"


def rdma_security() -> dict[str, Any]:
    """The RDMA container: privileged, with IPC_LOCK to pin memory for RDMA (platform.md 3.1)."""
    return {"privileged": True, "capabilities": {"add": ["IPC_LOCK"]}}


def pod_base(
    build: Build, *, host_network: bool, restricted: bool, run_as_user: int | None
) -> dict[str, Any]:
    """Service account, host networking and the pod security context, in a fixed key order."""
    spec = spec_of(build)
    pod: dict[str, Any] = {
        **service_account(spec.identity.service_account if spec.identity else None),
        "enableServiceLinks": False,
    }
    if host_network:
        pod["hostNetwork"] = True
        pod["dnsPolicy"] = "ClusterFirstWithHostNet"
    if restricted:
        pod["securityContext"] = pod_security(run_as_user)
    elif run_as_user is not None:
        pod["securityContext"] = {"runAsUser": run_as_user}
    return pod


def node_pod(
    build: Build,
    *,
    container: str,
    command: list[str] | None,
    args: list[str] | None,
    env: dict[str, str] | None = None,
    run_as_user: int | None = None,
) -> dict[str, Any]:
    """The pod spec of one training node: all its GPUs, and the RoCE v2 pattern with RDMA.

    ``run_as_user`` defaults to the spec's.
    """
    spec, ctx = spec_of(build), build.ctx
    user = spec.run_as_user if run_as_user is None else run_as_user
    rdma = spec.network.rdma
    volumes, mounts, devices = node_volumes(build)
    fetch, weights_path = fetch_weights(build, volumes, mounts)
    block = mounts_block_weights(spec)
    if spec.weights is not None and spec.weights.scheme == "fss":
        weights_path = WEIGHTS_DIR
    elif spec.weights is not None and block:
        weights_path = mounted_path(spec.weights.location, WEIGHTS_DIR)
    elif spec.weights is not None and spec.weights.scheme == "hf":
        weights_path = "/".join(spec.weights.location)  # the repo id the code loads
    if weights_path is not None:
        env = {**(env or {}), WEIGHTS_ENV: weights_path}
    main = main_container(
        image=spec.image,
        command=command,
        args=args,
        env=env_list(spec.env, node_env(build, env)),
        resources=resources_block(spec.resources, ctx),
        mounts=mounts,
        devices=devices,
    )
    main["name"] = container
    if block:
        # Privileged root for mount(8); a restricted context's allowPrivilegeEscalation: false
        # would be refused next to privileged: true, so the context is replaced, not merged.
        main["securityContext"] = {**(rdma_security() if rdma else {}), **MOUNT_SECURITY}
        if command is not None:
            main["command"] = mount_then(command, WEIGHTS_DIR)
    else:
        main["securityContext"] = rdma_security() if rdma else container_security()
    pod = pod_base(build, host_network=rdma, restricted=not rdma, run_as_user=user)
    if fetch:
        pod["initContainers"] = fetch
    pod["containers"] = [main]
    pod |= gpu_placement(spec.resources, ctx)
    if volumes:
        pod["volumes"] = volumes
    return pod


def coordinator_pod(
    build: Build,
    *,
    container: str,
    command: list[str] | None,
    args: list[str] | None,
    env: dict[str, str],
    host_network: bool,
    restricted: bool,
    run_as_user: int | None = None,
) -> dict[str, Any]:
    """A CPU-only pod that starts the run (MPI launcher, Ray head): no GPUs, no RDMA devices."""
    spec = spec_of(build)
    user = spec.run_as_user if run_as_user is None else run_as_user
    main = main_container(
        image=spec.image,
        command=command,
        args=args,
        env=env_list(spec.env, env),
        resources={},
    )
    main["name"] = container
    main["securityContext"] = container_security()
    pod = pod_base(build, host_network=host_network, restricted=restricted, run_as_user=user)
    pod["containers"] = [main]
    return pod
