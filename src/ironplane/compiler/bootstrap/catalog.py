"""The add-on catalog of ``ironplane cluster bootstrap``: one Argo CD Application per component,
each with a pinned source, its namespace's add-on, and its sync wave.

Every pin names where it was confirmed. "Upstream" is the project release whose CRDs the tests
validate against (the k8s-schemas test data, SOURCES.md); where no file of the chart repository
itself could be read, the pin cites the third-party record that ran ``helm search``/``helm show
chart`` against the chart repository, and docs/bootstrap.md says so.

Sync waves, lowest first; Argo CD syncs a wave only when every Application of the waves before
is Healthy (with the Application health check in argocd-cm, see ``values.py``):

0. argo-cd: Argo CD takes itself over from the installer Job before anything else.
1. the CRD providers others need: kube-prometheus-stack (ServiceMonitor and PodMonitor, used by
   the charts below that ship monitors), istio-base (Istio's CRDs), victoria-logs.
2. istiod (after istio-base), the GPU operator (device plugin, GPU Feature Discovery labels,
   DCGM exporter), Kyverno, KEDA, Argo Rollouts, Argo Workflows, Vector (after VictoriaLogs).
3. the ingress gateway (after istiod, whose webhook injects it); the job operators whose CRDs
   Kueue integrates with: MPI Operator, Kubeflow Trainer, KubeRay.
4. Kueue: after the GPU operator (the node labels the ResourceFlavors select) and after the job
   operators (its integrations find their CRDs at start), and after Prometheus (its monitor).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ARGO_HELM = "https://argoproj.github.io/argo-helm"
ISTIO_CHARTS = "https://istio-release.storage.googleapis.com/charts"


@dataclass(frozen=True, slots=True)
class Source:
    """One Argo CD Application source: a Helm chart (``chart``) or a kustomize path (``path``)."""

    repo_url: str
    revision: str
    """The chart version, or the git tag."""
    chart: str | None = None
    path: str | None = None
    oci: bool = False
    """A Helm chart in an OCI registry: Argo CD needs a repository entry with enableOCI."""


@dataclass(frozen=True, slots=True)
class Component:
    """One Application of the stack."""

    name: str
    """The Application's name (and the Helm release name)."""
    addon: str
    """The Cluster add-on it belongs to (istio has three components, victoria-logs two)."""
    sources: tuple[Source, ...]
    app_version: str
    wave: int
    pinned_from: str
    """Where the pin was confirmed: repository and file."""
    privileged: bool = False
    """Its pods need the privileged Pod Security level (host network, host paths)."""
    sync_options: tuple[str, ...] = field(default_factory=tuple)
    """Beyond CreateNamespace=true and ServerSideApply=true."""


ARGO_CD_CHART = Source(ARGO_HELM, "10.4.0", chart="argo-cd")
ARGO_CD_RELEASE = "argocd"
"""The Helm release the installer Job creates and the argo-cd Application takes over."""
ARGOCD_APPS_CHART = Source(ARGO_HELM, "2.0.2", chart="argocd-apps")
"""The root Application renders its children with argoproj/argo-helm charts/argocd-apps
(values ``applications`` map; pin: argoproj/argo-helm tag argocd-apps-2.0.2,
charts/argocd-apps/Chart.yaml, cited by several public Terraform modules)."""
HELM_IMAGE = "docker.io/alpine/helm:3.17.3"
"""The installer Job's image: Helm 3.17.3 on Alpine (docker.io/alpine/helm, tag 3.17.3)."""

