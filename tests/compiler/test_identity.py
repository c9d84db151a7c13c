"""OKE Workload Identity: every kind with `identity` gets its ServiceAccount, and the spec's
permissions become the IAM policy statements."""

from __future__ import annotations

import pytest

from ironplane.core.errors import InvalidError, SpecError
from ironplane.oci.identity import policy_statements
from tests.compiler.helpers import compile_text, find, pod_of

IDENTITY = "identity: {service_account: reader, permissions: ['read objects in compartment ml']}\n"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            "kind: Service\nname: api\nworkspace: prod\nimage: example/api:1\n"
            "ports: [{port: 8000}]\n" + IDENTITY,
            "Deployment",
        ),
        (
            "kind: Job\nname: nightly\nworkspace: prod\nimage: example/job:1\n"
            "command: [run]\n" + IDENTITY,
            "CronJob",
        ),
        (
            "kind: TrainingJob\nname: fine-tune\nworkspace: training\nframework: pytorch\n"
            "image: example/train:1\ncommand: [torchrun, t.py]\nnodes: 2\n"
            "resources: {gpu: {count: 8, type: H100}}\nqueue: q\n" + IDENTITY,
            "PyTorchJob",
        ),
    ],
)
def test_identity_creates_the_service_account_the_pods_run_as(text: str, kind: str) -> None:
    compiled = compile_text(text)
    account = find(compiled, "ServiceAccount", "reader")
    ns = account["metadata"]["namespace"]
    assert account["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ironplane"
    obj = next(o for o in compiled.bundle.objects if o["kind"] == kind)
    assert obj["metadata"]["namespace"] == ns
    if kind == "PyTorchJob":
        pods = [r["template"]["spec"] for r in obj["spec"]["pytorchReplicaSpecs"].values()]
    else:
        pods = [pod_of(obj)]
    for pod in pods:
        assert pod["serviceAccountName"] == "reader"
        assert pod["automountServiceAccountToken"] is True


def test_permissions_must_be_iam_verbs() -> None:
    bad = IDENTITY.replace("read objects in compartment ml", "grant everything")
    with pytest.raises(SpecError) as failed:
        compile_text(
            "kind: Job\nname: nightly\nworkspace: prod\nimage: example/job:1\ncommand: [run]\n"
            + bad
        )
    assert "'<verb> <resource> in <location>'" in failed.value.message


def test_policy_statements() -> None:
    [line] = policy_statements(
        namespace="prod",
        service_account="reader",
        cluster_ocid="ocid1.cluster.oc1.iad.aaaa",
        permissions=["read objects in compartment ml"],
    )
    assert line == (
        "Allow any-user to read objects in compartment ml where all "
        "{request.principal.type = 'workload', request.principal.namespace = 'prod', "
        "request.principal.service_account = 'reader', "
        "request.principal.cluster_id = 'ocid1.cluster.oc1.iad.aaaa'}"
    )
    [template] = policy_statements(
        namespace="prod", service_account="reader", cluster_ocid=None, permissions=[]
    )
    assert "<verb> <resource> in <location>" in template and "'<cluster-ocid>'" in template
    with pytest.raises(InvalidError):
        policy_statements(
            namespace="x' or 'a", service_account="r", cluster_ocid=None, permissions=[]
        )


def test_a_permission_cannot_smuggle_a_second_line() -> None:
    bad = IDENTITY.replace(
        "['read objects in compartment ml']", '["manage all-resources in tenancy\\n"]'
    )
    with pytest.raises(SpecError):
        compile_text(
            "kind: Job\nname: nightly\nworkspace: prod\nimage: example/job:1\ncommand: [run]\n"
            + bad
        )
    with pytest.raises(InvalidError):
        policy_statements(
            namespace="prod",
            service_account="r",
            cluster_ocid=None,
            permissions=["manage all-resources in tenancy\nAllow any-user to manage x"],
        )
