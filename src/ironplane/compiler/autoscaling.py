"""``autoscaling`` → a KEDA ``ScaledObject`` ``<app>`` that scales the app's workload.

KEDA runs a HorizontalPodAutoscaler between ``min`` (at least 1) and ``max`` replicas on the
trigger's metric, and itself takes the workload from 0 to 1 and back ("activation"), which the
HPA cannot. The workload is the Argo ``Rollout`` when the rollouts feature made one, else the
Deployment; either way its ``replicas`` is left to KEDA. One trigger per ``metric``:

- ``rps``: the Prometheus scaler over Istio's ``istio_requests_total``, counted where the request
  leaves the caller (``reporter="source"``: the ingress gateway, or the sidecar of an in-mesh
  caller such as the AI gateway), by destination Service. Those series exist while the app has no
  pod at all (the callers get 503 and the count still moves), which is what lets a request wake
  an app scaled to zero. ``target`` is requests per second per replica.
- ``cpu``: the CPU scaler, utilisation of the main container's CPU request in percent.
- ``queue``: the Prometheus scaler over ``query``; a Model defaults to its engine's gauge of
  waiting requests. ``target`` is the queue length per replica.
- ``cron``: the cron scaler holding ``max`` replicas from ``start`` to ``end``.

``scale_to_zero_after`` gives ``minReplicaCount: 0``, ``cooldownPeriod`` (how long after the last
active poll KEDA goes from 1 to 0; the same ``initialCooldownPeriod`` keeps a fresh deploy up that
long) and ``activationThreshold: "0"`` (KEDA activates when the value is above it: one request).
``cooldown`` is the HPA's scale-down stabilisation window (KEDA's cooldownPeriod only governs the
step to zero). A Model that may scale to zero gets a second Prometheus trigger on the AI gateway's
``ironplane_gateway_waiting_requests`` for its gateway name: requests the gateway holds while the
Model starts (its ``cold_start``) wake it. The cold-start path is described in docs/services.md.

Without the ``keda`` add-on nothing scales: the workload gets ``replicas: max(min, 1)`` and a
warning says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ironplane.compiler.addons import ISTIO, PROMETHEUS, has_addon, warn_missing
from ironplane.compiler.core import Build
from ironplane.compiler.kinds.model import ENGINE_QUEUE_METRICS
from ironplane.compiler.labels import metadata
from ironplane.compiler.monitoring import series_matchers
from ironplane.compiler.workload import ROLLOUT_API, scale_target
from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import SpecError
from ironplane.core.quantities import parse_duration
from ironplane.spec.fields import Autoscaling
from ironplane.spec.kinds import ModelSpec
from ironplane.spec.kinds.server import ServerFields
from ironplane.wire.manifests import Object

KEDA = "keda"
KEDA_API = "keda.sh/v1alpha1"
RATE_WINDOW = "1m"
"""rate() window of the rps query: four samples at Istio's usual 15 s scrape interval."""
MAX_STABILIZATION_S = 3600
"""The HPA's limit on a scale-down stabilisation window."""
GATEWAY_WAITING = "ironplane_gateway_waiting_requests"
"""The AI gateway's gauge of requests held for a starting model, by ``model`` (its gateway name).
The gateway defines it (``gateway/metrics.py``); the compiler may not import the gateway."""


@dataclass(frozen=True, slots=True)
class KedaAutoscaling:
    name: str = "autoscaling"

    def applies(self, build: Build) -> bool:
        return isinstance(build.spec, ServerFields) and build.spec.autoscaling is not None

    def apply(self, build: Build) -> None:
        spec = build.spec
        assert isinstance(spec, ServerFields) and spec.autoscaling is not None
        scaling = spec.autoscaling
        problems = _problems(spec, scaling)
        if problems:
            raise SpecError(problems)
        target = scale_target(build)
        if target is None:
            return
        if not has_addon(build, KEDA):
            replicas = max(scaling.min, 1)
            rest = {k: v for k, v in target["spec"].items() if k != "replicas"}
            target["spec"] = {"replicas": replicas, **rest}
            warn_missing(
                build,
                KEDA,
                f"autoscaling is not compiled (no ScaledObject); the {target['kind']} runs a "
                f"fixed {replicas} replica{'s' if replicas > 1 else ''} (autoscaling.min, at "
                "least 1)",
                ("autoscaling",),
            )
            return
        _warn_missing_metric_source(build, scaling)
        target["spec"].pop("replicas", None)
        build.objects.add(_scaled_object(build, scaling, target))


