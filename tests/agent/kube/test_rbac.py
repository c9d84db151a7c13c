"""deploy/agent-rbac.yaml grants what the Kubernetes runtime uses, and runs the agent locked down.

Checked two ways: statically (the kinds the runtime applies, prunes and watches) and by replaying
every request the runtime made against the fake API server in a session that uses each feature
(converge, statuses, logs, restart, promote, abort, job runs) through the ClusterRole's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ironplane.agent.kube import KubeRuntime
from ironplane.agent.kube.apply import PRUNED_KINDS
from ironplane.agent.kube.client import ResourceType
from ironplane.agent.kube.runtime import ANALYSIS_RUNS, RUN_KINDS, WATCHED
from tests.agent.kube import crd_objects as c
from tests.agent.kube import objects as o
from tests.agent.kube.conftest import Cluster

RBAC = Path(__file__).resolve().parents[3] / "deploy" / "agent-rbac.yaml"
BOOTSTRAP_RBAC = RBAC.parent / "agent-bootstrap-rbac.yaml"
APPLY_AND_PRUNE = {"get", "list", "create", "patch", "delete"}


def documents() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(RBAC.read_text()) if doc}


def granted(rules: list[dict[str, Any]], rt: ResourceType) -> set[str]:
    verbs: set[str] = set()
    for rule in rules:
        if rt.group in rule["apiGroups"] and rt.plural in rule["resources"]:
            verbs.update(rule["verbs"])
    return verbs


def bootstrap_rules() -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(BOOTSTRAP_RBAC.read_text()) if d]
    return list(next(d for d in docs if d["kind"] == "ClusterRole")["rules"])


BOOTSTRAP_KINDS = {"Application", "ClusterRoleBinding"}
"""Applied (and pruned) only by a bootstrapped cluster's agent, under the opt-in role."""


def test_the_role_grants_what_the_runtime_uses_and_no_wildcards() -> None:
    rules = documents()["ClusterRole"]["rules"]
    for rt in PRUNED_KINDS:
        if rt.kind in BOOTSTRAP_KINDS:
            assert not granted(rules, rt), f"{rt.kind} belongs to the opt-in bootstrap role"
            assert granted(bootstrap_rules(), rt) >= APPLY_AND_PRUNE, rt.kind
            continue
        assert granted(rules, rt) >= APPLY_AND_PRUNE, rt.kind
    for rt in (*WATCHED, ANALYSIS_RUNS, *RUN_KINDS):
        assert {"list", "watch"} <= granted(rules, rt), rt.kind
    # What the agent reads but never writes, and what it creates but never deletes.
    hpa = ResourceType.of("autoscaling/v2", "HorizontalPodAutoscaler")
    assert granted(rules, hpa) == {"get", "list", "watch"}
    assert granted(rules, ANALYSIS_RUNS) == {"get", "list", "watch"}
    workflows = ResourceType.of("argoproj.io/v1alpha1", "Workflow")
    assert granted(rules, workflows) == {"get", "list", "watch", "create", "patch"}
    status = [r for r in rules if "rollouts/status" in r["resources"]]
    assert [(r["apiGroups"], r["verbs"]) for r in status] == [(["argoproj.io"], ["patch"])]
    assert granted(rules, ResourceType.of("v1", "Node")) == {"get", "list", "watch"}
    assert granted(rules, ResourceType.of("v1", "Pod")) == {"get", "list", "watch"}
    pod_log = [r for r in rules if "pods/log" in r["resources"]]
    assert [r["verbs"] for r in pod_log] == [["get"]]
    crd = ResourceType.of("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    assert granted(rules, crd) == {"get"}
    for rule in rules:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        assert not {"escalate", "impersonate"} & set(rule["verbs"])
    assert not [r for r in rules if "bind" in r["verbs"]], "the agent's own role binds nothing"
    # `bind` only in the opt-in bootstrap role, for the Argo CD installer, on cluster-admin alone
    # and in a rule of its own.
    rules = bootstrap_rules()
    binds = [r for r in rules if "bind" in r["verbs"]]
    assert binds == [
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "verbs": ["bind"],
            "resourceNames": ["cluster-admin"],
        }
    ]
    application = ResourceType.of("argoproj.io/v1alpha1", "Application")
    binding = ResourceType.of("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")
    assert granted(rules, application) == APPLY_AND_PRUNE  # applied and pruned, not watched
    assert granted(rules, binding) == APPLY_AND_PRUNE
    assert granted(rules, ResourceType.of("rbac.authorization.k8s.io/v1", "ClusterRole")) == {
        "bind"
    }


