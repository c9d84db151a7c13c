"""Everything the compiler knows besides the spec, passed in and never looked up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ironplane.compiler.gpus import GpuNodeClass, gpu_table
from ironplane.compiler.storage import default_storage_classes
from ironplane.spec.kinds import ClusterSpec, VolumeSpec, WorkspaceSpec
from ironplane.spec.kinds.bootstrap import NAMESPACES, ingress_gateway_in, prometheus_url_in


@dataclass(frozen=True, slots=True)
class ClusterProfile:
    """What the compiler may assume about a cluster: provider, features and add-ons."""

    name: str
    provider: str = "generic"
    region: str | None = None
    enhanced: bool = False
    addons: frozenset[str] = frozenset()
    gpu_types: Mapping[str, GpuNodeClass] = field(default_factory=dict)
    storage_classes: Mapping[str, str | None] = field(default_factory=dict)
    ingress_gateway: str = ingress_gateway_in(NAMESPACES["istio"])
    """namespace/name of the Istio Gateway exposed ports bind to."""
    ingress_selector: Mapping[str, str] = field(default_factory=lambda: {"istio": "ingressgateway"})
    """Labels of the ingress gateway's pods (an app's TLS Gateway selects them)."""
    prometheus_url: str = prometheus_url_in(NAMESPACES["prometheus"])
    privileged_namespaces: tuple[str, ...] = ()
    """Add-on namespaces the admission policy exempts (host network, privileged pods)."""
    declared: bool = True
    """False when no Cluster document was given and this profile is an assumed default."""

    @classmethod
    def from_spec(cls, spec: ClusterSpec) -> ClusterProfile:
        return cls(
            name=spec.name,
            provider=spec.provider,
            region=spec.region,
            enhanced=spec.enhanced,
            addons=frozenset(spec.addons),
            gpu_types=gpu_table(spec.provider, spec.gpu_types),
            storage_classes={
                **default_storage_classes(spec.provider),
                **{str(k): v for k, v in spec.storage_classes.items()},
            },
            ingress_gateway=spec.ingress_gateway,
            ingress_selector=dict(spec.ingress_selector),
            prometheus_url=spec.prometheus_url,
            privileged_namespaces=spec.privileged_addon_namespaces(),
        )

    @classmethod
    def assumed(cls, name: str) -> ClusterProfile:
        return cls(
            name=name,
            gpu_types=gpu_table("generic", {}),
            storage_classes=default_storage_classes("generic"),
            declared=False,
        )


@dataclass(frozen=True, slots=True)
class CompileContext:
    """The workspace an app lands in, its cluster, and the volumes it may mount."""

    workspace: WorkspaceSpec
    cluster: ClusterProfile
    volumes: Mapping[str, VolumeSpec] = field(default_factory=dict)
    version: str | None = None
    """The app version for the ownership label; the spec's content hash when None."""
    workspace_declared: bool = True

    @property
    def namespace(self) -> str:
        return self.workspace.namespace


@dataclass(frozen=True, slots=True)
class Catalog:
    """The platform objects known when compiling: from the input files, later from the store."""

    clusters: Mapping[str, ClusterSpec] = field(default_factory=dict)
    workspaces: Mapping[str, WorkspaceSpec] = field(default_factory=dict)
    volumes: Mapping[tuple[str, str], VolumeSpec] = field(default_factory=dict)
    """Keyed by (workspace, volume name)."""

    def context(self, workspace: str, *, version: str | None = None) -> CompileContext:
        declared = workspace in self.workspaces
        ws = self.workspaces.get(workspace) or WorkspaceSpec(kind="Workspace", name=workspace)
        cluster_name = ws.cluster or "default"
        cluster_spec = self.clusters.get(cluster_name)
        cluster = (
            ClusterProfile.from_spec(cluster_spec)
            if cluster_spec
            else ClusterProfile.assumed(cluster_name)
        )
        volumes = {name: v for (w, name), v in self.volumes.items() if w == workspace}
        return CompileContext(
            workspace=ws,
            cluster=cluster,
            volumes=volumes,
            version=version,
            workspace_declared=declared,
        )
