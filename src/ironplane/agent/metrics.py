"""The agent's Prometheus metrics, served with ``/healthz`` by ``agent/http.py``.

Names (all prefixed ``ironplane_agent_``; docs/observability.md lists them with their labels):

``connected``                      1 while the session with the control plane is up;
``reconnects_total``               sessions that ended (the agent dials again);
``frames_received_total{type}``, ``frames_sent_total{type}``;
``applies_total{result}``          converges: ``ok`` or ``error``;
``apply_errors_total{kind}``       failed converges by the object kind named in the error
                                   (``unknown`` when none is);
``pruned_total``                   owned objects removed because no longer desired;
``applied_revision``, ``desired_revision``;
``status_reports_total``, ``inventory_reports_total``;
``prometheus_queries_total{result}`` telemetry queries: ``ok`` or ``error``;
``telemetry_samples_total``        samples sent in ``metrics`` frames.
"""

from __future__ import annotations

import re

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)

PREFIX = "ironplane_agent_"
# No ``*_created`` series.
disable_created_metrics()  # type: ignore[no-untyped-call]
_KIND = re.compile(r"\b([A-Z][A-Za-z0-9]+)[ /]")
KNOWN_KINDS = frozenset(
    {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "Service",
        "PersistentVolumeClaim",
        "Deployment",
        "StatefulSet",
        "Job",
        "CronJob",
        "Rollout",
        "VirtualService",
        "DestinationRule",
        "Gateway",
        "ScaledObject",
        "WorkflowTemplate",
        "CronWorkflow",
        "CustomResourceDefinition",
    }
)


def kind_of(message: str) -> str:
    """The object kind an apply error names; ``unknown`` when it names none of a fixed set
    (which keeps the label bounded)."""
    for match in _KIND.finditer(message):
        kind = match.group(1)
        if kind in KNOWN_KINDS:
            return kind
    return "unknown"


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.connected = Gauge(
            PREFIX + "connected", "1 while connected to the control plane.", registry=r
        )
        self.reconnects = Counter(
            PREFIX + "reconnects", "Sessions with the control plane that ended.", registry=r
        )
        self.frames_received = Counter(
            PREFIX + "frames_received", "Frames received, by type.", ["type"], registry=r
        )
        self.frames_sent = Counter(
            PREFIX + "frames_sent", "Frames sent, by type.", ["type"], registry=r
        )
        self.applies = Counter(
            PREFIX + "applies", "Converges of the desired state, by result.", ["result"], registry=r
        )
        self.apply_errors = Counter(
            PREFIX + "apply_errors",
            "Failed converges, by the kind of the object that failed.",
            ["kind"],
            registry=r,
        )
        self.pruned = Counter(
            PREFIX + "pruned", "Owned objects removed because no longer desired.", registry=r
        )
        self.applied_revision = Gauge(
            PREFIX + "applied_revision", "The desired-state revision last applied.", registry=r
        )
        self.desired_revision = Gauge(
            PREFIX + "desired_revision", "The desired-state revision last received.", registry=r
        )
        self.status_reports = Counter(PREFIX + "status_reports", "Status frames sent.", registry=r)
        self.inventory_reports = Counter(
            PREFIX + "inventory_reports", "Inventory frames sent.", registry=r
        )
        self.prometheus_queries = Counter(
            PREFIX + "prometheus_queries",
            "Telemetry queries to the cluster's Prometheus, by result.",
            ["result"],
            registry=r,
        )
        self.telemetry_samples = Counter(
            PREFIX + "telemetry_samples", "Telemetry samples sent to the control plane.", registry=r
        )
        for result in ("ok", "error"):
            self.applies.labels(result)
            self.prometheus_queries.labels(result)

    def render(self) -> bytes:
        return generate_latest(self.registry)