def _problems(spec: ServerFields, scaling: Autoscaling) -> list[Diagnostic]:
    """What the spec model cannot see: the pod's CPU request, the engine, the HPA's limits."""
    problems: list[Diagnostic] = []
    if scaling.metric == "cpu":
        if spec.resources is None or spec.resources.cpu is None:
            problems.append(
                Diagnostic(
                    "the cpu metric scales on utilisation, a percentage of the CPU request, "
                    "and the pod requests no CPU",
                    path=("autoscaling", "metric"),
                    given="cpu",
                    hint="set resources.cpu (e.g. cpu: 1), or scale on rps or queue",
                )
            )
        if scaling.target is not None and not float(scaling.target).is_integer():
            problems.append(
                Diagnostic(
                    "the cpu target is a utilisation in whole percent",
                    path=("autoscaling", "target"),
                    given=_number(scaling.target),
                    allowed="a whole number such as 70",
                )
            )
    if scaling.metric == "queue" and scaling.query is None and isinstance(spec, ModelSpec):
        if spec.engine not in ENGINE_QUEUE_METRICS:
            problems.append(
                Diagnostic(
                    "the queue metric needs a query for engine: custom (there is no engine "
                    "metric to default to)",
                    path=("autoscaling", "metric"),
                    given="queue",
                    hint="add autoscaling.query, a PromQL query giving the queue length",
                )
            )
        elif scaling.min == 0:
            problems.append(
                Diagnostic(
                    f"the engine's queue metric ({ENGINE_QUEUE_METRICS[spec.engine]}) comes from "
                    "the model's own pods: at zero replicas nothing reports a queue, so nothing "
                    "would ever scale it up again",
                    path=("autoscaling", "min"),
                    given="0",
                    hint="scale on rps (requests are counted by the caller), set min: 1, or give "
                    "a query whose series exist while no pod runs",
                )
            )
    if scaling.cooldown is not None and parse_duration(scaling.cooldown) > MAX_STABILIZATION_S:
        problems.append(
            Diagnostic(
                "cooldown is the HPA's scale-down stabilisation window, at most 1h",
                path=("autoscaling", "cooldown"),
                given=scaling.cooldown,
                allowed="a duration up to 1h",
            )
        )
    return problems


def _warn_missing_metric_source(build: Build, scaling: Autoscaling) -> None:
    never = " (at zero: it never wakes)" if scaling.min == 0 else ""
    if scaling.metric in ("rps", "queue") and not has_addon(build, PROMETHEUS):
        warn_missing(
            build,
            PROMETHEUS,
            f"the {scaling.metric} metric is read from Prometheus at "
            f"{build.ctx.cluster.prometheus_url} (the Cluster's prometheus_url); if none answers "
            f"there KEDA cannot read it and the app keeps its replica count{never}",
            ("autoscaling", "metric"),
        )
    if scaling.metric == "rps" and not has_addon(build, ISTIO):
        warn_missing(
            build,
            ISTIO,
            "the rps metric counts istio_requests_total, which only Istio's proxies report; "
            f"without them the rate reads as nothing and the app stays at autoscaling.min{never}",
            ("autoscaling", "metric"),
        )


