"""Service → Deployment, Service and (with identity) a ServiceAccount. Model reuses ``Server``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ironplane.compiler.block_mount import MOUNT_SECURITY
from ironplane.compiler.core import Build
from ironplane.compiler.labels import metadata, owned, selector
from ironplane.compiler.pods import (
    env_list,
    gpu_placement,
    identity_account,
    main_container,
    mounts_block,
    pod_security,
    resources_block,
    service_account,
    shm_volume,
    template_labels,
)
from ironplane.spec.fields import Health, Probe
from ironplane.spec.kinds import ServiceSpec
from ironplane.spec.kinds.server import ServerFields


@dataclass(slots=True)
class Server:
    """What a server workload needs beyond its spec's common fields (filled by Service or Model)."""

    spec: ServerFields
    kind: str
    image: str
    command: list[str] | None
    args: list[str] | None
    ports: list[tuple[str, int]]
    """(name, port) pairs."""
    probes: dict[str, Probe] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    init_containers: list[dict[str, Any]] = field(default_factory=list)
    run_as_user: int | None = None
    service_annotations: dict[str, str] = field(default_factory=dict)
    devices: list[dict[str, Any]] = field(default_factory=list)
    """Raw block devices (``volumeDevices``) beyond the spec's mounts: ``block://`` weights,
    which the container mounts itself, so it runs privileged, as root (which only a privileged
    workspace admits)."""


def port_name(protocol: str, port: int) -> str:
    return f"{protocol}-{port}"


def declared_probes(health: Health | None) -> dict[str, Probe]:
    """The probes a spec sets, by kind (startup, readiness, liveness)."""
    return {kind: p for kind, p in health if p is not None} if health else {}


def compile_service(build: Build) -> None:
    spec = build.spec
    assert isinstance(spec, ServiceSpec)
    emit_server(
        build,
        Server(
            spec=spec,
            kind="service",
            image=spec.image,
            command=spec.command,
            args=spec.args,
            ports=[(port_name(p.protocol, p.port), p.port) for p in spec.ports],
            probes=declared_probes(spec.health),
            run_as_user=spec.run_as_user,
        ),
    )


def emit_server(build: Build, server: Server) -> None:
    spec, ctx = server.spec, build.ctx
    ns, name = ctx.namespace, spec.name
    labels = owned(name, ns, server.kind, build.version)
    for account in identity_account(spec.identity, ns, labels):
        build.objects.add(account)
    volumes, mounts, devices = mounts_block(spec.mounts, ctx)
    volumes += server.volumes
    mounts += server.mounts
    devices += server.devices
    if spec.shm is not None:
        vol, mount = shm_volume(spec.shm)
        volumes.append(vol)
        mounts.append(mount)
    extra_env = dict(server.env)
    if spec.identity is not None and ctx.cluster.provider == "oci":
        extra_env["OCI_RESOURCE_PRINCIPAL_VERSION"] = "2.2"
        if ctx.cluster.region:
            extra_env["OCI_RESOURCE_PRINCIPAL_REGION"] = ctx.cluster.region
    container = main_container(
        image=server.image,
        command=server.command,
        args=server.args,
        env=env_list(spec.env, extra_env),
        resources=resources_block(spec.resources, ctx),
        ports=server.ports,
        probes=server.probes,
        mounts=mounts,
        devices=devices,
    )
    if server.devices:
        # mount(8) needs CAP_SYS_ADMIN and root; the mount lives and dies with the container.
        container["securityContext"] = dict(MOUNT_SECURITY)
    pod: dict[str, Any] = {
        **service_account(spec.identity.service_account if spec.identity else None),
        "enableServiceLinks": False,
        "securityContext": pod_security(server.run_as_user),
    }
    if server.init_containers:
        pod["initContainers"] = server.init_containers
    pod["containers"] = [container]
    pod.update(gpu_placement(spec.resources, ctx))
    if volumes:
        pod["volumes"] = volumes
    gpus = spec.resources is not None and spec.resources.gpu is not None
    deployment_spec: dict[str, Any] = {}
    if spec.autoscaling is None:
        deployment_spec["replicas"] = 1 if spec.replicas is None else spec.replicas
    deployment_spec |= {
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": selector(name)},
        # GPUs are scarce: surging needs a free GPU per new pod, so replace in place instead.
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}
            if gpus
            else {"maxSurge": "25%", "maxUnavailable": 0},
        },
        "template": {
            "metadata": {"labels": template_labels(name, ctx, server.kind)},
            "spec": pod,
        },
    }
    build.objects.add(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata(name, namespace=ns, labels=labels),
            "spec": deployment_spec,
        }
    )
    if server.ports:
        build.objects.add(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata(
                    name, namespace=ns, labels=labels, annotations=server.service_annotations
                ),
                "spec": {
                    "type": "ClusterIP",
                    "selector": selector(name),
                    "ports": [
                        {"name": pname, "port": port, "targetPort": pname, "protocol": "TCP"}
                        for pname, port in server.ports
                    ],
                },
            }
        )
