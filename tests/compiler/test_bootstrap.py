"""The cluster bootstrap's rendering (compiler/bootstrap): every object valid against the pinned
CRDs and Kubernetes 1.33 and 1.37, sync waves in dependency order, values fitting the profile,
existing add-ons left out with Ironplane's configuration following them, and the root
Application holding exactly the children."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from ironplane.compiler.bootstrap import plan
from ironplane.compiler.bootstrap.catalog import COMPONENTS, Component
from ironplane.compiler.bootstrap.files import plan_files
from ironplane.compiler.bootstrap.render import Plan
from ironplane.compiler.bootstrap.values import APPLICATION_HEALTH
from ironplane.compiler.cluster import spec_objects
from ironplane.compiler.labels import MANAGED_BY
from ironplane.core.errors import SpecError
from ironplane.spec.kinds import ClusterSpec
from ironplane.spec.loading import load_texts

Validate = Callable[[Sequence[dict[str, Any]]], None]

OCI = "kind: Cluster\nname: oke-prod\nprovider: oci\nregion: us-ashburn-1\n"
GENERIC = "kind: Cluster\nname: lab\nprovider: generic\n"


def cluster(text: str) -> ClusterSpec:
    [doc] = load_texts([("cluster.yaml", text)])
    assert isinstance(doc.spec, ClusterSpec)
    return doc.spec


def planned(text: str) -> Plan:
    found = plan(cluster(text))
    assert found is not None
    return found


def children(found: Plan) -> dict[str, dict[str, Any]]:
    return {a["metadata"]["name"]: a for a in found.applications}


def values(app: dict[str, Any]) -> dict[str, Any]:
    source = app["spec"].get("source") or app["spec"]["sources"][0]
    result: dict[str, Any] = source["helm"].get("valuesObject", {})
    return result


CASES = {
    "oci": OCI + "bootstrap: {}\n",
    "oci with extras": OCI + "bootstrap: {extras: [victoria-logs]}\n",
    "generic": GENERIC + "bootstrap: {profile: generic, extras: [victoria-logs]}\n",
    "generic, existing": GENERIC
    + "bootstrap:\n  existing:\n    argo-cd: {namespace: gitops}\n"
    + "    prometheus: {namespace: obs, endpoint: 'https://prom.example.com:9090/'}\n"
    + "    istio: {namespace: mesh}\n    gpu-operator: {namespace: nvidia}\n"
    + "  skip: [kuberay]\n",
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_every_rendered_object_validates_on_kubernetes_1_33_to_1_37(
    text: str, crd_dir: Path
) -> None:
    from ironplane.validation import SUPPORTED_KUBE_VERSIONS
    from tests.conftest import validate_manifests

    found = planned(text)
    # What the agent applies (with the profile's objects) and every child Application.
    objects = [*spec_objects(cluster(text)), *found.applications]
    assert len(SUPPORTED_KUBE_VERSIONS) == 5  # 1.33 … 1.37
    validate_manifests(objects, crd_dir, SUPPORTED_KUBE_VERSIONS)


def wave(app: dict[str, Any]) -> int:
    return int(app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])


def test_sync_waves_follow_the_dependencies() -> None:
    apps = children(planned(OCI + "bootstrap: {extras: [victoria-logs]}\n"))
    w = {name: wave(app) for name, app in apps.items()}
    before = [
        # Argo CD takes itself over before anything else syncs.
        *[("argo-cd", other) for other in w if other != "argo-cd"],
        # The ServiceMonitor/PodMonitor CRDs before every chart that makes monitors.
        *[
            ("kube-prometheus-stack", c)
            for c in ("gpu-operator", "kueue", "argo-rollouts", "argo-workflows", "keda")
        ],
        # Istio: CRDs, then the control plane, then the gateway it injects.
        ("istio-base", "istiod"),
        ("istiod", "istio-ingressgateway"),
        # Kueue after the GPU operator (the node labels its flavors select) and after the job
        # operators whose CRDs its integrations look for at start.
        ("gpu-operator", "kueue"),
        ("mpi-operator", "kueue"),
        ("kubeflow-trainer", "kueue"),
        ("kuberay-operator", "kueue"),
        ("victoria-logs", "vector"),
    ]
    wrong = [(a, b) for a, b in before if not w[a] < w[b]]
    assert wrong == [], w


def test_the_root_holds_exactly_the_children_and_waits_for_their_health() -> None:
    found = planned(OCI + "bootstrap: {}\n")
    [root] = [o for o in found.objects if o["kind"] == "Application"]
    assert root["spec"]["source"]["chart"] == "argocd-apps"
    entries = root["spec"]["source"]["helm"]["valuesObject"]["applications"]
    assert set(entries) == set(children(found))
    for name, app in children(found).items():
        entry = entries[name]
        # What argocd-apps renders from the entry is the child Application.
        assert entry["namespace"] == app["metadata"]["namespace"]
        assert entry["additionalAnnotations"] == app["metadata"]["annotations"]
        assert entry["additionalLabels"] == app["metadata"]["labels"]
        assert {
            k: v for k, v in entry.items() if not k.startswith(("additional", "namespace"))
        } == (app["spec"])
    # Argo CD waits for each wave only with the Application health check in argocd-cm.
    argo = values(children(found)["argo-cd"])
    assert "obj.status.health.status" in argo["configs"]["cm"][APPLICATION_HEALTH]
    # The installer Job installs Argo CD with exactly these values: the takeover is a no-op.
    [config] = [o for o in found.objects if o["kind"] == "ConfigMap"]
    assert json.loads(config["data"]["values.yaml"]) == argo


def test_every_application_syncs_automatically_with_server_side_apply_and_retries() -> None:
    found = planned(OCI + "bootstrap: {extras: [victoria-logs]}\n")
    [root] = [o for o in found.objects if o["kind"] == "Application"]
    for app in [root, *found.applications]:
        policy = app["spec"]["syncPolicy"]
        assert policy["automated"] == {"prune": True, "selfHeal": True}
        assert {"ServerSideApply=true", "CreateNamespace=true"} <= set(policy["syncOptions"])
        assert policy["retry"]["limit"] > 0 and policy["retry"]["backoff"]["factor"] > 1
        # No resources finalizer: pruning a child never uninstalls an add-on by surprise.
        assert "finalizers" not in app["metadata"]


def pinned(component: Component) -> bool:
    return all(
        s.revision and s.revision not in ("latest", "HEAD", "main", "master", "*")
        for s in component.sources
    )


def test_every_chart_is_pinned_with_its_source() -> None:
    assert all(pinned(c) for c in COMPONENTS)
    assert all(c.pinned_from for c in COMPONENTS)
    for app in planned(OCI + "bootstrap: {extras: [victoria-logs]}\n").applications:
        sources = app["spec"].get("sources") or [app["spec"]["source"]]
        for source in sources:
            assert source["targetRevision"][0].isdigit() or source["targetRevision"][0] == "v"
            assert ("chart" in source) != ("path" in source)


def test_ownership_the_agent_prunes_its_objects_argo_cd_its_children() -> None:
    found = planned(OCI + "bootstrap: {}\n")
    for obj in found.objects:
        labels = obj["metadata"].get("labels", {})
        if obj["kind"] == "Namespace":
            # Argo CD's namespace is created but never pruned (it would take Argo CD along).
            assert MANAGED_BY not in labels
        else:
            assert labels.get(MANAGED_BY) == "ironplane", obj["metadata"]["name"]
    for app in found.applications:
        # Not the agent's: it would prune them (they are not in its desired set).
        assert MANAGED_BY not in app["metadata"]["labels"]


def test_the_installer_installs_the_pinned_argo_cd_once() -> None:
    found = planned(OCI + "bootstrap: {}\n")
    [job] = [o for o in found.objects if o["kind"] == "Job"]
    [binding] = [o for o in found.objects if o["kind"] == "ClusterRoleBinding"]
    pod = job["spec"]["template"]["spec"]
    script = pod["containers"][0]["command"][-1]
    argo = children(found)["argo-cd"]["spec"]["source"]
    assert f"--version {argo['targetRevision']}" in script and argo["chart"] in script
    assert "helm status" in script and "exit 0" in script  # skipped once deployed
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"]
    assert binding["roleRef"]["name"] == "cluster-admin"
    assert pod["securityContext"]["runAsNonRoot"] is True
    # A new pin makes a new Job (a Job's template cannot change).
    assert job["metadata"]["name"].startswith("ironplane-argocd-installer-")


def test_values_fit_the_profile() -> None:
    oci = children(planned(OCI + "bootstrap: {}\n"))
    generic = children(planned(GENERIC + "bootstrap: {}\n"))
    # OKE GPU images ship the driver and the container toolkit; elsewhere the operator installs.
    gpu = values(oci["gpu-operator"])
    assert gpu["driver"]["enabled"] is False and gpu["toolkit"]["enabled"] is False
    assert gpu["dcgmExporter"]["enabled"] is True and gpu["nfd"]["enabled"] is True
    assert values(generic["gpu-operator"])["driver"]["enabled"] is True
    assert values(generic["gpu-operator"])["toolkit"]["enabled"] is True
    gates = values(oci["kueue"])["controllerManager"]["featureGates"]
    assert {"name": "TopologyAwareScheduling", "enabled": True} in gates
    assert "controllerManager" not in values(generic["kueue"])
    # The GPU operator and the Prometheus stack need privileged namespaces.
    labels = oci["gpu-operator"]["spec"]["syncPolicy"]["managedNamespaceMetadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    prom = values(oci["kube-prometheus-stack"])["prometheus"]["prometheusSpec"]
    assert prom["serviceMonitorSelectorNilUsesHelmValues"] is False


def test_oci_helm_registries_get_repository_secrets() -> None:
    spec = cluster(OCI + "bootstrap: {}\n")
    found = plan(spec)
    assert found is not None and spec.bootstrap is not None
    secrets = [o for o in found.objects if o["kind"] == "Secret"]
    labels = {s["metadata"]["labels"]["argocd.argoproj.io/secret-type"] for s in secrets}
    assert labels == {"repository"}
    present = spec.bootstrap.present()
    oci_repos = {s.repo_url for c in COMPONENTS for s in c.sources if s.oci and c.addon in present}
    assert len(secrets) == len(oci_repos) == 2


def test_existing_addons_are_left_out_and_ironplane_follows_them() -> None:
    text = CASES["generic, existing"]
    spec = cluster(text)
    found = planned(text)
    names = set(children(found))
    assert not names & {"argo-cd", "kube-prometheus-stack", "istio-base", "istiod"}
    assert not names & {"istio-ingressgateway", "gpu-operator", "kuberay-operator"}
    assert {"kueue", "kyverno", "keda"} <= names
    # Argo CD brought: no installer, everything in its namespace.
    assert found.installs_argo_cd is False and found.argocd_namespace == "gitops"
    assert not [o for o in found.objects if o["kind"] in ("Job", "ClusterRoleBinding")]
    assert {o["metadata"].get("namespace") for o in found.objects if o["kind"] != "Gateway"} == {
        "gitops"
    }
    # Prometheus brought: analysis and autoscaling query it, the charts' monitors go there.
    assert spec.prometheus_url == "https://prom.example.com:9090/"
    assert values(children(found)["kueue"])["metrics"]["prometheusNamespace"] == "obs"
    # Istio brought: Ironplane's ingress Gateway lives in its namespace.
    assert spec.ingress_gateway == "mesh/ironplane-ingress"
    [gateway] = [o for o in found.objects if o["kind"] == "Gateway"]
    assert gateway["metadata"]["namespace"] == "mesh"
    # The GPU operator's namespace is exempt from the admission policy, wherever it runs.
    objects = spec_objects(spec)
    assert spec.addons.count("gpu-operator") == 1 and "kuberay" not in spec.addons
    assert "prometheus" in spec.addons and "argo-cd" in spec.addons
    assert objects == spec_objects(cluster(text))  # deterministic
    oci = cluster(OCI + "bootstrap:\n  existing:\n    gpu-operator: {namespace: nvidia}\n")
    # Kyverno is in the stack: the policy is its ClusterPolicy.
    [policy] = [o for o in spec_objects(oci) if o["kind"] == "ClusterPolicy"]
    assert "nvidia" in json.dumps(policy) and "monitoring" in json.dumps(policy)
    assert "gpu-operator" not in json.dumps(policy)


def test_a_users_own_gateway_is_not_created() -> None:
    found = planned(GENERIC + "ingress_gateway: edge/public\nbootstrap: {}\n")
    assert not [o for o in found.objects if o["kind"] == "Gateway"]


def test_the_files_are_the_root_the_installer_and_each_application() -> None:
    found = planned(OCI + "bootstrap: {}\n")
    files = dict(plan_files(found))
    kustomization = files.pop("kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(
        n for n, o in files.items() if not n.startswith(("application-", "gateway-"))
    )
    assert "root-ironplane-addons.yaml" in kustomization["resources"]
    apps = {n for n in files if n.startswith("application-")}
    assert apps == {f"application-{name}.yaml" for name in children(found)}


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            GENERIC + "bootstrap:\n  existing:\n    promethus: {namespace: obs}\n",
            "bootstrap.existing.promethus: not one of the allowed values",
            "did you mean 'prometheus'?",
        ),
        (
            GENERIC + "bootstrap:\n  existing:\n    prometheus: {namespace: o, endpoint: 'o:90'}\n",
            "bootstrap.existing.prometheus.endpoint: not an http(s) URL with a host",
            "try 'http://o:90'",
        ),
        (
            GENERIC + "bootstrap: {extras: [victoria-log]}\n",
            "bootstrap.extras[0]: not one of the allowed values",
            "did you mean 'victoria-logs'?",
        ),
        (
            GENERIC + "bootstrap: {profile: oci-bare-metal}\n",
            "bootstrap profile oci-bare-metal needs provider: oci",
            "use profile: generic",
        ),
        (
            GENERIC + "bootstrap:\n  skip: [kueue]\n  existing:\n    kueue: {namespace: k}\n",
            "'kueue' is both existing and skipped",
            "keep one of the two",
        ),
        (
            GENERIC
            + "prometheus_url: http://other:9090\nbootstrap:\n  existing:\n"
            + "    prometheus: {namespace: o, endpoint: 'http://p:9090'}\n",
            "differs from the existing Prometheus endpoint",
            "leave prometheus_url out",
        ),
    ],
)
def test_bad_bootstrap_sections_are_located_errors(text: str, message: str, hint: str) -> None:
    with pytest.raises(SpecError) as err:
        load_texts([("cluster.yaml", text)])
    [diagnostic] = err.value.diagnostics
    assert message in diagnostic.render() and hint in (diagnostic.hint or "")
    assert diagnostic.source == "cluster.yaml" and diagnostic.line is not None


def test_the_argo_cd_application_takes_over_the_installers_release() -> None:
    """Same release name and object names as the installer Job's `helm upgrade --install`, or
    the Application would install a second Argo CD beside the first."""
    from ironplane.compiler.bootstrap import plan as bootstrap_plan
    from ironplane.compiler.bootstrap.catalog import ARGO_CD_RELEASE

    spec = ClusterSpec.model_validate({"kind": "Cluster", "name": "ccc", "bootstrap": {}})
    found = bootstrap_plan(spec)
    assert found is not None and found.installs_argo_cd
    [app] = [a for a in found.applications if a["metadata"]["name"] == "argo-cd"]
    helm = app["spec"]["source"]["helm"]
    [job] = [o for o in found.objects if o["kind"] == "Job"]
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert f"helm upgrade --install {ARGO_CD_RELEASE} " in script
    assert helm["releaseName"] == ARGO_CD_RELEASE
    assert helm["valuesObject"]["fullnameOverride"] == "argocd"
    others = [a for a in found.applications if a["metadata"]["name"] == "keda"]
    assert others and others[0]["spec"]["source"]["helm"]["releaseName"] == "keda"