def _scaled_object(build: Build, scaling: Autoscaling, target: Object) -> Object:
    spec = build.spec
    ref: dict[str, Any] = {"name": spec.name}
    if target["kind"] == "Rollout":
        ref = {"apiVersion": ROLLOUT_API, "kind": "Rollout", **ref}
    body: dict[str, Any] = {"scaleTargetRef": ref}
    if scaling.polling_interval is not None:
        body["pollingInterval"] = parse_duration(scaling.polling_interval)
    to_zero = scaling.scale_to_zero_after or (scaling.cooldown if scaling.min == 0 else None)
    if to_zero is not None:
        body["cooldownPeriod"] = parse_duration(to_zero)
        body["initialCooldownPeriod"] = parse_duration(to_zero)
    body["minReplicaCount"] = scaling.min
    body["maxReplicaCount"] = scaling.max
    if scaling.cooldown is not None:
        window = parse_duration(scaling.cooldown)
        body["advanced"] = {
            "horizontalPodAutoscalerConfig": {
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": window}}
            }
        }
    body["triggers"] = [_trigger(build, scaling)]
    if isinstance(spec, ModelSpec) and scaling.min == 0:
        body["triggers"].append(gateway_waiting_trigger(build, spec))
    return {
        "apiVersion": KEDA_API,
        "kind": "ScaledObject",
        "metadata": metadata(
            spec.name, namespace=build.ctx.namespace, labels=dict(target["metadata"]["labels"])
        ),
        "spec": body,
    }


def _trigger(build: Build, scaling: Autoscaling) -> dict[str, Any]:
    metric = scaling.metric
    if metric == "cron":
        assert scaling.start is not None and scaling.end is not None
        return {
            "type": "cron",
            "name": "cron",
            "metadata": {
                "timezone": scaling.timezone or "UTC",
                "start": scaling.start,
                "end": scaling.end,
                "desiredReplicas": str(scaling.max),
            },
        }
    assert scaling.target is not None
    if metric == "cpu":
        return {
            "type": "cpu",
            "name": "cpu",
            "metricType": "Utilization",
            "metadata": {"value": str(int(scaling.target)), "containerName": "main"},
        }
    query = rps_query(build) if metric == "rps" else queue_query(build, scaling)
    meta = {
        "serverAddress": build.ctx.cluster.prometheus_url,
        "query": query,
        "threshold": _number(scaling.target),
    }
    if scaling.min == 0:
        meta["activationThreshold"] = "0"
    return {"type": "prometheus", "name": metric, "metadata": meta}


WAKE_ONLY = "1000000"
"""A threshold no count of held requests reaches: the HPA never asks for more than 1 replica
from this trigger."""


def gateway_waiting_trigger(build: Build, spec: ModelSpec) -> dict[str, Any]:
    """Wake a Model at zero when the AI gateway holds a request for it.

    Activation at more than 0 held requests. The threshold is high on purpose: this trigger
    only wakes the Model (KEDA sets 1 replica on activation); the Model's own metric sizes it
    from there, so a burst held during a cold start does not start a GPU replica per request.
    The series exists wherever Prometheus scrapes the gateway, whatever the Model's replica
    count: it is what a request reaching a Model with no pod can move.
    """
    return {
        "type": "prometheus",
        "name": "gateway-waiting",
        "metadata": {
            "serverAddress": build.ctx.cluster.prometheus_url,
            "query": f'sum({GATEWAY_WAITING}{{model="{spec.gateway_name}"}})',
            "threshold": WAKE_ONLY,
            "activationThreshold": "0",
        },
    }


def rps_services(build: Build) -> list[str]:
    """The Services an app's requests are addressed to: the stable one, and the canary's or the
    blue-green preview's (the rollouts feature's names)."""
    spec = build.spec
    assert isinstance(spec, ServerFields)
    app = spec.name
    extra = {"canary": [f"{app}-canary"], "blue_green": [f"{app}-preview"]}
    return [app, *extra.get(spec.rollout.strategy, [])]


def rps_query(build: Build) -> str:
    services = rps_services(build)
    if len(services) == 1:
        service = f'destination_service_name="{services[0]}"'
    else:
        service = f'destination_service_name=~"{"|".join(services)}"'
    matchers = f'reporter="source",destination_service_namespace="{build.ctx.namespace}",{service}'
    return f"sum(rate(istio_requests_total{{{matchers}}}[{RATE_WINDOW}]))"


def queue_query(build: Build, scaling: Autoscaling) -> str:
    if scaling.query is not None:
        return scaling.query
    spec = build.spec
    assert isinstance(spec, ModelSpec)
    metric = ENGINE_QUEUE_METRICS[spec.engine]
    return f"sum({metric}{{{series_matchers(build.ctx.namespace, spec.name)}}})"


def _number(value: float) -> str:
    """A KEDA threshold: ``50`` rather than ``50.0``, ``0.5`` as it is."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
