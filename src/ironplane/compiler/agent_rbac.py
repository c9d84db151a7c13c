"""The agent's least-privilege ClusterRole: the one table of its rules, each with why it exists.

`ironplane cluster install-agent` renders it, and ``deploy/agent-rbac.yaml`` is generated from it
(``agent_install.reference_manifest``; a test keeps the file identical). Every rule lists only
the verbs the agent's code uses (``src/ironplane/agent/kube``):

* create + patch: server-side apply (a PATCH that creates the object when it is absent);
  ``create`` also starts job runs (a POST), ``patch`` also acts on what runs (restart, rollout
  promote/abort, stopping a run);
* get: reading one object back (CRDs waited on, pod logs, a run's template);
* list + watch: the watches statuses and job runs come from, and the lists prune reads;
* delete: prune, of owned objects (label ``app.kubernetes.io/managed-by=ironplane``) that are no
  longer desired.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ALL = ("get", "list", "watch", "create", "patch", "delete")
"""Applied, pruned and watched."""
WRITTEN = ("get", "list", "create", "patch", "delete")
"""Applied and pruned, never watched."""
READ = ("get", "list", "watch")
"""Watched, never written."""


@dataclass(frozen=True, slots=True)
class Rule:
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str = ""
    """Comment lines written above the rule (none when the rule above explains it)."""
    resource_names: tuple[str, ...] = ()
    """Only these objects (none: every object of the resources)."""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "apiGroups": list(self.api_groups),
            "resources": list(self.resources),
            "verbs": list(self.verbs),
        }
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        return out


RULES: tuple[Rule, ...] = (
    Rule(
        ("",),
        ("namespaces",),
        ALL,
        "Workspaces are namespaces: applied, watched (their status), pruned with everything in "
        "them.",
    ),
    Rule(
        ("",),
        ("services", "persistentvolumeclaims"),
        ALL,
        "Services and claims: applied and pruned; watched, as app status (claims Pending/Bound).",
    ),
    Rule(
        ("",),
        ("serviceaccounts", "configmaps", "secrets"),
        WRITTEN,
        "Accounts, configuration and the Secrets `ironplane-secret-<group>` the agent writes: "
        "applied and pruned, never watched.",
    ),
    Rule(
        ("",),
        ("pods",),
        READ,
        "Pods are the controllers' (never written): watched for status and events, read for "
        "logs; every pod bound to a node is watched for the GPUs in use.",
    ),
    Rule(("",), ("pods/log",), ("get",)),
    Rule(
        ("",),
        ("nodes",),
        READ,
        "The inventory: node names, labels (GPU shape, oci.oraclecloud.com/rdma.* topology), "
        "readiness and allocatable GPUs.",
    ),
    Rule(
        ("apps",),
        ("deployments",),
        ALL,
        "Deployments: applied, pruned, watched for status; `patch` also restarts them (the pod "
        "template annotation kubectl.kubernetes.io/restartedAt, as `kubectl rollout restart`).",
    ),
    Rule(
        ("apps",),
        ("statefulsets",),
        WRITTEN,
        "StatefulSets: applied and pruned (no status from them yet).",
    ),
    Rule(
        ("batch",),
        ("jobs", "cronjobs"),
        ALL,
        "Jobs and CronJobs: applied, pruned, watched (a CronJob's phase is its last Job's). Job "
        "runs without Argo Workflows: `create` a Job from the CronJob's template (`jobs run`), "
        "`patch` it suspended (`jobs stop`); `get` reads the template and the run.",
    ),
    Rule(
        ("autoscaling",),
        ("horizontalpodautoscalers",),
        READ,
        "The HPAs KEDA makes for ScaledObjects (labelled like them): watched for the current and "
        "desired replicas. Never written.",
    ),
    Rule(
        ("apiextensions.k8s.io",),
        ("customresourcedefinitions",),
        ("get",),
        "A converge that applies a CRD waits until it is Established. The agent does not install "
        "CRDs itself: operators' CRDs are the platform's (grant create/patch here if yours "
        "should).",
    ),
    Rule(
        ("argoproj.io",),
        ("rollouts",),
        ALL,
        "Custom resources the compiler emits for the operators it targets (Argo Rollouts, KEDA, "
        "Kueue, the training operators, KubeRay): applied and pruned like built-in kinds. A rule "
        "for an API the cluster does not serve grants nothing.\n"
        "Argo Rollouts: Rollouts applied, pruned and watched (step, weights, pauses); `patch` "
        "also restarts one (spec.restartAt) and unpauses it (spec.paused), as `kubectl argo "
        "rollouts` does.",
    ),
    Rule(
        ("argoproj.io",),
        ("rollouts/status",),
        ("patch",),
        "promote and abort write status fields (pauseConditions, currentStepIndex, promoteFull, "
        "abort) through the status subresource, as the kubectl plugin does.",
    ),
    Rule(("argoproj.io",), ("analysistemplates",), WRITTEN),
    Rule(
        ("argoproj.io",),
        ("analysisruns",),
        READ,
        "The Rollouts controller's AnalysisRuns (no Ironplane labels: matched to their Rollout "
        "by ownerReference): watched for the analysis' phase and measurements. Never written.",
    ),
    Rule(
        ("argoproj.io",),
        ("workflowtemplates", "cronworkflows"),
        ALL,
        "Argo Workflows: a Job's run template (WorkflowTemplate) and schedule (CronWorkflow) are "
        "applied, pruned and watched (the job's status).",
    ),
    Rule(
        ("argoproj.io",),
        ("workflows",),
        ("get", "list", "watch", "create", "patch"),
        "Job runs: `create` one (`jobs run`), `patch` spec.shutdown (`jobs stop`, as `argo "
        "stop`), watched for their phase. Runs are not desired state: never deleted by the "
        "agent.",
    ),
    Rule(
        ("keda.sh",),
        ("scaledobjects",),
        ALL,
        "KEDA: ScaledObjects are also watched (the scaling status: active, paused, ready).",
    ),
    Rule(("keda.sh",), ("scaledjobs", "triggerauthentications"), WRITTEN),
    Rule(
        ("monitoring.coreos.com",),
        ("servicemonitors", "podmonitors"),
        WRITTEN,
        "Prometheus Operator monitors (compiler/monitoring.py): applied and pruned.",
    ),
    Rule(
        ("networking.istio.io",),
        ("virtualservices", "destinationrules", "gateways"),
        WRITTEN,
        "Istio exposure: VirtualService (Argo Rollouts rewrites its route weights), "
        "DestinationRule, and a per-app Gateway for TLS.",
    ),
    Rule(
        ("rbac.authorization.k8s.io",),
        ("roles", "rolebindings"),
        WRITTEN,
        "A Job on Argo Workflows gets a Role letting its pods' executor record results; granting "
        "a permission needs holding it (RBAC's escalation check), hence workflowtaskresults "
        "here.",
    ),
    Rule(("argoproj.io",), ("workflowtaskresults",), ("create", "patch")),
    Rule(
        ("kueue.x-k8s.io",),
        ("localqueues", "workloads", "clusterqueues", "resourceflavors", "topologies"),
        WRITTEN,
    ),
    Rule(("kubeflow.org",), ("mpijobs", "pytorchjobs"), WRITTEN),
    Rule(("trainer.kubeflow.org",), ("trainjobs", "trainingruntimes"), WRITTEN),
    Rule(
        ("kyverno.io",),
        ("clusterpolicies",),
        WRITTEN,
        "The admission policy that keeps privileged RDMA pods in privileged workspaces: a "
        "Kyverno ClusterPolicy, or a ValidatingAdmissionPolicy and its binding where Kyverno is "
        "not installed.",
    ),
    Rule(
        ("admissionregistration.k8s.io",),
        ("validatingadmissionpolicies", "validatingadmissionpolicybindings"),
        WRITTEN,
    ),
    Rule(("ray.io",), ("rayjobs", "rayclusters", "rayservices"), WRITTEN),
)

BOOTSTRAP_RULES: tuple[Rule, ...] = (
    Rule(
        ("argoproj.io",),
        ("applications",),
        WRITTEN,
        "Cluster bootstrap (compiler/bootstrap): the root Argo CD Application of the add-on "
        "stack, applied and pruned (Argo CD itself creates the add-ons' Applications).",
    ),
    Rule(
        ("rbac.authorization.k8s.io",),
        ("clusterrolebindings",),
        WRITTEN,
        "Cluster bootstrap: the binding of the Argo CD installer Job's ServiceAccount to "
        "cluster-admin (installing Argo CD creates cluster-wide roles), and binding that role "
        "needs `bind` on it (RBAC's escalation check). Together they let the agent grant "
        "cluster-admin; unused where Argo CD is brought (bootstrap.existing.argo-cd).",
    ),
    Rule(
        ("rbac.authorization.k8s.io",),
        ("clusterroles",),
        ("bind",),
        resource_names=("cluster-admin",),
    ),
)
"""What `ironplane cluster bootstrap` needs on top, in the separate ClusterRole
``ironplane-agent-bootstrap`` that `install-agent --bootstrap` adds. Opt-in: together these let
the agent grant cluster-admin, which an agent that only follows apps never needs (nor one whose
cluster brings its own Argo CD: ``bootstrap.existing.argo-cd``)."""


def rules(table: tuple[Rule, ...] = RULES) -> list[dict[str, Any]]:
    """A ClusterRole's ``rules``, as the API takes them (the agent's, by default)."""
    return [rule.as_dict() for rule in table]


def _comment(text: str, indent: str, width: int = 100) -> list[str]:
    """``# ``-lines of at most ``width`` characters; ``\\n`` starts a new comment paragraph."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and len(indent) + 2 + len(candidate) > width:
                out.append(f"{indent}# {line}")
                line = word
            else:
                line = candidate
        out.append(f"{indent}# {line}")
    return out


def rules_yaml(table: tuple[Rule, ...] = RULES) -> str:
    """The ``rules:`` block of a ClusterRole as YAML, each rule under its comment."""
    indent = "  "
    lines = ["rules:"]
    for rule in table:
        if rule.why:
            lines += _comment(rule.why, indent)
        lines += [
            f"{indent}- apiGroups: {json.dumps(list(rule.api_groups))}",
            f"{indent}  resources: {json.dumps(list(rule.resources))}",
            f"{indent}  verbs: {json.dumps(list(rule.verbs))}",
        ]
        if rule.resource_names:
            lines.append(f"{indent}  resourceNames: {json.dumps(list(rule.resource_names))}")
    return "\n".join(lines) + "\n"
