"""TrainingJob → one suspended, Kueue-queued training-operator object, chosen by ``framework``.

- mpi → MPIJob (``kubeflow.org/v2beta1``): a CPU-only launcher running the spec's command
  (``mpirun ...``) and one worker per node running sshd, ``slotsPerWorker`` = GPUs per node.
- pytorch → PyTorchJob (``kubeflow.org/v1``): a Master and ``nodes - 1`` Workers, all training
  nodes, ``nprocPerNode`` = GPUs per node.
- trainer → TrainJob (``trainer.kubeflow.org/v1alpha1``) on the ``torch-distributed``
  ClusterTrainingRuntime; the pod settings the runtime lacks come as a runtime patch.
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
    coordinator_pod,
    gpus_per_node,
    identity_env,
    node_env,
    node_pod,
    object_metadata,
    queued,
    spec_of,
    template,
    topology_annotations,
    warn_unsourced_shape,
)
from ironplane.compiler.pods import NONROOT_UID, identity_account
from ironplane.core.quantities import parse_duration

SSH_PORT = "2222"
"""sshd port on host-network MPI workers: 22 belongs to the host's sshd (platform.md 3.4)."""
MPI_USER_HOME = "/home/mpiuser"
"""The non-root MPI user of the mpi-operator example images, used without RDMA."""
TORCH_RUNTIME = "torch-distributed"
PATCH_MANAGER = "ironplane.dev/compiler"
TRAINER_JOB = "node"
"""The replicated job and container name of Kubeflow Trainer's torch runtimes."""


def _deadline(build: Build) -> dict[str, int]:
    timeout = spec_of(build).timeout
    return {} if timeout is None else {"activeDeadlineSeconds": parse_duration(timeout)}


def _object(build: Build, api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": object_metadata(build),
        "spec": spec,
    }


def mpi_job(build: Build) -> dict[str, Any]:
    spec = spec_of(build)
    rdma = spec.network.rdma
    annotations = topology_annotations(build)
    if rdma:
        # The oci-hpc-oke pattern: root, host network, sshd on 2222 (Open MPI 5 and 4 flags).
        user = spec.run_as_user
        ssh_env = {
            "OMPI_MCA_plm_rsh_args": f"-p {SSH_PORT}",
            "PRTE_MCA_plm_ssh_args": f"-p {SSH_PORT}",
        }
        sshd = ["/usr/sbin/sshd", "-De", "-p", SSH_PORT]
    else:
        # Restricted pods run non-root: the mpi-operator convention of a user with its own sshd.
        user = spec.run_as_user or NONROOT_UID
        ssh_env = {}
        sshd = ["/usr/sbin/sshd", "-De", "-f", f"{MPI_USER_HOME}/.sshd_config"]
    launcher = coordinator_pod(
        build,
        container="launcher",
        command=list(spec.command),
        args=spec.args,
        env=node_env(build, ssh_env),
        host_network=rdma,
        restricted=not rdma,
        run_as_user=user,
    )
    worker = node_pod(build, container="worker", command=sshd, args=None, run_as_user=user)
    mpi: dict[str, Any] = {
        "slotsPerWorker": gpus_per_node(spec) or 1,
        "runPolicy": {
            "cleanPodPolicy": "Running",
            "backoffLimit": spec.retries,
            **_deadline(build),
            "suspend": queued(build),
        },
    }
    if not rdma:
        mpi["sshAuthMountPath"] = f"{MPI_USER_HOME}/.ssh"
    mpi["mpiReplicaSpecs"] = {
        "Launcher": {
            "replicas": 1,
            "restartPolicy": "OnFailure",
            "template": template(build, launcher, {}),
        },
        "Worker": {"replicas": spec.nodes, "template": template(build, worker, annotations)},
    }
    return _object(build, "kubeflow.org/v2beta1", "MPIJob", mpi)


def pytorch_job(build: Build) -> dict[str, Any]:
    spec = spec_of(build)
    annotations = topology_annotations(build)
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
    return _object(
        build,
        "kubeflow.org/v1",
        "PyTorchJob",
        {
            "nprocPerNode": str(gpus) if gpus else "auto",
            "runPolicy": {
                "backoffLimit": spec.retries,
                **_deadline(build),
                "suspend": queued(build),
            },
            "pytorchReplicaSpecs": replicas,
        },
    )


