"""``rollout.analysis`` → an Argo ``AnalysisTemplate`` ``<app>`` that judges the new version.

The template's metrics ask the cluster's Prometheus (``ClusterProfile.prometheus_url``) about
Istio's request metrics for the new version's Service (``<app>-canary`` during a canary, the
active ``<app>`` right after a blue-green promotion), counted where each request leaves its caller
(``reporter="source"``: the ingress gateway, or an in-mesh caller's sidecar), so the app's pods
need no sidecar:

- ``error-rate`` (``max_error_rate``): the share of 5xx answers in ``istio_requests_total``;
- ``latency-p99`` (``max_latency_p99``): the 99th percentile of
  ``istio_request_duration_milliseconds_bucket``, in milliseconds.

Each is measured every ``interval`` over a window of the last ``interval`` (at least one minute,
so that a rate has several scrapes to work with); the analysis fails once more than
``failure_limit`` measurements of a metric failed, and Argo Rollouts then aborts the rollout
(traffic back to the stable version). With no traffic in the window there is nothing to judge
and the measurement passes (``or vector(0)``): a canary is judged on the requests it gets.

Wiring: a canary runs it in the background from its second step on (``startingStep: 1``, once
the first weight is set) until the rollout completes; a blue-green rollout runs it right after
promotion (``postPromotionAnalysis``: before it, no traffic reaches the preview), ``failure_limit
+ BLUE_GREEN_CHECKS`` measurements long (Argo requires an end there), and keeps the old pods
(``scaleDownDelaySeconds``) until it can have ended, so that a failure switches traffic back.
The AnalysisRuns Argo makes carry the app's workspace and app labels and ``ironplane.dev/kind:
analysis-run`` (``analysisRunMetadata``), which the agent watches.

It needs Istio's metrics in Prometheus and traffic to the new version's Service: the prometheus
and istio add-ons, and for a canary Istio's traffic routing (a Model's canary has none). Where one
is missing the analysis is left out with a warning and the rollout goes by its steps alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ironplane.compiler.addons import ISTIO, PROMETHEUS, has_addon, warn_missing
from ironplane.compiler.core import Build
from ironplane.compiler.labels import metadata
from ironplane.compiler.rollouts import ROLLOUT_API, canary_service
from ironplane.core.quantities import parse_duration, parse_latency_ms
from ironplane.spec.fields import Analysis
from ironplane.spec.kinds.server import ServerFields
from ironplane.wire.manifests import ANALYSIS_RUN_KIND

BLUE_GREEN_CHECKS = 3
"""Good measurements a blue-green post-promotion analysis needs beyond the tolerated failures."""
MIN_WINDOW_S = 60
PATH = ("rollout", "analysis")


@dataclass(frozen=True, slots=True)
class RolloutAnalysis:
    name: str = "analysis"

    def applies(self, build: Build) -> bool:
        spec = build.spec
        return (
            isinstance(spec, ServerFields)
            and spec.rollout.analysis is not None
            # Without a Rollout (no argo-rollouts add-on) the rollouts feature already said so.
            and build.objects.find("Rollout", spec.name) is not None
        )

    def apply(self, build: Build) -> None:
        spec = build.spec
        assert isinstance(spec, ServerFields) and spec.rollout.analysis is not None
        rollout = build.objects.find("Rollout", spec.name)
        assert rollout is not None
        for addon in (PROMETHEUS, ISTIO):
            if not has_addon(build, addon):
                warn_missing(
                    build,
                    addon,
                    "the analysis reads Istio's request metrics from Prometheus, so it is left "
                    "out and the rollout goes by its steps alone",
                    PATH,
                )
                return
        strategy = rollout["spec"]["strategy"]
        if "canary" in strategy and "trafficRouting" not in strategy["canary"]:
            build.warn(
                "the canary has no Istio traffic routing (a Model's is split by the AI "
                "gateway), whose metrics the analysis reads: the analysis is left out and the "
                "rollout goes by its steps alone",
                path=PATH,
                hint="use strategy: blue_green to have the new version analysed before promotion",
            )
            return
        app, analysis = spec.name, spec.rollout.analysis
        labels = dict(rollout["metadata"]["labels"])
        reference = {
            "templates": [{"templateName": app}],
            # The agent watches AnalysisRuns by these (no managed-by: runs are not pruned).
            "analysisRunMetadata": {"labels": run_labels(labels)},
        }
        if "canary" in strategy:
            target, count = canary_service(app), None
            strategy["canary"]["analysis"] = {**reference, "startingStep": 1}
        else:
            # Before promotion nothing sends traffic to the preview Service, so the new version
            # is judged right after the switch, on the active Service; a failure switches back
            # to the old pods, which are kept until the analysis can have ended.
            target, count = app, analysis.failure_limit + BLUE_GREEN_CHECKS
            blue_green = strategy["blueGreen"]
            blue_green["postPromotionAnalysis"] = reference
            blue_green["scaleDownDelaySeconds"] = count * parse_duration(analysis.interval) + 60
        build.objects.add(
            {
                "apiVersion": ROLLOUT_API,
                "kind": "AnalysisTemplate",
                "metadata": metadata(app, namespace=build.ctx.namespace, labels=labels),
                "spec": {
                    "metrics": metrics(
                        analysis,
                        address=build.ctx.cluster.prometheus_url,
                        namespace=build.ctx.namespace,
                        service=target,
                        count=count,
                    )
                },
            }
        )


def run_labels(owned: dict[str, str]) -> dict[str, str]:
    """The labels Argo puts on the AnalysisRuns it makes: the app's, without managed-by."""
    return {
        "ironplane.dev/workspace": owned["ironplane.dev/workspace"],
        "ironplane.dev/app": owned["ironplane.dev/app"],
        "ironplane.dev/kind": ANALYSIS_RUN_KIND,
    }


def metrics(
    analysis: Analysis, *, address: str, namespace: str, service: str, count: int | None
) -> list[dict[str, Any]]:
    window = f"{max(parse_duration(analysis.interval), MIN_WINDOW_S)}s"
    requests = (
        f'reporter="source",destination_service_namespace="{namespace}",'
        f'destination_service_name="{service}"'
    )
    out: list[tuple[str, str, str]] = []
    if analysis.max_error_rate is not None:
        query = (
            f'sum(rate(istio_requests_total{{{requests},response_code=~"5.."}}[{window}]))'
            f" / sum(rate(istio_requests_total{{{requests}}}[{window}]))"
        )
        out.append(("error-rate", query, f"{analysis.max_error_rate:g}"))
    if analysis.max_latency_p99 is not None:
        query = (
            "histogram_quantile(0.99, sum by (le) "
            f"(rate(istio_request_duration_milliseconds_bucket{{{requests}}}[{window}])))"
        )
        limit_ms = parse_latency_ms(analysis.max_latency_p99)
        out.append(("latency-p99", query, f"{limit_ms:g}"))
    return [
        {
            "name": name,
            "interval": analysis.interval,
            **({"count": count} if count is not None else {}),
            "failureLimit": analysis.failure_limit,
            "successCondition": f"result[0] <= {limit}",
            "provider": {
                "prometheus": {
                    "address": address,
                    # No traffic: 0/0 or an empty vector; NaN fails `>= 0`, and `or` fills in 0.
                    "query": f"({query}) >= 0 or vector(0)",
                }
            },
        }
        for name, query, limit in out
    ]
