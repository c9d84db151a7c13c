"""Platform objects: a Cluster (a compute plane) and a Workspace (one namespace on it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ironplane.spec.base import Label, Name, SpecModel

Addon = Literal[
    "istio",
    "keda",
    "argo-rollouts",
    "argo-workflows",
    "argo-cd",
    "kueue",
    "mpi-operator",
    "training-operator",
    "trainer",
    "kuberay",
    "prometheus",
    "gpu-operator",
    "kyverno",
]
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
        default="istio-system/ironplane-ingress",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="the Istio Gateway (namespace/name) that exposed ports bind to",
    )
    ingress_selector: dict[str, str] = Field(
        default_factory=lambda: {"istio": "ingressgateway"},
        min_length=1,
        description="labels of the ingress gateway's pods: an app's TLS Gateway selects them",
    )
    prometheus_url: str = Field(
        default="http://prometheus-operated.monitoring.svc:9090",
        pattern=r"^https?://[^\s]+$",
        description="Prometheus that KEDA and rollout analysis query",
    )


class WorkspaceSpec(SpecModel):
    kind: Literal["Workspace"]
    name: Name
    cluster: Name | None = None
    gpu: bool = Field(default=False, description="workloads may request GPUs")
    privileged: bool = Field(default=False, description="RDMA / privileged pods are allowed")
    queue: Label | None = Field(default=None, description="default Kueue LocalQueue")

    @property
    def namespace(self) -> str:
        return self.name