COMPONENTS: tuple[Component, ...] = (
    Component(
        "argo-cd",
        "argo-cd",
        (ARGO_CD_CHART,),
        "v3.5.1",
        0,
        # Argo CD v3.5.1 (argoproj/argo-cd, the Application CRD in SOURCES.md). Chart 10.4.0 ↔
        # appVersion v3.5.1: argoproj/argo-helm charts/argo-cd/Chart.yaml at tag argo-cd-10.4.0
        # (not in the stored index; seen through `helm search repo argo/argo-cd` in third-party
        # records of 2026-08-18 and 2026-09-01, which also show 10.5.0 ↔ v3.5.2).
        "argoproj/argo-helm charts/argo-cd/Chart.yaml @ argo-cd-10.4.0 (third-party record)",
    ),
    Component(
        "kube-prometheus-stack",
        "prometheus",
        (
            Source(
                "https://prometheus-community.github.io/helm-charts",
                "88.2.0",
                chart="kube-prometheus-stack",
            ),
        ),
        "v0.93.0",
        1,
        # prometheus-operator v0.93.0 (SOURCES.md). prometheus-community/helm-charts
        # charts/kube-prometheus-stack/Chart.yaml 88.2.0: appVersion v0.93.0, kubeVersion
        # >=1.25.0-0 (`helm show chart` output quoted in two third-party records, 2026-08).
        "prometheus-community/helm-charts charts/kube-prometheus-stack/Chart.yaml @ 88.2.0",
        privileged=True,
    ),
    Component(
        "istio-base",
        "istio",
        (Source(ISTIO_CHARTS, "1.30.3", chart="base"),),
        "1.30.3",
        1,
        # istio/istio 1.30.3 manifests/charts/base (the CRD file of SOURCES.md is this chart's
        # files/crd-all.gen.yaml); chart version = Istio version.
        "istio/istio manifests/charts/base/Chart.yaml @ 1.30.3",
        sync_options=("RespectIgnoreDifferences=true",),
    ),
    Component(
        "victoria-logs",
        "victoria-logs",
        (
            Source(
                "https://victoriametrics.github.io/helm-charts/",
                "0.13.7",
                chart="victoria-logs-single",
            ),
        ),
        "unconfirmed",
        1,
        # VictoriaMetrics/helm-charts charts/victoria-logs-single: 0.13.7 seen through `helm
        # show values vm/victoria-logs-single --version 0.13.7` in a third-party record; its
        # appVersion was not confirmed.
        "VictoriaMetrics/helm-charts charts/victoria-logs-single/Chart.yaml @ 0.13.7 (unconfirmed)",
    ),
    Component(
        "istiod",
        "istio",
        (Source(ISTIO_CHARTS, "1.30.3", chart="istiod"),),
        "1.30.3",
        2,
        "istio/istio manifests/charts/istio-control/istio-discovery/Chart.yaml @ 1.30.3",
        sync_options=("RespectIgnoreDifferences=true",),
    ),
    Component(
        "gpu-operator",
        "gpu-operator",
        (Source("https://helm.ngc.nvidia.com/nvidia", "v26.3.3", chart="gpu-operator"),),
        "v26.3.3",
        2,
        # NVIDIA/gpu-operator deployments/gpu-operator/Chart.yaml v26.3.3: `helm template
        # gpu-operator gpu-operator --repo https://helm.ngc.nvidia.com/nvidia --version v26.3.3`
        # in two third-party records (2026). No GPU-operator CRD is in SOURCES.md.
        "NVIDIA/gpu-operator deployments/gpu-operator/Chart.yaml @ v26.3.3 (third-party record)",
        privileged=True,
    ),
    Component(
        "kyverno",
        "kyverno",
        (Source("https://kyverno.github.io/kyverno/", "3.9.0", chart="kyverno"),),
        "v1.19.0",
        2,
        # Kyverno v1.19.0 (SOURCES.md). kyverno/kyverno charts/kyverno/Chart.yaml 3.9.0 ↔
        # appVersion v1.19.0 (Big Bang's mirror of the chart, 3.9.0-bb.0, states AppVersion
        # v1.19.0).
        "kyverno/kyverno charts/kyverno/Chart.yaml @ kyverno-chart-3.9.0",
    ),
    Component(
        "keda",
        "keda",
        (Source("https://kedacore.github.io/charts", "2.20.2", chart="keda"),),
        "2.20.2",
        2,
        # KEDA v2.20.2 (SOURCES.md). kedacore/charts keda/Chart.yaml: chart version = KEDA
        # version (keda-2.19.0 ↔ 2.19.0); `helm upgrade --install keda kedacore/keda --version
        # 2.20.2` in several third-party records.
        "kedacore/charts keda/Chart.yaml @ v2.20.2",
    ),
    Component(
        "argo-rollouts",
        "argo-rollouts",
        (Source(ARGO_HELM, "2.41.1", chart="argo-rollouts"),),
        "v1.9.1",
        2,
        # Argo Rollouts v1.9.1 (SOURCES.md). argoproj/argo-helm charts/argo-rollouts/Chart.yaml
        # at tag argo-rollouts-2.41.1: "argo-rollouts-2.41.1 shipped tracking appVersion
        # v1.9.1" (third-party record, 2026-07-20; 2.41.0 ↔ v1.9.0).
        "argoproj/argo-helm charts/argo-rollouts/Chart.yaml @ argo-rollouts-2.41.1",
    ),
    Component(
        "argo-workflows",
        "argo-workflows",
        (Source(ARGO_HELM, "1.1.1", chart="argo-workflows"),),
        "v4.1.2",
        2,
        # Argo Workflows v4.1.2 (SOURCES.md). argoproj/argo-helm argo-workflows-1.1.1 "support
        # Argo Workflows v4.1 features" (release notes); its own appVersion was not confirmed,
        # so the images are pinned to v4.1.2 in the values (images.tag).
        "argoproj/argo-helm charts/argo-workflows/Chart.yaml @ argo-workflows-1.1.1 "
        "(appVersion unconfirmed; images.tag pinned)",
    ),
    Component(
        "vector",
        "victoria-logs",
        (Source("https://helm.vector.dev", "0.46.0", chart="vector"),),
        "0.50.0",
        2,
        # vectordotdev/helm-charts charts/vector 0.46.0 ("maps to app version 0.50.0") in a
        # third-party record; not confirmed against the chart repository.
        "vectordotdev/helm-charts charts/vector/Chart.yaml @ 0.46.0 (unconfirmed)",
        privileged=True,
    ),
    Component(
        "istio-ingressgateway",
        "istio",
        (Source(ISTIO_CHARTS, "1.30.3", chart="gateway"),),
        "1.30.3",
        3,
        "istio/istio manifests/charts/gateway/Chart.yaml @ 1.30.3",
    ),
    Component(
        "mpi-operator",
        "mpi-operator",
        (
            Source(
                "https://github.com/kubeflow/mpi-operator.git",
                "v0.8.0",
                path="manifests/overlays/standalone",
            ),
        ),
        "v0.8.0",
        3,
        # kubeflow/mpi-operator v0.8.0 (SOURCES.md): no Helm chart upstream; the kustomize
        # overlay manifests/overlays/standalone (namespace mpi-operator) at the tag.
        "kubeflow/mpi-operator manifests/overlays/standalone/kustomization.yaml @ v0.8.0",
    ),
    Component(
        "kubeflow-trainer",
        "trainer",
        (
            Source("ghcr.io/kubeflow/charts", "2.3.0", chart="kubeflow-trainer", oci=True),
            # The ClusterTrainingRuntimes (torch-distributed...) are not in the chart: the
            # release notes install them from this overlay. They serve TrainJobs made outside
            # Ironplane; Ironplane's run on a TrainingRuntime of their own.
            Source(
                "https://github.com/kubeflow/trainer.git",
                "v2.3.0",
                path="manifests/overlays/runtimes",
            ),
        ),
        "v2.3.0",
        3,
        # kubeflow/trainer v2.3.0 (SOURCES.md). `helm install kubeflow-trainer
        # oci://ghcr.io/kubeflow/charts/kubeflow-trainer --version <X.Y.Z>` (kubeflow/trainer
        # release notes and charts/kubeflow-trainer/README.md, seen for 2.1.0 and 2.2.0).
        "kubeflow/trainer charts/kubeflow-trainer/Chart.yaml @ v2.3.0",
        sync_options=("SkipDryRunOnMissingResource=true",),
    ),
    Component(
        "kuberay-operator",
        "kuberay",
        (Source("https://ray-project.github.io/kuberay-helm/", "1.7.0", chart="kuberay-operator"),),
        "v1.7.0",
        3,
        # KubeRay v1.7.0 (SOURCES.md; its CRDs are the chart's helm-chart/kuberay-operator/crds
        # at the tag). Chart kuberay-operator-1.7.0 in third-party install guides.
        "ray-project/kuberay helm-chart/kuberay-operator/Chart.yaml @ v1.7.0",
    ),
    Component(
        "kueue",
        "kueue",
        (Source("registry.k8s.io/kueue/charts", "0.19.2", chart="kueue", oci=True),),
        "v0.19.2",
        4,
        # Kueue v0.19.2 (SOURCES.md). kubernetes-sigs/kueue charts/kueue, published as
        # oci://registry.k8s.io/kueue/charts/kueue with the version without its v (platform
        # research 3.3: oci-hpc-oke pins 0.18.2 that way).
        "kubernetes-sigs/kueue charts/kueue/Chart.yaml @ v0.19.2",
    ),
)
