"""Helm values of each bootstrap component for a cluster's profile.

Only what matters for Ironplane is set; everything else stays the chart's default. ``monitoring``
is whether a Prometheus Operator is there (installed or existing): charts create ServiceMonitors
only then, since without its CRDs their sync would fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ironplane.compiler.bootstrap.catalog import Component

APPLICATION_HEALTH = "resource.customizations.health.argoproj.io_Application"
APPLICATION_HEALTH_LUA = """\
hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil then
  if obj.status.health ~= nil then
    hs.status = obj.status.health.status
    if obj.status.health.message ~= nil then
      hs.message = obj.status.health.message
    end
  end
end
return hs
"""
"""Argo CD stopped assessing the health of Application resources in v1.8, so an app-of-apps
parent no longer waits for a wave of children to be Healthy before the next. The health check
Argo CD documents for restoring that (its 1.7 → 1.8 upgrade notes), set in argocd-cm."""


@dataclass(frozen=True, slots=True)
class Context:
    """What the values depend on."""

    profile: str
    """oci-bare-metal or generic."""
    monitoring: bool
    prometheus_namespace: str
    victoria_logs_namespace: str


def argo_cd_values() -> dict[str, Any]:
    """The argo-cd chart's values: the installer Job and the argo-cd Application use the same,
    so that the takeover changes nothing."""
    return {
        # The objects keep the names the installer gave them (argocd-server, …) whatever the
        # release is called: the takeover must not create a second Argo CD beside the first.
        "fullnameOverride": "argocd",
        "configs": {
            "cm": {
                APPLICATION_HEALTH: APPLICATION_HEALTH_LUA,
                # Track by annotation: the instance label collides with charts' own labels.
                "application.resourceTrackingMethod": "annotation",
            }
        },
    }


def _argo_cd(ctx: Context) -> dict[str, Any]:
    return argo_cd_values()


def _prometheus(ctx: Context) -> dict[str, Any]:
    # Select every ServiceMonitor, PodMonitor and rule in the cluster, not only those labelled
    # with this release: the apps' monitors (compiler/monitoring.py) and the add-ons' carry no
    # such label.
    spec = {
        f"{kind}SelectorNilUsesHelmValues": False
        for kind in ("serviceMonitor", "podMonitor", "rule", "probe")
    }
    return {"grafana": {"enabled": False}, "prometheus": {"prometheusSpec": spec}}


def _gpu_operator(ctx: Context) -> dict[str, Any]:
    # OKE GPU images ship the NVIDIA driver (platform research 3.5: oci-hpc-oke installs the
    # operator with driver.enabled=false) and the container toolkit (OKE notes configure CRI-O
    # with the host's nvidia-ctk: OguzPastirmaci/misc oke-mps-ol.md), so the operator installs
    # neither there; elsewhere it does.
    host_provided = ctx.profile == "oci-bare-metal"
    return {
        "driver": {"enabled": not host_provided},
        "toolkit": {"enabled": not host_provided},
        "nfd": {"enabled": True},
        "devicePlugin": {"enabled": True},
        "dcgmExporter": {"enabled": True, "serviceMonitor": {"enabled": ctx.monitoring}},
    }


def _kueue(ctx: Context) -> dict[str, Any]:
    values: dict[str, Any] = {"enablePrometheus": ctx.monitoring}
    if ctx.monitoring:
        values["metrics"] = {"prometheusNamespace": ctx.prometheus_namespace}
    if ctx.profile == "oci-bare-metal":
        # Beta and on by default since v0.14; set explicitly: the oci-rdma Topology and the
        # TrainingJob topology annotations depend on it.
        values["controllerManager"] = {
            "featureGates": [{"name": "TopologyAwareScheduling", "enabled": True}]
        }
    return values


def _argo_workflows(ctx: Context) -> dict[str, Any]:
    return {
        # The chart's own appVersion is not confirmed for v4.1.2 (catalog.py): pin the images.
        "images": {"tag": "v4.1.2"},
        # Workflow pods in restricted workspaces: Argo's wait container must meet the
        # restricted Pod Security standard too (docs/compiler.md, Jobs).
        "executor": {
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            }
        },
        "controller": {
            "metricsConfig": {"enabled": True},
            "serviceMonitor": {"enabled": ctx.monitoring},
        },
    }


def _argo_rollouts(ctx: Context) -> dict[str, Any]:
    return {
        "controller": {"metrics": {"enabled": True, "serviceMonitor": {"enabled": ctx.monitoring}}}
    }


def _keda(ctx: Context) -> dict[str, Any]:
    return {
        "prometheus": {"operator": {"enabled": True, "serviceMonitor": {"enabled": ctx.monitoring}}}
    }


def _ingress_gateway(ctx: Context) -> dict[str, Any]:
    # Pods labelled istio=ingressgateway (the chart trims "istio-" off the release name), the
    # Cluster's default ingress_selector.
    return {"labels": {"istio": "ingressgateway"}}


def _victoria_logs(ctx: Context) -> dict[str, Any]:
    return {"server": {"retentionPeriod": "14d"}}


def _vector(ctx: Context) -> dict[str, Any]:
    # The victoria-logs-single chart's server Service for the release "victoria-logs" (its
    # fullname is <release>-<chart>); not checked against a rendered chart.
    sink = (
        f"http://victoria-logs-victoria-logs-single-server.{ctx.victoria_logs_namespace}.svc"
        ":9428/insert/elasticsearch/"
    )
    return {
        "role": "Agent",
        "customConfig": {
            "data_dir": "/vector-data-dir",
            "sources": {"k8s": {"type": "kubernetes_logs"}},
            "sinks": {
                "victoria-logs": {
                    "type": "elasticsearch",
                    "inputs": ["k8s"],
                    "endpoints": [sink],
                    "mode": "bulk",
                    "api_version": "v8",
                    "compression": "gzip",
                    "healthcheck": {"enabled": False},
                    "request": {
                        "headers": {
                            "VL-Time-Field": "timestamp",
                            "VL-Stream-Fields": "kubernetes.pod_namespace,kubernetes.pod_name",
                            "VL-Msg-Field": "message",
                        }
                    },
                }
            },
        },
    }


VALUES: dict[str, Callable[[Context], dict[str, Any]]] = {
    "argo-cd": _argo_cd,
    "kube-prometheus-stack": _prometheus,
    "gpu-operator": _gpu_operator,
    "kueue": _kueue,
    "argo-workflows": _argo_workflows,
    "argo-rollouts": _argo_rollouts,
    "keda": _keda,
    "istio-ingressgateway": _ingress_gateway,
    "victoria-logs": _victoria_logs,
    "vector": _vector,
}


def values_of(component: Component, ctx: Context) -> dict[str, Any] | None:
    """The component's Helm values; None for chart defaults (or a kustomize source)."""
    make = VALUES.get(component.name)
    return make(ctx) if make else None
