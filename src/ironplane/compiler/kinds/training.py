"""TrainingJob → one suspended, Kueue-queued training-operator object, chosen by ``framework``.

- mpi → MPIJob (``kubeflow.org/v2beta1``): a CPU-only launcher running the spec's command
  (``mpirun ...``) and one worker per node running sshd, ``slotsPerWorker`` = GPUs per node.
- pytorch → PyTorchJob (``kubeflow.org/v1``): a Master and ``nodes - 1`` Workers, all training
  nodes, ``nprocPerNode`` = GPUs per node.
- trainer → TrainJob (``trainer.kubeflow.org/v1alpha1``) on a TrainingRuntime of its own that
  holds the whole node pod (``trainjob.py``).
- ray → RayJob (``ray.io/v1``): a CPU-only head and a worker group of ``nodes`` GPU workers; the
  entrypoint is the command and args.

On a cluster that runs Kueue (OCI, or the ``kueue`` add-on) every object is created suspended and
labelled ``kueue.x-k8s.io/queue-name``, so Kueue admits it (and unsuspends it) when quota and
topology allow; elsewhere it starts at once, with a warning. ``retries`` and ``timeout`` map to
the kind's backoff limit and active deadline. The shared pod parts are in ``training_pods.py``.
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from ironplane.compiler.core import Build
from ironplane.compiler.kinds.training_pods import (
    WEIGHTS_ENV,
    coordinator_pod,
    deadline,
    gpus_per_node,
    identity_env,
    mounts_block_weights,
    node_env,
    node_pod,
    queued,
    spec_of,
    template,
    topology_annotations,
    training_object,
    warn_unsourced_shape,
)
from ironplane.compiler.kinds.trainjob import train_job
from ironplane.compiler.pods import NONROOT_UID, identity_account

SSH_PORT = "2222"
"""sshd port on host-network MPI workers: 22 belongs to the host's sshd (platform.md 3.4)."""
MPI_USER_HOME = "/home/mpiuser"
"""The non-root MPI user of the mpi-operator example images, used without RDMA."""
RAY_OWN_COMMAND = "ray.io/overwrite-container-cmd"
RAY_START = 'ulimit -n 65536; eval "$KUBERAY_GEN_RAY_START_CMD"'
"""What KubeRay runs in a Ray container (its open-files limit, then its generated command)."""
PODSET_GROUP = "kueue.x-k8s.io/podset-group-name"
"""Kueue places the pod sets of one group in one topology domain (a name, never a number)."""


def mpi_job(build: Build) -> dict[str, Any]:
    spec = spec_of(build)
    rdma = spec.network.rdma
    annotations = topology_annotations(build)
    if rdma or mounts_block_weights(spec):
        # The oci-hpc-oke pattern: root, sshd on 2222 (Open MPI 5 and 4 flags). RDMA needs it
        # for the host network; block:// weights because the workers mount them as root, and an
        # sshd started by root serves logins as root (keys at the default /root/.ssh). sshd
        # wants its privilege-separation directory, which slim images lack.
        user = 0 if spec.run_as_user is None else spec.run_as_user
        ssh_env = {
            "OMPI_MCA_plm_rsh_args": f"-p {SSH_PORT}",
            "PRTE_MCA_plm_ssh_args": f"-p {SSH_PORT}",
        }
        sshd = ["/bin/sh", "-c", f"mkdir -p /run/sshd; exec /usr/sbin/sshd -De -p {SSH_PORT}"]
        rooted = True
    else:
        # Restricted pods run non-root: the mpi-operator convention of a user with its own sshd.
        user = spec.run_as_user or NONROOT_UID
        ssh_env = {}
        sshd = ["/usr/sbin/sshd", "-De", "-f", f"{MPI_USER_HOME}/.sshd_config"]
        rooted = False
    worker = node_pod(build, container="worker", command=sshd, args=None, run_as_user=user)
    # mpirun starts the ranks through the workers' sshd, whose sessions do not inherit the
    # worker container's variables: the launcher has them too, for `mpirun -x NAME`.
    weights = [e for e in worker["containers"][0].get("env", []) if e["name"] == WEIGHTS_ENV]
    launcher = coordinator_pod(
        build,
        container="launcher",
        command=list(spec.command),
        args=spec.args,
        env=node_env(build, ssh_env | {e["name"]: e["value"] for e in weights if "value" in e}),
        host_network=rdma,
        restricted=not rooted,
        run_as_user=user,
    )
    mpi: dict[str, Any] = {
        "slotsPerWorker": gpus_per_node(spec) or 1,
        "runPolicy": {
            "cleanPodPolicy": "Running",
            "backoffLimit": spec.retries,
            **deadline(build),
            "suspend": queued(build),
        },
    }
    if not rooted:
        mpi["sshAuthMountPath"] = f"{MPI_USER_HOME}/.ssh"
    mpi["mpiReplicaSpecs"] = {
        "Launcher": {
            "replicas": 1,
            "restartPolicy": "OnFailure",
            "template": template(build, launcher, {}),
        },
        "Worker": {"replicas": spec.nodes, "template": template(build, worker, annotations)},
    }
    return training_object(build, "kubeflow.org/v2beta1", "MPIJob", mpi)


