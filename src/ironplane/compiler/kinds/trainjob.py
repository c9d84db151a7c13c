"""TrainingJob with ``framework: trainer`` → a Kubeflow Trainer v2 TrainJob on a TrainingRuntime of
its own.

The runtime (``trainer.kubeflow.org/v1alpha1`` TrainingRuntime, in the workspace, named like the
app) holds the whole node pod, built like every framework's (``training_pods.node_pod``): host
networking and the RoCE v2 pattern with RDMA, the init container that downloads ``oci://``
weights, the raw device of ``block://`` weights and the command that mounts it, volumes, GPUs and
placement, and the Kueue topology annotation. A TrainJob's ``runtimePatches`` cannot carry most
of that (no ``hostNetwork``, no new init or sidecar container, no ``volumeDevices``, and the
container's command only through ``trainer``), and patching the shared ``torch-distributed``
ClusterTrainingRuntime would inherit its restricted security context, next to which a
privileged container is refused.

The TrainJob refers to its runtime and says how many nodes and processes per node; Kueue admits
it through the queue label (it reads the pod sets from the referenced runtime). The runtime is
applied before the TrainJob (``wire.manifests.KIND_RANK``) and pruned with it.
"""

from __future__ import annotations

from typing import Any

from ironplane.compiler.core import Build
from ironplane.compiler.kinds.training_pods import (
    KIND,
    deadline,
    gpus_per_node,
    node_pod,
    queued,
    spec_of,
    template,
    topology_annotations,
    training_object,
)
from ironplane.compiler.labels import metadata, owned

API_VERSION = "trainer.kubeflow.org/v1alpha1"
NODE = "node"
"""The replicated job and container of a torch runtime: the Trainer's torch plugin sets the
PET_* rendezvous variables on the container of this name."""
ANCESTOR = "trainer.kubeflow.org/trainjob-ancestor-step"
"""The Job-template label by which the Trainer finds the job its ``trainer`` block applies to."""
FRAMEWORK = "trainer.kubeflow.org/framework"


def training_runtime(build: Build) -> dict[str, Any]:
    """The TrainingRuntime: a JobSet of one replicated job whose pods are the training nodes.

    ``retries`` restart the whole JobSet (every node, as a distributed run needs); a failed pod
    fails its Job at once (``backoffLimit: 0``) rather than being retried alone.
    """
    spec = spec_of(build)
    pod = node_pod(build, container=NODE, command=list(spec.command), args=spec.args)
    pod["restartPolicy"] = "Never"  # not JobSet's default OnFailure: no restart in place
    job_set: dict[str, Any] = {}
    if spec.retries:
        job_set["failurePolicy"] = {"maxRestarts": spec.retries}
    job_set["replicatedJobs"] = [
        {
            "name": NODE,
            "template": {
                "metadata": {"labels": {ANCESTOR: "trainer"}},
                "spec": {
                    "backoffLimit": 0,
                    "template": template(build, pod, topology_annotations(build)),
                },
            },
        }
    ]
    # Ownership only: the TrainJob is what Kueue queues.
    labels = owned(spec.name, build.ctx.namespace, KIND, build.version) | {FRAMEWORK: "torch"}
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingRuntime",
        "metadata": metadata(spec.name, namespace=build.ctx.namespace, labels=labels),
        "spec": {
            "mlPolicy": {"numNodes": spec.nodes, "torch": {}},
            "template": {"spec": job_set},
        },
    }


def train_job(build: Build) -> list[dict[str, Any]]:
    """The runtime, then the TrainJob that runs on it."""
    spec = spec_of(build)
    runtime = training_runtime(build)
    trainer: dict[str, Any] = {"numNodes": spec.nodes}
    gpus = gpus_per_node(spec)
    if gpus:
        trainer["numProcPerNode"] = gpus
    job = training_object(
        build,
        API_VERSION,
        "TrainJob",
        {
            "runtimeRef": {
                "name": runtime["metadata"]["name"],
                "apiGroup": "trainer.kubeflow.org",
                "kind": "TrainingRuntime",
            },
            "suspend": queued(build),
            **deadline(build),
            "trainer": trainer,
        },
    )
    return [runtime, job]
