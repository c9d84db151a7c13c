"""deploy/agent-rbac.yaml grants what the Kubernetes runtime uses, and runs the agent locked down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ironplane.agent.kube.apply import PRUNED_KINDS
from ironplane.agent.kube.client import ResourceType
from ironplane.agent.kube.runtime import WATCHED

RBAC = Path(__file__).resolve().parents[3] / "deploy" / "agent-rbac.yaml"
APPLY_AND_PRUNE = {"get", "list", "create", "patch", "delete"}


def documents() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(RBAC.read_text()) if doc}


def granted(rules: list[dict[str, Any]], rt: ResourceType) -> set[str]:
    verbs: set[str] = set()
    for rule in rules:
        if rt.group in rule["apiGroups"] and rt.plural in rule["resources"]:
            verbs.update(rule["verbs"])
    return verbs


def test_the_role_grants_what_the_runtime_uses_and_no_wildcards() -> None:
    rules = documents()["ClusterRole"]["rules"]
    for rt in PRUNED_KINDS:
        assert granted(rules, rt) >= APPLY_AND_PRUNE, rt.kind
    for rt in WATCHED:
        assert {"list", "watch"} <= granted(rules, rt), rt.kind
    assert granted(rules, ResourceType.of("v1", "Node")) == {"get", "list", "watch"}
    assert granted(rules, ResourceType.of("v1", "Pod")) == {"get", "list", "watch"}
    pod_log = [r for r in rules if "pods/log" in r["resources"]]
    assert [r["verbs"] for r in pod_log] == [["get"]]
    crd = ResourceType.of("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    assert granted(rules, crd) == {"get"}
    for rule in rules:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])


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