def pytorch_job(build: Build) -> dict[str, Any]:
    spec = spec_of(build)
    annotations = topology_annotations(build)
    if annotations and spec.nodes > 1:
        # Master and Worker are two Kueue pod sets, each placed in a domain on its own unless
        # they form a group (exactly two pod sets, one of a single pod, the same topology
        # request): then Kueue gives them one flavor and one domain, as the preview assumes.
        annotations[PODSET_GROUP] = f"{spec.name}-nodes"
    pod = node_pod(build, container="pytorch", command=list(spec.command), args=spec.args)
    gpus = gpus_per_node(spec)
    replicas: dict[str, Any] = {
        "Master": {
            "replicas": 1,
            "restartPolicy": "OnFailure",
            "template": template(build, pod, annotations),
        }
    }
    if spec.nodes > 1:
        replicas["Worker"] = {
            "replicas": spec.nodes - 1,
            "restartPolicy": "OnFailure",
            "template": template(build, copy.deepcopy(pod), dict(annotations)),
        }
    return training_object(
        build,
        "kubeflow.org/v1",
        "PyTorchJob",
        {
            "nprocPerNode": str(gpus) if gpus else "auto",
            "runPolicy": {
                "backoffLimit": spec.retries,
                **deadline(build),
                "suspend": queued(build),
            },
            "pytorchReplicaSpecs": replicas,
        },
    )


def ray_job(build: Build) -> dict[str, Any]:
    spec = spec_of(build)
    annotations = topology_annotations(build)
    head = coordinator_pod(
        build,
        container="ray-head",
        command=None,
        args=None,
        env=identity_env(build),
        host_network=False,
        restricted=True,
    )
    worker_annotations = dict(annotations)
    command = None  # KubeRay writes the worker's `ray start` command
    if mounts_block_weights(spec):
        # The worker mounts the weights first, then starts Ray as KubeRay would have: under
        # this annotation KubeRay leaves the command alone and hands its own over in
        # $KUBERAY_GEN_RAY_START_CMD.
        worker_annotations[RAY_OWN_COMMAND] = "true"
        command = ["/bin/bash", "-c", RAY_START]
    worker = node_pod(build, container="ray-worker", command=command, args=None)
    return training_object(
        build,
        "ray.io/v1",
        "RayJob",
        {
            "entrypoint": shlex.join([*spec.command, *(spec.args or [])]),
            "shutdownAfterJobFinishes": True,
            "backoffLimit": spec.retries,
            **deadline(build),
            "suspend": queued(build),
            "rayClusterSpec": {
                "headGroupSpec": {"rayStartParams": {}, "template": template(build, head, {})},
                "workerGroupSpecs": [
                    {
                        "groupName": "workers",
                        "replicas": spec.nodes,
                        "minReplicas": spec.nodes,
                        "maxReplicas": spec.nodes,
                        "rayStartParams": {},
                        "template": template(build, worker, worker_annotations),
                    }
                ],
            },
        },
    )


BUILDERS: Mapping[str, Callable[[Build], list[dict[str, Any]]]] = {
    "mpi": lambda build: [mpi_job(build)],
    "pytorch": lambda build: [pytorch_job(build)],
    "trainer": train_job,
    "ray": lambda build: [ray_job(build)],
}
"""Per framework: the objects to apply, in order, the training object last."""


def compile_training(build: Build) -> None:
    spec = spec_of(build)
    warn_unsourced_shape(build)
    objects = BUILDERS[spec.framework](build)
    labels = objects[-1]["metadata"]["labels"]
    for account in identity_account(spec.identity, build.ctx.namespace, labels):
        build.objects.add(account)
    for obj in objects:
        build.objects.add(obj)
