"""Service → Deployment + Service: scheduling, env, probes, mounts, identity, ownership."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ironplane.compiler import labels
from tests.compiler.helpers import compile_text, find, pod_of

Validate = Callable[[Sequence[dict[str, Any]]], None]

SERVICE = """\
kind: Service
name: chat-api
workspace: prod
image: registry.example.com/chat-api:1.4.2
command: [python, -m, chat_api]
env:
  LOG_LEVEL: info
  WORKERS: 4
  DEBUG: false
  OPENAI_API_KEY: {secret: llm/openai-key}
ports:
  - {port: 8000, protocol: http}
  - {port: 9000, protocol: grpc}
resources: {cpu: 0.5, memory: 4Gi, gpu: {count: 2, type: H100}}
replicas: 3
health:
  readiness: {path: /healthz, port: 8000, period: 5s}
  liveness: {port: 9000, initial_delay: 30s, failure_threshold: 5}
mounts:
  - {path: /data, volume: shared-data, sub_path: team-a}
  - {path: /dev/ro, volume: ro-block, read_only: true}
identity: {service_account: chat-sa}
"""


def test_deployment_shape(validated: Validate) -> None:
    compiled = compile_text(SERVICE)
    validated(compiled.bundle.objects)
    deploy = find(compiled, "Deployment", "chat-api")
    assert deploy["metadata"]["namespace"] == "prod"
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["selector"] == {"matchLabels": {labels.APP: "chat-api"}}
    # GPUs are scarce: no surge, replace one at a time.
    assert deploy["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    pod = pod_of(deploy)
    container = pod["containers"][0]
    assert container["command"] == ["python", "-m", "chat_api"]
    assert container["resources"] == {
        "limits": {"memory": "4Gi", "nvidia.com/gpu": "2"},
        "requests": {"cpu": "500m", "memory": "4Gi", "nvidia.com/gpu": "2"},
    }
    assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "BM.GPU.H100.8"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_env_values_and_secret_references() -> None:
    pod = pod_of(find(compile_text(SERVICE), "Deployment", "chat-api"))
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["WORKERS"] == {"name": "WORKERS", "value": "4"}
    assert env["DEBUG"] == {"name": "DEBUG", "value": "false"}
    assert env["OPENAI_API_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "ironplane-secret-llm", "key": "openai-key"}
    }
    # Workload identity on an OCI Enhanced cluster: the SDK's resource principal settings.
    assert env["OCI_RESOURCE_PRINCIPAL_VERSION"]["value"] == "2.2"
    assert env["OCI_RESOURCE_PRINCIPAL_REGION"]["value"] == "us-ashburn-1"
    assert [e["name"] for e in pod["containers"][0]["env"]] == sorted(env)


def test_probes_ports_and_service() -> None:
    compiled = compile_text(SERVICE)
    container = pod_of(find(compiled, "Deployment", "chat-api"))["containers"][0]
    assert container["readinessProbe"] == {
        "httpGet": {"path": "/healthz", "port": 8000},
        "periodSeconds": 5,
    }
    assert container["livenessProbe"] == {
        "tcpSocket": {"port": 9000},
        "initialDelaySeconds": 30,
        "failureThreshold": 5,
    }
    svc = find(compiled, "Service", "chat-api")
    assert svc["spec"]["ports"] == [
        {"name": "http-8000", "port": 8000, "targetPort": "http-8000", "protocol": "TCP"},
        {"name": "grpc-9000", "port": 9000, "targetPort": "grpc-9000", "protocol": "TCP"},
    ]
    assert svc["spec"]["selector"] == {labels.APP: "chat-api"}


def test_mounts_and_block_devices() -> None:
    pod = pod_of(find(compile_text(SERVICE), "Deployment", "chat-api"))
    container = pod["containers"][0]
    assert container["volumeMounts"] == [
        {"name": "vol-shared-data", "mountPath": "/data", "subPath": "team-a"}
    ]
    assert container["volumeDevices"] == [{"name": "vol-ro-block", "devicePath": "/dev/ro"}]
    claims = {v["name"]: v["persistentVolumeClaim"] for v in pod["volumes"]}
    assert claims == {
        "vol-shared-data": {"claimName": "shared-data"},
        "vol-ro-block": {"claimName": "ro-block", "readOnly": True},
    }


def test_identity_service_account() -> None:
    compiled = compile_text(SERVICE)
    pod = pod_of(find(compiled, "Deployment", "chat-api"))
    assert pod["serviceAccountName"] == "chat-sa"
    assert pod["automountServiceAccountToken"] is True
    sa = find(compiled, "ServiceAccount", "chat-sa")
    assert sa["metadata"]["labels"][labels.APP] == "chat-api"


def test_without_identity_pods_get_no_token() -> None:
    text = "kind: Service\nname: web\nworkspace: prod\nimage: nginx:1.27\n"
    pod = pod_of(find(compile_text(text), "Deployment", "web"))
    assert pod["serviceAccountName"] == "ironplane-workload"
    assert pod["automountServiceAccountToken"] is False
    assert "nodeSelector" not in pod and "tolerations" not in pod


def test_restricted_pod_security_everywhere() -> None:
    pod = pod_of(find(compile_text(SERVICE), "Deployment", "chat-api"))
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def test_ownership_labels_on_every_object() -> None:
    compiled = compile_text(SERVICE)
    for doc, result in compiled.results:
        for obj in result.bundle.objects:
            meta = obj["metadata"]["labels"]
            assert meta[labels.MANAGED_BY] == "ironplane"
            if doc.spec.kind == "Cluster":  # cluster-wide objects belong to no app
                assert meta[labels.KIND] == "cluster" and labels.APP not in meta
                continue
            assert meta[labels.APP] == doc.spec.name
            assert meta[labels.VERSION] == result.version
            assert meta[labels.WORKSPACE] == obj["metadata"].get("namespace", doc.spec.name)


def test_version_label_changes_with_the_spec_but_selector_does_not() -> None:
    one = find(compile_text(SERVICE), "Deployment", "chat-api")
    two = find(
        compile_text(SERVICE.replace("replicas: 3", "replicas: 4")), "Deployment", "chat-api"
    )
    assert one["metadata"]["labels"][labels.VERSION] != two["metadata"]["labels"][labels.VERSION]
    assert one["spec"]["selector"] == two["spec"]["selector"]
    assert labels.VERSION not in one["spec"]["template"]["metadata"]["labels"]


def test_autoscaled_deployment_without_keda_runs_min_replicas() -> None:
    # With KEDA the count is left to the autoscaler: tests/compiler/test_autoscaling.py.
    text = SERVICE.replace("replicas: 3", "autoscaling: {min: 1, max: 4, metric: rps, target: 20}")
    compiled = compile_text(text)
    assert find(compiled, "Deployment", "chat-api")["spec"]["replicas"] == 1
    assert any("has no keda add-on" in w.message for w in compiled.warnings)


def test_generic_cluster_uses_gpu_feature_discovery_labels() -> None:
    platform = "kind: Workspace\nname: prod\ngpu: true\n---\n"
    text = (
        "kind: Service\nname: web\nworkspace: prod\nimage: x/y:1\n"
        "resources: {gpu: {count: 1, type: L40S}}\n"
    )
    pod = pod_of(find(compile_text(text, platform=platform), "Deployment", "web"))
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L40S"}


def test_cluster_gpu_types_override_the_table() -> None:
    platform = (
        "kind: Cluster\nname: cl1\ngpu_types:\n  MI300X:\n    node_selector: {pool: amd}\n"
        "    resource: amd.com/gpu\n---\nkind: Workspace\nname: prod\ncluster: cl1\ngpu: true\n---\n"
    )
    text = (
        "kind: Service\nname: web\nworkspace: prod\nimage: x/y:1\n"
        "resources: {gpu: {count: 1, type: MI300X}}\n"
    )
    pod = pod_of(find(compile_text(text, platform=platform), "Deployment", "web"))
    assert pod["nodeSelector"] == {"pool": "amd"}
    assert pod["containers"][0]["resources"]["limits"] == {"amd.com/gpu": "1"}
    assert pod["tolerations"][0]["key"] == "amd.com/gpu"
