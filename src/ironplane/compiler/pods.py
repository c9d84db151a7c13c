"""Pod building blocks shared by the workload kinds: containers, resources, env, probes, volumes."""

from __future__ import annotations

from typing import Any

from ironplane.compiler.context import CompileContext
from ironplane.compiler.gpus import NVIDIA
from ironplane.compiler.labels import metadata, pod_labels, selector
from ironplane.core.quantities import format_cpu, parse_duration
from ironplane.spec.fields import Env, Identity, Mount, Probe, Resources, SecretRef

SECRET_PREFIX = "ironplane-secret-"
WORKLOAD_SA = "ironplane-workload"
NONROOT_UID = 1000
NONROOT_IMAGE_USER = {"runAsUser": 65532, "runAsGroup": 65532}
"""What Ironplane's own pods (the agent, the Argo CD installer) run as over ``pod_security()``:
the images' ``nonroot`` user (65532) and group, and no ``fsGroup``."""


def secret_name(group: str) -> str:
    """The Kubernetes Secret that holds a secret group's keys (written by the agent)."""
    return SECRET_PREFIX + group


def env_list(env: Env, extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    merged: dict[str, str | SecretRef] = {**(extra or {}), **env}
    for name, value in sorted(merged.items()):
        if isinstance(value, SecretRef):
            group, _, key = value.secret.partition("/")
            out.append(
                {
                    "name": name,
                    "valueFrom": {"secretKeyRef": {"name": secret_name(group), "key": key}},
                }
            )
        else:
            out.append({"name": name, "value": value})
    return out


def gpu_resource(resources: Resources | None, ctx: CompileContext) -> str:
    if resources is None or resources.gpu is None or resources.gpu.type is None:
        return NVIDIA
    return ctx.cluster.gpu_types[resources.gpu.type].resource


def resources_block(resources: Resources | None, ctx: CompileContext) -> dict[str, Any]:
    """Requests for CPU (no CPU limit: throttling hurts latency), memory request = limit, GPUs."""
    if resources is None:
        return {}
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if resources.cpu is not None:
        requests["cpu"] = format_cpu(resources.cpu)
    if resources.memory is not None:
        requests["memory"] = limits["memory"] = resources.memory
    if resources.ephemeral_storage is not None:
        requests["ephemeral-storage"] = limits["ephemeral-storage"] = resources.ephemeral_storage
    if resources.gpu is not None:
        name = gpu_resource(resources, ctx)
        requests[name] = limits[name] = str(resources.gpu.count)
    block: dict[str, Any] = {}
    if limits:
        block["limits"] = dict(sorted(limits.items()))
    if requests:
        block["requests"] = dict(sorted(requests.items()))
    return block


def gpu_placement(resources: Resources | None, ctx: CompileContext) -> dict[str, Any]:
    """nodeSelector for the GPU type and a toleration for the GPU taint."""
    if resources is None or resources.gpu is None:
        return {}
    out: dict[str, Any] = {}
    name = NVIDIA
    if resources.gpu.type is not None:
        node_class = ctx.cluster.gpu_types[resources.gpu.type]
        out["nodeSelector"] = dict(sorted(node_class.node_selector.items()))
        name = node_class.resource
    out["tolerations"] = [{"key": name, "operator": "Exists", "effect": "NoSchedule"}]
    return out


def probe(spec: Probe) -> dict[str, Any]:
    action: dict[str, Any]
    if spec.path is not None:
        action = {"httpGet": {"path": spec.path, "port": spec.port}}
    else:
        action = {"tcpSocket": {"port": spec.port}}
    if spec.initial_delay is not None:
        action["initialDelaySeconds"] = parse_duration(spec.initial_delay)
    if spec.period is not None:
        action["periodSeconds"] = parse_duration(spec.period)
    if spec.timeout is not None:
        action["timeoutSeconds"] = parse_duration(spec.timeout)
    if spec.failure_threshold is not None:
        action["failureThreshold"] = spec.failure_threshold
    return action


def volume_claim(volume: str) -> str:
    return f"vol-{volume}"


def mounts_block(
    mounts: list[Mount], ctx: CompileContext
) -> tuple[list[Any], list[Any], list[Any]]:
    """(pod volumes, container volumeMounts, container volumeDevices) for the spec's mounts.

    A ``block`` volume is a raw device (ReadOnlyMany multi-attach works only so): it appears at
    the mount path as a device for the workload to read, not as a directory.
    """
    volumes: dict[str, dict[str, Any]] = {}
    mounted: list[dict[str, Any]] = []
    devices: list[dict[str, Any]] = []
    for mount in mounts:
        vol = ctx.volumes[mount.volume]
        claim: dict[str, Any] = {"claimName": mount.volume}
        if vol.type == "block":
            claim["readOnly"] = True
        volumes.setdefault(
            volume_claim(mount.volume),
            {"name": volume_claim(mount.volume), "persistentVolumeClaim": claim},
        )
        if vol.type == "block":
            devices.append({"name": volume_claim(mount.volume), "devicePath": mount.path})
            continue
        entry: dict[str, Any] = {"name": volume_claim(mount.volume), "mountPath": mount.path}
        if mount.sub_path:
            entry["subPath"] = mount.sub_path
        if mount.read_only:
            entry["readOnly"] = True
        mounted.append(entry)
    return list(volumes.values()), mounted, devices


def shm_volume(size: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": size}},
        {"name": "shm", "mountPath": "/dev/shm"},
    )


def container_security(run_as_user: int | None = None) -> dict[str, Any]:
    """Restricted Pod Security Standard, so pods run in any workspace."""
    sc: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    if run_as_user is not None:
        sc["runAsUser"] = run_as_user
    return sc


def pod_security(run_as_user: int | None = None) -> dict[str, Any]:
    sc: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if run_as_user is not None:
        sc["runAsUser"] = run_as_user
        sc["runAsGroup"] = run_as_user
        sc["fsGroup"] = run_as_user
    return sc


def service_account(identity_sa: str | None) -> dict[str, Any]:
    """Pods run as the workspace's token-less account unless the spec asks for an identity."""
    if identity_sa is None:
        return {"serviceAccountName": WORKLOAD_SA, "automountServiceAccountToken": False}
    return {"serviceAccountName": identity_sa, "automountServiceAccountToken": True}


def identity_account(
    identity: Identity | None, namespace: str, labels: dict[str, str]
) -> list[dict[str, Any]]:
    """The ServiceAccount an app with an ``identity`` runs as (OKE Workload Identity binds
    the OCI policy to it), created in the app's workspace; none without one."""
    if identity is None:
        return []
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(identity.service_account, namespace=namespace, labels=labels),
        }
    ]


def template_labels(app: str, ctx: CompileContext, kind: str) -> dict[str, str]:
    return dict(sorted({**pod_labels(app, ctx.namespace, kind), **selector(app)}.items()))


def main_container(
    *,
    image: str,
    command: list[str] | None,
    args: list[str] | None,
    env: list[dict[str, Any]],
    resources: dict[str, Any],
    ports: list[tuple[str, int]] | None = None,
    probes: dict[str, Probe] | None = None,
    mounts: list[dict[str, Any]] | None = None,
    devices: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The workload's one container, with keys in a fixed order (golden files depend on it)."""
    container: dict[str, Any] = {"name": "main", "image": image}
    if command:
        container["command"] = list(command)
    if args:
        container["args"] = list(args)
    if env:
        container["env"] = env
    if ports:
        container["ports"] = [
            {"name": name, "containerPort": port, "protocol": "TCP"} for name, port in ports
        ]
    if resources:
        container["resources"] = resources
    for kind in ("startup", "readiness", "liveness"):
        if probes and kind in probes:
            container[f"{kind}Probe"] = probe(probes[kind])
    if mounts:
        container["volumeMounts"] = mounts
    if devices:
        container["volumeDevices"] = devices
    container["securityContext"] = container_security()
    return container
