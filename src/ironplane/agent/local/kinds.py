"""Which owned objects the local runtime keeps without running, and which it cannot run at all.

The local runtime runs Deployments, Jobs and CronJobs (``model``). A few built-in kinds need no
process and are simply kept (namespaces, accounts, services, secrets, config, claims, RBAC,
Prometheus monitors).
Every other owned kind would do something on a Kubernetes cluster — an Argo ``Rollout`` runs the
app's pods, a ``WorkflowTemplate`` is the job's run template, a KEDA ``ScaledObject`` scales, a
training operator's object runs the training — so keeping it quietly would make an app look
healthy while part of it never happens. Such an object is reported ``NotRunnable`` with what it
needs and how to get something that runs locally (usually: the local cluster declares no add-ons).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PASSIVE: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "Namespace"),
        ("", "ServiceAccount"),
        ("", "Service"),
        ("", "Secret"),
        ("", "ConfigMap"),
        ("", "PersistentVolumeClaim"),
        ("", "LimitRange"),
        ("", "ResourceQuota"),
        ("rbac.authorization.k8s.io", "*"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("policy", "PodDisruptionBudget"),
        ("scheduling.k8s.io", "PriorityClass"),
        # Scrape configuration: the app runs the same without a Prometheus to read it.
        ("monitoring.coreos.com", "ServiceMonitor"),
        ("monitoring.coreos.com", "PodMonitor"),
    }
)
"""(API group, kind) kept without a process: nothing of them needs to run locally."""


def _addon(what: str, addon: str, instead: str) -> str:
    return (
        f"{what}; {instead}. If this is the local cluster, remove `{addon}` from its `addons` "
        "(the local runtime has no add-ons) and apply again"
    )


_ROLLOUTS = _addon(
    "canary and blue-green rollouts need Argo Rollouts",
    "argo-rollouts",
    "the local runtime runs one version of an app at a time (the app then compiles to a "
    "Deployment, which runs here and rolls out at once)",
)
_WORKFLOWS = _addon(
    "job runs through Argo Workflows are not run locally",
    "argo-workflows",
    "the local runtime runs a job from its CronJob (the job then compiles to one)",
)
_TRAINING = (
    "multi-node training needs {operator} on a Kubernetes cluster; the local runtime does not "
    "run TrainingJobs. Run it on such a cluster, or try the command locally as a Job"
)

# API group -> kind (or "*") -> why it cannot run locally and what to do instead.
_REASONS: Mapping[str, Mapping[str, str]] = {
    "argoproj.io": {
        "Rollout": _ROLLOUTS,
        "AnalysisTemplate": _ROLLOUTS,
        "ClusterAnalysisTemplate": _ROLLOUTS,
        "AnalysisRun": _ROLLOUTS,
        "Experiment": _ROLLOUTS,
        "WorkflowTemplate": _WORKFLOWS,
        "ClusterWorkflowTemplate": _WORKFLOWS,
        "Workflow": _WORKFLOWS,
        "CronWorkflow": _WORKFLOWS,
        "*": _addon("Argo CD objects are not applied locally", "argo-cd", "nothing syncs here"),
    },
    "keda.sh": {
        "*": _addon(
            "autoscaling needs KEDA",
            "keda",
            "the local runtime runs the declared replicas",
        )
    },
    "autoscaling": {
        "*": "autoscaling is not done locally; the local runtime runs the declared replicas"
    },
    "kueue.x-k8s.io": {
        "*": _addon("queueing needs Kueue", "kueue", "the local runtime starts work at once")
    },
    "kubeflow.org": {
        "MPIJob": _TRAINING.format(operator="the MPI operator"),
        "*": _TRAINING.format(operator="the Kubeflow training operator"),
    },
    "trainer.kubeflow.org": {"*": _TRAINING.format(operator="Kubeflow Trainer")},
    "ray.io": {"*": _TRAINING.format(operator="KubeRay")},
    "networking.istio.io": {
        "*": _addon(
            "traffic routing needs Istio",
            "istio",
            "locally an app is reached on its port at 127.0.0.1",
        )
    },
    "security.istio.io": {
        "*": _addon("Istio policies need Istio", "istio", "the local runtime has no mesh")
    },
    "kyverno.io": {
        "*": _addon(
            "admission policies need Kyverno", "kyverno", "the local runtime admits everything"
        )
    },
    "admissionregistration.k8s.io": {
        "*": "admission policies are enforced by a Kubernetes API server; the local runtime "
        "has none and admits everything"
    },
    "monitoring.coreos.com": {
        "*": _addon("monitoring needs the Prometheus operator", "prometheus", "nothing scrapes")
    },
    "apps": {"*": "the local runtime runs Deployments, Jobs and CronJobs only"},
    "": {"*": "the local runtime runs Deployments, Jobs and CronJobs only"},
}


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def not_runnable(obj: Mapping[str, Any]) -> str | None:
    """Why an owned object that is not a local workload cannot run here, in a sentence that says
    what to do; None for the kinds that need nothing to run (``PASSIVE``)."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    group = _group(api_version)
    if (group, kind) in PASSIVE or (group, "*") in PASSIVE:
        return None
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    name = str(meta.get("name", ""))
    where = f"{meta['namespace']}/{name}" if meta.get("namespace") else name
    reasons = _REASONS.get(group, {})
    reason = (
        reasons.get(kind)
        or reasons.get("*")
        or ("the local runtime does not know this kind and cannot run it")
    )
    return f"{kind} {where} ({api_version}) is not run locally: {reason}"
