"""Every kind the compiler can emit is listed for pruning, so that nothing is left behind when
the last object of a kind leaves the desired state while the agent was down."""

from __future__ import annotations

from ironplane.agent.kube.apply import PRUNED_KINDS
from ironplane.agent.kube.client import ResourceType
from ironplane.compiler import compile_documents
from ironplane.spec import load_files
from ironplane.spec.loading import load_texts
from tests.conftest import EXAMPLES

EVERYTHING = """\
kind: Cluster
name: full
provider: oci
addons: [istio, keda, argo-rollouts, argo-workflows, prometheus, kueue, mpi-operator,
         training-operator, trainer, kuberay, kyverno, gpu-operator]
---
kind: Workspace
name: gpu
cluster: full
gpu: true
privileged: true
queue: q
---
kind: Service
name: svc
workspace: gpu
image: x/y:1
ports: [{port: 8000, expose: {host: a.example.com, tls_secret: a-cert}}]
autoscaling: {min: 1, max: 3, metric: rps, target: 5}
metrics: {port: 9000}
rollout: {strategy: canary, analysis: {max_error_rate: 0.1}}
---
kind: Job
name: nightly
workspace: gpu
image: x/y:1
command: [a]
schedule: '0 2 * * *'
"""
TRAINING = """---
kind: TrainingJob
name: t-{fw}
workspace: gpu
framework: {fw}
image: x/y:1
command: [a]
nodes: 2
resources: {{gpu: {{count: 8, type: H100}}}}
"""


def test_every_compiled_kind_is_pruned() -> None:
    text = EVERYTHING + "".join(TRAINING.format(fw=f) for f in ("mpi", "pytorch", "trainer", "ray"))
    objects = [
        *compile_documents(load_files(sorted(EXAMPLES.glob("*.yaml")))).bundle.objects,
        *compile_documents(load_texts([("all.yaml", text)])).bundle.objects,
    ]
    emitted = {ResourceType.of_object(o).group_kind for o in objects}
    pruned = {rt.group_kind for rt in PRUNED_KINDS}
    assert len(emitted) > 25, emitted
    assert emitted <= pruned, f"not pruned after a restart: {sorted(emitted - pruned)}"