def train_job(build: Build) -> dict[str, Any]:
    """TrainJob: what the trainer block takes goes there; pod settings go in a runtime patch,
    whose pod spec accepts service account, security context, placement and volumes, and whose
    container accepts env, security context and volume mounts only."""
    spec = spec_of(build)
    annotations = topology_annotations(build)
    pod = node_pod(build, container=TRAINER_JOB, command=list(spec.command), args=spec.args)
    main = pod["containers"][0]
    if spec.retries:
        build.warn(
            "a TrainJob has no retry field (the runtime's JobSet failure policy decides); "
            "retries is not applied",
            path=("retries",),
            hint="use framework pytorch or mpi for retries",
        )
    if spec.network.rdma:
        build.warn(
            "a TrainJob cannot set hostNetwork: the RDMA volumes, privilege and NCCL variables "
            f"are patched in, but the {TORCH_RUNTIME!r} runtime must run on the host network",
            path=("network", "rdma"),
            hint="use framework pytorch or mpi for the full RoCE v2 pattern",
        )
    if main.get("volumeDevices"):
        build.warn(
            "a TrainJob runtime patch cannot add volumeDevices: block mounts are not applied",
            path=("mounts",),
        )
    trainer: dict[str, Any] = {"image": spec.image, "command": list(spec.command)}
    if spec.args:
        trainer["args"] = list(spec.args)
    if main.get("env"):
        trainer["env"] = main["env"]
    trainer["numNodes"] = spec.nodes
    gpus = gpus_per_node(spec)
    if gpus:
        trainer["numProcPerNode"] = gpus
    if main.get("resources"):
        trainer["resourcesPerNode"] = main["resources"]
    container: dict[str, Any] = {"name": TRAINER_JOB, "securityContext": main["securityContext"]}
    if main.get("volumeMounts"):
        container["volumeMounts"] = main["volumeMounts"]
    patched: dict[str, Any] = {
        k: pod[k] for k in ("serviceAccountName", "securityContext") if k in pod
    }
    patched["containers"] = [container]
    patched |= {k: pod[k] for k in ("nodeSelector", "tolerations", "volumes") if k in pod}
    job_template = template(build, patched, annotations)
    patch = {
        "manager": PATCH_MANAGER,
        "trainingRuntimeSpec": {
            "template": {
                "spec": {
                    "replicatedJobs": [
                        {"name": TRAINER_JOB, "template": {"spec": {"template": job_template}}}
                    ]
                }
            }
        },
    }
    return _object(
        build,
        "trainer.kubeflow.org/v1alpha1",
        "TrainJob",
        {
            "runtimeRef": {
                "name": TORCH_RUNTIME,
                "apiGroup": "trainer.kubeflow.org",
                "kind": "ClusterTrainingRuntime",
            },
            "suspend": queued(build),
            **_deadline(build),
            "trainer": trainer,
            "runtimePatches": [patch],
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
    worker = node_pod(build, container="ray-worker", command=None, args=None)
    return _object(
        build,
        "ray.io/v1",
        "RayJob",
        {
            "entrypoint": shlex.join([*spec.command, *(spec.args or [])]),
            "shutdownAfterJobFinishes": True,
            "backoffLimit": spec.retries,
            **_deadline(build),
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
                        "template": template(build, worker, annotations),
                    }
                ],
            },
        },
    )


BUILDERS: Mapping[str, Callable[[Build], dict[str, Any]]] = {
    "mpi": mpi_job,
    "pytorch": pytorch_job,
    "trainer": train_job,
    "ray": ray_job,
}


def compile_training(build: Build) -> None:
    spec = spec_of(build)
    warn_unsourced_shape(build)
    job = BUILDERS[spec.framework](build)
    for account in identity_account(spec.identity, build.ctx.namespace, job["metadata"]["labels"]):
        build.objects.add(account)
    build.objects.add(job)
