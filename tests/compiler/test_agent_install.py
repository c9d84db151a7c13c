"""``ironplane cluster install-agent``'s objects: valid on every supported Kubernetes, locked
down, the RBAC of deploy/agent-rbac.yaml, a NetworkPolicy with the stated egress only."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from ironplane.agent.settings import from_env
from ironplane.compiler import agent_install as ai
from ironplane.compiler.agent_rbac import BOOTSTRAP_RULES, rules
from ironplane.core.errors import InvalidError

Validate = Callable[[Sequence[dict[str, Any]]], None]
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "agent-rbac.yaml"
TOKEN = "ipt_0123456789abcdef_" + "s" * 43
DEFAULT = ai.AgentInstall(
    cluster="edge-one", control_plane_url="https://ironplane.example.com", token=TOKEN
)
OCI = ai.AgentInstall(
    cluster="oke-prod",
    control_plane_url="https://10.20.0.7:8443/ironplane/",
    token=TOKEN,
    image="iad.ocir.io/acme/ironplane@sha256:" + "a" * 64,
    namespace="platform-agents",
    api_server_cidrs=("10.0.0.0/28", "10.0.0.16/28"),
)


def objects(install: ai.AgentInstall) -> dict[str, dict[str, Any]]:
    return {obj["kind"]: obj for _, obj in ai.install_objects(install)}


def pod(install: ai.AgentInstall) -> dict[str, Any]:
    return objects(install)["Deployment"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("install", [DEFAULT, OCI], ids=["default", "oci"])
def test_every_object_validates_on_every_supported_kubernetes(
    install: ai.AgentInstall, validated: Validate
) -> None:
    rendered = [obj for _, obj in ai.install_objects(install)]
    assert [o["kind"] for o in rendered] == [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Secret",
        "NetworkPolicy",
        "Deployment",
    ]
    validated(rendered)
    # What the files and the stream hold is exactly these objects (comments aside).
    files = ai.install_files(install)
    assert [yaml.safe_load(files[name]) for name, _ in ai.install_objects(install)] == rendered
    assert list(yaml.safe_load_all(ai.install_stream(install))) == rendered


def test_the_kustomization_lists_exactly_the_object_files() -> None:
    files = ai.install_files(OCI)
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(set(files) - {"kustomization.yaml"})
    assert len(kustomization["resources"]) == len(files) - 1


def test_every_object_is_in_the_namespace_and_labelled_but_never_pruned_by_the_agent() -> None:
    for _, obj in ai.install_objects(OCI):
        meta = obj["metadata"]
        if obj["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert "namespace" not in meta
        else:
            assert meta["namespace"] == "platform-agents"
        assert meta["labels"]["ironplane.dev/cluster"] == "oke-prod"
        # The agent prunes what carries managed-by=ironplane: it must never prune itself.
        assert "app.kubernetes.io/managed-by" not in meta["labels"]
    assert objects(OCI)["Namespace"]["metadata"]["name"] == "platform-agents"
    binding = objects(OCI)["ClusterRoleBinding"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "ironplane-agent", "namespace": "platform-agents"}
    ]


def test_the_rbac_is_deploy_agent_rbac_yaml_and_the_file_is_generated_from_it() -> None:
    text = DEPLOY.read_text()
    deployed = {d["kind"]: d for d in yaml.safe_load_all(text) if d}
    assert objects(DEFAULT)["ClusterRole"]["rules"] == deployed["ClusterRole"]["rules"] == rules()
    assert text == ai.reference_manifest(), (
        "deploy/agent-rbac.yaml is generated: run\n  .venv/bin/python -c 'from "
        "ironplane.compiler.agent_install import reference_manifest as r; "
        'open("deploy/agent-rbac.yaml", "w").write(r())\''
    )
    # The ClusterRole file keeps each rule's comment.
    role = ai.install_files(DEFAULT)["clusterrole.yaml"]
    assert "# Pods are the controllers' (never written)" in role
    assert yaml.safe_load(role)["rules"] == rules()


def test_the_bootstrap_role_is_opt_in_and_deploy_has_it_apart() -> None:
    names = [name for name, _ in ai.install_objects(DEFAULT)]
    assert "clusterrole-bootstrap.yaml" not in names
    everything = rules()
    assert not any(
        "bind" in r["verbs"] or "clusterrolebindings" in r["resources"] for r in everything
    )
    assert not any("applications" in r["resources"] for r in everything)
    with_bootstrap = replace(DEFAULT, bootstrap=True)
    rendered = dict(ai.install_objects(with_bootstrap))
    role = rendered["clusterrole-bootstrap.yaml"]
    binding = rendered["clusterrolebinding-bootstrap.yaml"]
    assert role["metadata"]["name"] == binding["roleRef"]["name"] == ai.BOOTSTRAP_ROLE
    assert role["rules"] == rules(BOOTSTRAP_RULES)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "ironplane-agent", "namespace": "ironplane-system"}
    ]
    files = ai.install_files(with_bootstrap)
    kustomization = yaml.safe_load(files[ai.KUSTOMIZATION])
    assert "clusterrole-bootstrap.yaml" in kustomization["resources"]
    assert "can grant cluster-admin" in ai.reference_bootstrap_manifest()
    deployed = (DEPLOY.parent / "agent-bootstrap-rbac.yaml").read_text()
    assert deployed == ai.reference_bootstrap_manifest(), (
        "deploy/agent-bootstrap-rbac.yaml is generated from agent_install."
        "reference_bootstrap_manifest()"
    )


def test_the_reference_manifest_validates(validated: Validate) -> None:
    validated(ai.reference_objects())
    validated([obj for _, obj in ai.install_objects(replace(DEFAULT, bootstrap=True))])


def test_the_deployment_runs_one_locked_down_agent_from_the_secret() -> None:
    found = objects(OCI)
    spec = found["Deployment"]["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    template = spec["template"]
    assert template["metadata"]["annotations"] == {"ironplane.dev/agent-token": "0123456789abcdef"}
    p = template["spec"]
    assert p["serviceAccountName"] == found["ServiceAccount"]["metadata"]["name"]
    assert p["securityContext"]["runAsNonRoot"] is True
    assert p["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = p["containers"]
    assert container["image"] == OCI.image
    assert "ports" not in container
    assert container["securityContext"] == {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["resources"]["limits"]["memory"]
    env = {e["name"]: e for e in container["env"]}
    ref = env["IRONPLANE_AGENT_TOKEN"]["valueFrom"]["secretKeyRef"]
    secret = found["Secret"]
    assert ref["name"] == secret["metadata"]["name"]
    assert base64.b64decode(secret["data"][ref["key"]]).decode() == TOKEN
    # The agent's own settings reader accepts exactly what the Deployment gives it.
    values = {name: e["value"] for name, e in env.items() if "value" in e}
    settings = from_env({**values, "IRONPLANE_AGENT_TOKEN": TOKEN})
    assert settings.server_url == "https://10.20.0.7:8443/ironplane"
    assert settings.runtime == "kubernetes"
    assert settings.websocket_url == "wss://10.20.0.7:8443/ironplane/api/v1/agent/connect"
    assert container["command"] == ["ironplane", "agent"]
    # Alive while the agent's /healthz answers: on the port the agent is told to serve it.
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 9464}
    assert settings.metrics_port == 9464


def test_a_new_token_changes_the_pod_template_so_apply_rolls_the_agent() -> None:
    other = replace(OCI, token="ipt_fedcba9876543210_" + "t" * 43)
    before, after = objects(OCI)["Deployment"], objects(other)["Deployment"]
    assert before["spec"]["template"] != after["spec"]["template"]
    assert objects(other)["Secret"] != objects(OCI)["Secret"]


def egress(install: ai.AgentInstall) -> list[dict[str, Any]]:
    policy = objects(install)["NetworkPolicy"]
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "ironplane-agent"}}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in spec  # Ingress in policyTypes and no rule: nothing may come in
    return spec["egress"]  # type: ignore[no-any-return]


DNS = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
API_PORTS = [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]


def test_the_network_policy_allows_only_dns_the_control_plane_and_the_api_server() -> None:
    assert egress(OCI) == [
        DNS,
        {
            "to": [{"ipBlock": {"cidr": "10.20.0.7/32"}}],
            "ports": [{"protocol": "TCP", "port": 8443}],
        },
        {
            "to": [{"ipBlock": {"cidr": "10.0.0.0/28"}}, {"ipBlock": {"cidr": "10.0.0.16/28"}}],
            "ports": API_PORTS,
        },
    ]
    # A DNS name and no CIDRs given: the ports only, to any address (and a warning).
    assert egress(DEFAULT) == [
        DNS,
        {"ports": [{"protocol": "TCP", "port": 443}]},
        {"ports": API_PORTS},
    ]
    warnings = " ".join(ai.notes(DEFAULT))
    assert "--control-plane-cidr" in warnings and "--api-server" in warnings
    assert ai.notes(OCI) == []


def test_control_plane_addresses_from_the_option_or_the_url() -> None:
    narrowed = replace(DEFAULT, control_plane_cidrs=("192.0.2.0/24", "2001:db8::/64"))
    assert egress(narrowed)[1]["to"] == [
        {"ipBlock": {"cidr": "192.0.2.0/24"}},
        {"ipBlock": {"cidr": "2001:db8::/64"}},
    ]
    v6 = replace(DEFAULT, control_plane_url="http://[2001:db8::5]")
    assert egress(v6)[1] == {
        "to": [{"ipBlock": {"cidr": "2001:db8::5/128"}}],
        "ports": [{"protocol": "TCP", "port": 80}],
    }
    assert any("not https" in n for n in ai.notes(v6))
    single = replace(DEFAULT, api_server_cidrs=("10.0.0.5", "10.0.0.5/32"))
    assert egress(single)[2]["to"] == [{"ipBlock": {"cidr": "10.0.0.5/32"}}]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"control_plane_url": "ironplane.example.com"}, "must start with https://"),
        ({"control_plane_url": "ftp://ironplane.example.com"}, "must start with https://"),
        ({"control_plane_url": "https://"}, "names no host"),
        ({"control_plane_url": "https://a:b@cp.example.com"}, "credentials"),
        ({"control_plane_url": "https://cp.example.com:99999"}, "out of range"),
        ({"control_plane_url": "https://cp.example.com/?x=1"}, "no query"),
        ({"api_server_cidrs": ("10.0.0.300/24",)}, "--api-server '10.0.0.300/24'"),
        ({"api_server_cidrs": ("10.0.0.5/24",)}, "did you mean 10.0.0.0/24?"),
        ({"control_plane_cidrs": ("cp.example.com",)}, "--control-plane-cidr"),
        ({"namespace": "Ironplane"}, "namespace 'Ironplane'"),
        ({"cluster": "no_such"}, "cluster 'no_such'"),
        ({"image": "not an image"}, "not a container image"),
        ({"token": "hunter2-secret"}, "not an Ironplane token"),
    ],
)
def test_bad_options_are_refused_with_the_option_named(
    change: dict[str, Any], message: str
) -> None:
    bad = replace(DEFAULT, **change)
    with pytest.raises(InvalidError) as refused:
        ai.install_files(bad)
    assert message in refused.value.message
    assert "hunter2" not in refused.value.message  # a bad token is never echoed


def test_options_are_checked_without_a_token_but_the_install_needs_one() -> None:
    ai.check(replace(OCI, token=None))
    with pytest.raises(InvalidError):
        ai.check(replace(OCI, token=None, api_server_cidrs=("nope",)))
    with pytest.raises(InvalidError, match="needs the cluster's agent token"):
        ai.install_objects(replace(OCI, token=None))


def test_the_token_is_in_the_secret_file_only() -> None:
    files = ai.install_files(OCI)
    secret_part = TOKEN.split("_", 2)[2]
    holders = [name for name, text in files.items() if secret_part in text]
    encoded = base64.b64encode(TOKEN.encode()).decode()
    holders += [name for name, text in files.items() if encoded in text]
    assert holders == ["secret.yaml"]
    assert "Keep this file private" in files["secret.yaml"]


def test_the_agent_may_reach_its_clusters_prometheus() -> None:
    in_cluster = replace(DEFAULT, prometheus_url="http://prometheus-operated.monitoring.svc:9090")
    egress = objects(in_cluster)["NetworkPolicy"]["spec"]["egress"]
    assert egress[-1] == {
        "to": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
        "ports": [{"protocol": "TCP", "port": 9090}],
    }
    by_address = replace(DEFAULT, prometheus_url="https://10.0.4.9/")
    assert objects(by_address)["NetworkPolicy"]["spec"]["egress"][-1] == {
        "to": [{"ipBlock": {"cidr": "10.0.4.9/32"}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }
    assert len(objects(DEFAULT)["NetworkPolicy"]["spec"]["egress"]) == 3  # none declared
    outside = replace(DEFAULT, prometheus_url="https://prom.example.com:9090")
    assert len(objects(outside)["NetworkPolicy"]["spec"]["egress"]) == 3
    assert any("cannot name the Prometheus" in n for n in ai.notes(outside))


def test_every_install_object_validates_on_every_supported_kubernetes(crd_dir: Path) -> None:
    from ironplane.validation import SUPPORTED_KUBE_VERSIONS
    from tests.conftest import validate_manifests

    full = replace(
        OCI, bootstrap=True, prometheus_url="http://prometheus-operated.monitoring.svc:9090"
    )
    objs = [obj for _, obj in ai.install_objects(full)] + ai.reference_objects()
    validate_manifests(objs, crd_dir, SUPPORTED_KUBE_VERSIONS)