def test_the_agent_runs_locked_down_and_reads_its_token_from_a_secret() -> None:
    docs = documents()
    binding = docs["ClusterRoleBinding"]
    account = docs["ServiceAccount"]["metadata"]
    assert binding["roleRef"]["name"] == docs["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert "ports" not in container
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    env = {e["name"]: e for e in container["env"]}
    assert "secretKeyRef" in env["IRONPLANE_AGENT_TOKEN"]["valueFrom"]
    assert env["IRONPLANE_SERVER_URL"]["value"].startswith("https://")
    assert "Service" not in docs


def allowed(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(
        group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
        for rule in rules
    )


# The fake's verbs as RBAC (resource suffix, verbs): server-side apply needs patch, and create
# when the object is new.
RBAC_VERBS = {
    "apply": ("", ("patch", "create")),
    "patch": ("", ("patch",)),
    "patch-status": ("/status", ("patch",)),
    "create": ("", ("create",)),
    "get": ("", ("get",)),
    "list": ("", ("list",)),
    "watch": ("", ("watch",)),
    "delete": ("", ("delete",)),
    "log": ("/log", ("get",)),
}


@pytest.mark.anyio
async def test_every_request_the_runtime_makes_is_granted(
    cluster: Cluster, runtime: KubeRuntime
) -> None:
    fake = cluster.need_fake()
    ws = cluster.namespace()
    rollout = c.canary_rollout(ws, "web")
    paused = c.rollout_status(
        phase="Paused", step=1, pauseConditions=[{"reason": "CanaryPauseStep"}]
    )
    cronjob = c.run_cronjob(ws, "etl")
    desired = [
        o.namespace(ws),
        rollout,
        c.scaled_object(ws, "web"),
        o.deployment(ws, "api"),
        c.workflow_template(ws, "train"),
        c.cron_workflow(ws, "train"),
        cronjob,
        o.pvc(ws, "data"),
    ]
    await runtime.converge(desired)
    fake.set_status("Rollout", ws, "web", paused)
    fake.add_pod(ws, "api-1", labels=o.pod_labels(ws, "api"))
    fake.add_pod(ws, "r2-abc", labels={"batch.kubernetes.io/job-name": "r2"})
    fake.add_node("gpu-1", gpus=8)
    await runtime.statuses()
    await runtime.runs()
    await runtime.inventory()
    await runtime.logs(ws, "api", 10)
    await runtime.restart(ws, "api")
    await runtime.restart(ws, "web")
    await runtime.promote(ws, "web", full=False)
    await runtime.promote(ws, "web", full=True)
    await runtime.abort(ws, "web")
    await runtime.run_job(ws, "train", "r1", {})
    await runtime.run_job(ws, "etl", "r2", {})
    await runtime.stop_run(ws, "train", "r1")
    await runtime.stop_run(ws, "etl", "r2")
    await runtime.run_logs(ws, "etl", "r2", 10)
    await runtime.converge([o.namespace(ws)])  # prunes the rest

    rules = documents()["ClusterRole"]["rules"]
    used = {(call.verb, call.group, call.plural) for call in fake.calls}
    assert {verb for verb, _, _ in used} == set(RBAC_VERBS)  # every kind of request was made
    # Prune lists the opt-in bootstrap kinds too; without that role they answer 403, which the
    # agent takes as "none of it is ours" (test_prune_skips_kinds_the_role_may_not_list).
    bootstrap = {
        ("list", "argoproj.io", "applications"),
        ("list", "rbac.authorization.k8s.io", "clusterrolebindings"),
    }
    assert bootstrap <= used
    for verb, group, plural in sorted(used - bootstrap):
        suffix, needs = RBAC_VERBS[verb]
        for need in needs:
            assert allowed(rules, group, plural + suffix, need), (verb, group, plural)


@pytest.mark.anyio
async def test_prune_skips_kinds_the_role_may_not_list(
    cluster: Cluster, runtime: KubeRuntime
) -> None:
    """An agent installed without the bootstrap role gets 403 listing Applications and
    ClusterRoleBindings: it cannot own any, so prune goes on with the other kinds."""
    fake = cluster.need_fake()
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.deployment(ws, "api")])
    fake.fail_next("list", kind="Application", code=403, reason="Forbidden", times=2)
    fake.fail_next("list", kind="ClusterRoleBinding", code=403, reason="Forbidden", times=2)
    await runtime.converge([o.namespace(ws)])  # prunes the Deployment despite the 403s
    assert fake.get("Deployment", ws, "api") is None
    # A kind the desired state holds is not excused: its 403 is an error.
    fake.fail_next("list", kind="Deployment", code=403, reason="Forbidden")
    with pytest.raises(Exception, match="cannot list Deployment"):
        await runtime.converge([o.namespace(ws), o.deployment(ws, "api")])
