"""Prometheus scraping: a ServiceMonitor (or PodMonitor) for every server that serves metrics.

A server serves metrics when its spec has ``metrics:``, and a Model whose engine is vLLM, SGLang
or TGI always does (on its serving port at ``/metrics``). Objects are the prometheus-operator's
``monitoring.coreos.com/v1`` kinds, emitted only on clusters listing the ``prometheus`` add-on.

- **ServiceMonitor** ``<app>`` when the metrics port is one of the app's Service ports and the
  rollout strategy is rolling: Prometheus scrapes each pod behind the Service, on the Service
  port's name (``<protocol>-<port>``).
- **PodMonitor** ``<app>`` otherwise. A metrics port that is no Service port gets a container
  port named ``metrics`` on the main container. Canary and blue-green rollouts also get a
  PodMonitor: Argo Rollouts splits the pods between the stable and the canary (or preview)
  Service, and later points both at the same pods, so scraping through the Services would miss
  the new version's pods during a rollout or count every pod twice after one.

Both monitors set ``jobLabel: ironplane.dev/app``, so every series scraped from an app carries
``job="<app>"`` and ``namespace="<workspace namespace>"`` whichever monitor found it; queries
(the autoscaler's queue metric among them) select an app's series with ``series_matchers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ironplane.compiler import labels
from ironplane.compiler.addons import PROMETHEUS, has_addon, warn_missing
from ironplane.compiler.core import Build
from ironplane.compiler.labels import metadata, selector
from ironplane.compiler.workload import main_container, pod_template, scale_target
from ironplane.core.quantities import parse_duration
from ironplane.spec.kinds import ModelSpec
from ironplane.spec.kinds.server import ServerFields

MONITORING_API = "monitoring.coreos.com/v1"
ENGINES_WITH_METRICS = frozenset({"vllm", "sglang", "tgi"})
"""Engines that serve Prometheus metrics at /metrics on their serving port (SGLang once started
with ``--enable-metrics``, which the Model compiler passes)."""
METRICS_PORT_NAME = "metrics"


@dataclass(frozen=True, slots=True)
class Endpoint:
    port: int
    path: str
    interval: str | None
    """Prometheus duration (``30s``), or None for the Prometheus server's default."""
    explicit: bool
    """Asked for with ``metrics:`` (rather than a Model engine's built-in endpoint)."""


def metrics_endpoint(spec: ServerFields) -> Endpoint | None:
    """Where the app serves metrics, or None when it serves none that Ironplane knows of."""
    if spec.metrics is not None:
        interval = spec.metrics.interval
        return Endpoint(
            port=spec.metrics.port,
            path=spec.metrics.path,
            interval=f"{parse_duration(interval)}s" if interval else None,
            explicit=True,
        )
    if isinstance(spec, ModelSpec) and spec.engine in ENGINES_WITH_METRICS:
        return Endpoint(port=spec.port, path="/metrics", interval=None, explicit=False)
    return None


def series_matchers(namespace: str, app: str) -> str:
    """PromQL label matchers for the series Prometheus scrapes from an app's pods."""
    return f'namespace="{namespace}",job="{app}"'


@dataclass(frozen=True, slots=True)
class Monitoring:
    name: str = "monitoring"

    def applies(self, build: Build) -> bool:
        spec = build.spec
        return isinstance(spec, ServerFields) and metrics_endpoint(spec) is not None

    def apply(self, build: Build) -> None:
        spec = build.spec
        assert isinstance(spec, ServerFields)
        endpoint = metrics_endpoint(spec)
        assert endpoint is not None
        if not has_addon(build, PROMETHEUS):
            # A Model's engine serves metrics whether or not anyone asked: only a requested
            # endpoint is worth a warning on every compile.
            if endpoint.explicit:
                warn_missing(
                    build,
                    PROMETHEUS,
                    "no ServiceMonitor or PodMonitor is emitted, so nothing scrapes port "
                    f"{endpoint.port} at {endpoint.path}",
                    ("metrics",),
                )
            return
        target, template = scale_target(build), pod_template(build)
        if target is None or template is None:
            return
        name, ns = spec.name, build.ctx.namespace
        meta = metadata(name, namespace=ns, labels=dict(target["metadata"]["labels"]))
        scrape: dict[str, Any] = {"path": endpoint.path}
        if endpoint.interval:
            scrape["interval"] = endpoint.interval
        service_port = _service_port(build, endpoint.port)
        if service_port is not None and spec.rollout.strategy == "rolling":
            build.objects.add(
                {
                    "apiVersion": MONITORING_API,
                    "kind": "ServiceMonitor",
                    "metadata": meta,
                    "spec": {
                        "jobLabel": labels.APP,
                        "selector": {"matchLabels": selector(name)},
                        "endpoints": [{"port": service_port, **scrape}],
                    },
                }
            )
            return
        build.objects.add(
            {
                "apiVersion": MONITORING_API,
                "kind": "PodMonitor",
                "metadata": meta,
                "spec": {
                    "jobLabel": labels.APP,
                    "selector": {"matchLabels": selector(name)},
                    "podMetricsEndpoints": [
                        {"port": _container_port(template, endpoint.port), **scrape}
                    ],
                },
            }
        )


def _service_port(build: Build, port: int) -> str | None:
    service = build.objects.find("Service", build.spec.name)
    if service is None:
        return None
    for entry in service["spec"].get("ports", []):
        if entry["port"] == port:
            return str(entry["name"])
    return None


def _container_port(template: dict[str, Any], port: int) -> str:
    """The name of the main container's port ``port``, adding one named ``metrics`` if absent."""
    container = main_container(template)
    ports: list[dict[str, Any]] = container.setdefault("ports", [])
    for entry in ports:
        if entry["containerPort"] == port:
            return str(entry["name"])
    ports.append({"name": METRICS_PORT_NAME, "containerPort": port, "protocol": "TCP"})
    return METRICS_PORT_NAME
