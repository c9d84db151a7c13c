"""Platform objects: a Cluster (a compute plane) and a Workspace (one namespace on it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ironplane.spec.base import FieldProblem, Label, Name, SpecModel
from ironplane.spec.kinds.bootstrap import (
    NAMESPACES,
    Addon,
    BootstrapSpec,
    ingress_gateway_in,
    profile_of,
    prometheus_url_in,
)

__all__ = ["Addon", "ClusterSpec", "GpuNodes", "VolumeType", "WorkspaceSpec"]

VolumeType = Literal["fss", "block", "local-nvme"]


class GpuNodes(SpecModel):
    """How a GPU type is found on this cluster: node labels and the extended resource name."""

    node_selector: dict[str, str]
    resource: str = "nvidia.com/gpu"


class ClusterSpec(SpecModel):
    kind: Literal["Cluster"]
    name: Name
    provider: Literal["oci", "generic"] = "generic"
    region: str | None = Field(default=None, pattern=r"^[a-z]+-[a-z]+-[0-9]+$")
    enhanced: bool = Field(default=False, description="OKE Enhanced: Workload Identity works")
    ocid: str | None = Field(
        default=None,
        pattern=r"^ocid1\.cluster\.[a-z0-9.-]+$",
        description="the OKE cluster's OCID (Workload Identity policies name it)",
    )
    addons: list[Addon] = Field(default_factory=list, description="add-ons installed")
    gpu_types: dict[str, GpuNodes] = Field(
        default_factory=dict, description="GPU types beyond (or overriding) the built-in table"
    )
    storage_classes: dict[VolumeType, str] = Field(
        default_factory=dict, description="StorageClass per volume type (provider default else)"
    )
    ingress_gateway: str = Field(
        default=ingress_gateway_in(NAMESPACES["istio"]),
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="the Istio Gateway (namespace/name) that exposed ports bind to",
    )
    ingress_selector: dict[str, str] = Field(
        default_factory=lambda: {"istio": "ingressgateway"},
        min_length=1,
        description="labels of the ingress gateway's pods: an app's TLS Gateway selects them",
    )
    prometheus_url: str = Field(
        default=prometheus_url_in(NAMESPACES["prometheus"]),
        pattern=r"^https?://[^\s]+$",
        description="Prometheus that KEDA and rollout analysis query",
    )
    bootstrap: BootstrapSpec | None = Field(
        default=None,
        description="the add-on stack Ironplane installs through Argo CD (cluster bootstrap)",
    )

    @model_validator(mode="before")
    @classmethod
    def _follow_bootstrap(cls, data: Any) -> Any:
        """Fill what the bootstrap implies where the document leaves it out: every add-on it
        installs or finds existing joins ``addons``; an existing Prometheus gives
        ``prometheus_url``, an existing Istio ``ingress_gateway``."""
        if not isinstance(data, dict) or data.get("bootstrap") is None:
            return data
        raw = data["bootstrap"]
        try:
            boot = raw if isinstance(raw, BootstrapSpec) else BootstrapSpec.model_validate(raw)
        except ValidationError:
            return data  # reported, located, by the field's own validation
        derived = boot.derived()
        out = dict(data, bootstrap=boot)  # validated once: pydantic takes the instance as it is
        addons = out.get("addons")
        if addons is None or isinstance(addons, list):
            listed = list(addons or [])
            out["addons"] = listed + [a for a in derived.pop("addons") if a not in listed]
        else:
            derived.pop("addons")
        for key, value in derived.items():
            out.setdefault(key, value)
        return out

    @model_validator(mode="after")
    def _check_bootstrap(self) -> ClusterSpec:
        boot = self.bootstrap
        if boot is None:
            return self
        if boot.profile == "oci-bare-metal" and self.provider != "oci":
            raise FieldProblem(
                "bootstrap profile oci-bare-metal needs provider: oci",
                hint="set provider: oci, or use profile: generic",
            )
        prometheus = boot.existing.get("prometheus")
        if prometheus and prometheus.endpoint and prometheus.endpoint != self.prometheus_url:
            raise FieldProblem(
                f"prometheus_url {self.prometheus_url!r} differs from the existing Prometheus "
                f"endpoint {prometheus.endpoint!r}",
                hint="leave prometheus_url out: it follows bootstrap.existing.prometheus",
            )
        return self

    def with_bootstrap(self, bootstrap: BootstrapSpec | None) -> ClusterSpec:
        """This spec with another ``bootstrap`` section (None: none). What the old section
        derived (its add-ons, an existing Prometheus' URL, an existing Istio's gateway) is taken
        out first and the new one derives it again; raises pydantic's ``ValidationError`` when
        the result is not a valid Cluster."""
        data = self.model_dump(mode="json", exclude_unset=True)
        data.pop("bootstrap", None)
        if self.bootstrap is not None:
            derived = self.bootstrap.derived()
            data["addons"] = [a for a in data.get("addons", []) if a not in derived["addons"]]
            for key in ("prometheus_url", "ingress_gateway"):
                if key in derived and data.get(key) == derived[key]:
                    del data[key]
        if bootstrap is not None:
            data["bootstrap"] = bootstrap.model_dump(mode="json", exclude_defaults=True)
        return ClusterSpec.model_validate(data)

    @property
    def bootstrap_profile(self) -> str | None:
        """The bootstrap's profile (from the provider when not given); None without one."""
        return profile_of(self.bootstrap, self.provider) if self.bootstrap else None

    def telemetry_prometheus(self) -> str | None:
        """The Prometheus the cluster's agent reads telemetry from: ``prometheus_url`` when the
        cluster lists the ``prometheus`` add-on (itself or through its bootstrap), else None."""
        return self.prometheus_url if "prometheus" in self.addons else None

    def privileged_addon_namespaces(self) -> tuple[str, ...]:
        """Add-on namespaces whose pods need host networking or privileged containers, which
        the cluster's admission policy must let through: the GPU operator's, and the
        bootstrap-installed Prometheus stack's (its node exporter runs on the host network)."""
        boot = self.bootstrap
        found: list[str] = []
        if "gpu-operator" in self.addons:
            found.append(boot.namespace("gpu-operator") if boot else NAMESPACES["gpu-operator"])
        if boot is not None and "prometheus" in boot.installed():
            found.append(boot.namespace("prometheus"))
        return tuple(dict.fromkeys(found))


RESERVED_NAMESPACES = frozenset(
    {"kube-system", "kube-public", "kube-node-lease", "ironplane-system", *NAMESPACES.values()}
)
"""Namespaces that belong to Kubernetes, the agent or an add-on the bootstrap installs: a
workspace of that name would share (and relabel) the add-on's namespace."""


class WorkspaceSpec(SpecModel):
    kind: Literal["Workspace"]
    name: Name
    cluster: Name | None = None
    gpu: bool = Field(default=False, description="workloads may request GPUs")
    privileged: bool = Field(default=False, description="RDMA / privileged pods are allowed")
    queue: Label | None = Field(default=None, description="default Kueue LocalQueue")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_NAMESPACES:
            raise FieldProblem(
                f"{value!r} is the namespace of Kubernetes, the agent or an add-on; a workspace "
                "of that name would take it over",
                hint="choose another name",
            )
        return value

    @property
    def namespace(self) -> str:
        return self.name


def telemetry_prometheus_of(data: dict[str, Any]) -> str | None:
    """``ClusterSpec.telemetry_prometheus`` of a stored or fetched Cluster spec; None when it
    does not load (an older release's fields: the agent then reads no telemetry)."""
    try:
        return ClusterSpec.model_validate(data).telemetry_prometheus()
    except ValueError:
        return None
