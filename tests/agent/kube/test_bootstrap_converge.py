"""The cluster bootstrap through the agent: the Argo CD installer goes in first; the root
Application and the Istio Gateway fail their converge until Argo CD's and Istio's CRDs are
served, and converge once they are; removing the bootstrap prunes what the agent owns and
keeps Argo CD's namespace."""

from __future__ import annotations

import pytest

from ironplane.agent.kube import KubeRuntime
from ironplane.agent.kube.errors import KubeRuntimeError
from ironplane.compiler.bootstrap import bootstrap_objects
from ironplane.spec.loading import load_texts
from tests.agent.kube.conftest import Cluster
from tests.agent.kube.fakeapi import FakeKube, Object

pytestmark = pytest.mark.anyio

CLUSTER = """\
kind: Cluster
name: edge
bootstrap:
  skip: [gpu-operator]
"""


def stored(fake: FakeKube, kind: str, namespace: str | None, name: str) -> Object | None:
    try:
        return fake.get(kind, namespace, name)
    except KeyError:  # a custom kind without a CRD in the fake, and none of it stored
        return None


async def test_the_app_of_apps_converges_once_argo_cd_and_istio_are_served(
    cluster: Cluster, runtime: KubeRuntime
) -> None:
    fake = cluster.need_fake()
    fake.unserve("argoproj.io")  # Argo CD's CRDs come with the installer Job's helm install
    fake.unserve("networking.istio.io")  # Istio's with the istio-base Application
    spec = load_texts([("c.yaml", CLUSTER)])[0].spec
    objects = bootstrap_objects(spec)  # type: ignore[arg-type]
    [job] = [o for o in objects if o["kind"] == "Job"]

    with pytest.raises(KubeRuntimeError) as failed:
        await runtime.converge(objects)
    assert (
        failed.value.status == 404 and failed.value.target == "Application argocd/ironplane-addons"
    )
    # Everything the Application depends on went in before it: the installer can run.
    assert f"Job argocd/{job['metadata']['name']}" in fake.applied("Job")
    assert "ClusterRoleBinding ironplane-argocd-installer" in fake.applied("ClusterRoleBinding")
    assert len(fake.applied("Secret")) == 2  # the OCI repositories (kueue, kubeflow-trainer)

    fake.reinstate("argoproj.io")  # the Job installed Argo CD
    with pytest.raises(KubeRuntimeError) as failed:
        await runtime.converge(objects)
    assert failed.value.target == "Gateway istio-system/ironplane-ingress"
    root = fake.get("Application", "argocd", "ironplane-addons")
    assert root is not None
    children = root["spec"]["source"]["helm"]["valuesObject"]["applications"]
    assert "gpu-operator" not in children and "kueue" in children

    fake.reinstate("networking.istio.io")  # Argo CD synced istio-base, creating its namespace
    fake.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}})
    await runtime.converge(objects)
    assert fake.get("Gateway", "istio-system", "ironplane-ingress") is not None

    await runtime.converge([])  # the bootstrap section is removed
    assert stored(fake, "Application", "argocd", "ironplane-addons") is None
    assert fake.get("ClusterRoleBinding", None, "ironplane-argocd-installer") is None
    assert fake.get("Job", "argocd", job["metadata"]["name"]) is None
    assert fake.get("Namespace", None, "argocd") is not None  # never pruned: Argo CD lives on
