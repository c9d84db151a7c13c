"""canary and blue_green → an Argo Rollout (Istio routing, steps, promotion) and its analysis."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ironplane.compiler.analysis import BLUE_GREEN_CHECKS
from tests.compiler.progressive import (
    PROMETHEUS_URL,
    compile_with,
    messages,
    objects_of,
    rejected,
    service,
)

Validate = Callable[[Sequence[dict[str, Any]]], None]

PORTS = (
    "ports:\n"
    "  - {port: 8000, expose: {host: chat.example.com}}\n"
    "  - {port: 9000, protocol: grpc, expose: {host: chat.example.com, path: /rpc}}\n"
    "  - {port: 9100}\n"
)
CANARY = service(
    PORTS + "replicas: 4\n"
    "rollout:\n  strategy: canary\n  steps:\n"
    "    - {weight: 10, pause: 2m}\n    - {weight: 40, pause: 1h30m}\n    - {weight: 80}\n"
)
BLUE_GREEN = service(PORTS + "rollout:\n  strategy: blue_green\n  auto_promote_after: 5m\n")
MODEL = """\
kind: Model
name: llm
workspace: web
engine: vllm
model: org/model
resources: {gpu: {count: 1, type: H100}}
"""


def with_analysis(text: str, analysis: str) -> str:
    """``text`` ends with its block-style ``rollout:`` mapping; add ``analysis`` to it."""
    assert "\nrollout:\n  strategy:" in text
    return text + f"  analysis: {analysis}\n"


def test_canary_replaces_the_deployment_with_a_rollout_of_the_same_pods(
    validated: Validate,
) -> None:
    compiled = compile_with(CANARY)
    objects = objects_of(compiled)
    validated(list(objects.values()))
    rolling = objects_of(compile_with(CANARY.split("rollout:")[0]))["Deployment", "chat"]
    assert ("Deployment", "chat") not in objects
    rollout = objects["Rollout", "chat"]
    assert rollout["apiVersion"] == "argoproj.io/v1alpha1"
    for key in ("replicas", "revisionHistoryLimit", "selector", "template"):
        assert rollout["spec"][key] == rolling["spec"][key], key
    assert rollout["metadata"]["labels"] == objects["Service", "chat"]["metadata"]["labels"]
    canary = rollout["spec"]["strategy"]["canary"]
    assert canary["stableService"] == "chat" and canary["canaryService"] == "chat-canary"
    assert canary["steps"] == [
        {"setWeight": 10},
        {"pause": {"duration": "2m"}},
        {"setWeight": 40},
        {"pause": {"duration": "1h30m"}},
        {"setWeight": 80},
        {"pause": {}},
    ]
    assert canary["maxSurge"] == "25%" and canary["maxUnavailable"] == 0
    assert not messages(compiled)


def test_canary_weights_are_routed_through_the_virtual_service() -> None:
    objects = objects_of(compile_with(CANARY))
    vs = objects["VirtualService", "chat"]
    routing = objects["Rollout", "chat"]["spec"]["strategy"]["canary"]["trafficRouting"]
    assert routing == {
        "istio": {"virtualService": {"name": "chat", "routes": ["grpc-9000", "http-8000"]}}
    }
    for route in vs["spec"]["http"]:
        port = route["route"][0]["destination"]["port"]
        assert route["route"] == [
            {"destination": {"host": "chat", "port": port}, "weight": 100},
            {"destination": {"host": "chat-canary", "port": port}, "weight": 0},
        ]
    # The canary Service is the app's Service under another name: same selector and ports.
    assert objects["Service", "chat-canary"]["spec"] == objects["Service", "chat"]["spec"]


def test_canary_without_steps_stops_at_20_percent_for_a_promote() -> None:
    text = service(PORTS + "rollout: {strategy: canary}\n")
    canary = objects_of(compile_with(text))["Rollout", "chat"]["spec"]["strategy"]["canary"]
    assert canary["steps"] == [{"setWeight": 20}, {"pause": {}}]


def test_gpu_canary_never_surges() -> None:
    text = CANARY.replace(
        "replicas: 4\n", "replicas: 4\nresources: {gpu: {count: 1, type: H100}}\n"
    )
    canary = objects_of(compile_with(text))["Rollout", "chat"]["spec"]["strategy"]["canary"]
    assert (canary["maxSurge"], canary["maxUnavailable"]) == (0, 1)


def test_canary_without_istio_splits_by_pod_count(validated: Validate) -> None:
    compiled = compile_with(CANARY, addons=("argo-rollouts", "prometheus"))
    objects = objects_of(compiled)
    validated(list(objects.values()))
    canary = objects["Rollout", "chat"]["spec"]["strategy"]["canary"]
    assert "trafficRouting" not in canary
    # With a stableService Argo would point "chat" at the old pods only: callers would never
    # reach the new ones. Only the canary Service is handed to Argo.
    assert "stableService" not in canary and canary["canaryService"] == "chat-canary"
    assert ("Service", "chat-canary") in objects
    assert ("VirtualService", "chat") not in objects
    (warning,) = [w for w in compiled.warnings if w.path == ("rollout", "strategy")]
    assert "cluster 'edge' has no istio add-on" in warning.message
    assert "share of new pods" in warning.message


def test_model_canary_is_split_by_the_gateway_between_two_services(validated: Validate) -> None:
    compiled = compile_with(MODEL + "rollout: {strategy: canary, steps: [{weight: 50}]}\n")
    objects = objects_of(compiled)
    validated(list(objects.values()))
    canary = objects["Rollout", "llm"]["spec"]["strategy"]["canary"]
    # No Istio routing: the gateway weights <app> (stable pods only) against <app>-canary.
    assert "trafficRouting" not in canary
    assert (canary["stableService"], canary["canaryService"]) == ("llm", "llm-canary")
    assert any("split by the AI gateway" in m for m in messages(compiled))
    # Gateway annotations register <app> in the AI gateway; the canary must not be a second
    # backend there.
    assert "annotations" in objects["Service", "llm"]["metadata"]
    assert "annotations" not in objects["Service", "llm-canary"]["metadata"]


def test_blue_green_promotes_automatically_after_the_delay(validated: Validate) -> None:
    objects = objects_of(compile_with(BLUE_GREEN))
    validated(list(objects.values()))
    plan = objects["Rollout", "chat"]["spec"]["strategy"]["blueGreen"]
    assert plan == {
        "activeService": "chat",
        "previewService": "chat-preview",
        "autoPromotionEnabled": True,
        "autoPromotionSeconds": 300,
    }
    assert objects["Service", "chat-preview"]["spec"] == objects["Service", "chat"]["spec"]
    # Blue-green switches Services; the ingress route stays on the active Service.
    (route, *_) = objects["VirtualService", "chat"]["spec"]["http"]
    assert [d["destination"]["host"] for d in route["route"]] == ["chat"]


def test_blue_green_without_delay_waits_for_a_manual_promote() -> None:
    text = service("ports: [{port: 8000}]\nrollout: {strategy: blue_green}\n")
    plan = objects_of(compile_with(text))["Rollout", "chat"]["spec"]["strategy"]["blueGreen"]
    assert plan["autoPromotionEnabled"] is False and "autoPromotionSeconds" not in plan


def test_blue_green_needs_a_service_to_switch() -> None:
    (problem,) = rejected(service("rollout: {strategy: blue_green}\n"))
    assert problem.path == ("rollout", "strategy")
    assert "without ports" in problem.message
    assert problem.hint and "add a port" in problem.hint


@pytest.mark.parametrize("text", [CANARY, BLUE_GREEN], ids=["canary", "blue_green"])
def test_without_argo_rollouts_the_deployment_stays(text: str) -> None:
    compiled = compile_with(with_analysis(text, "{max_error_rate: 0.01}"), addons=("istio",))
    objects = objects_of(compiled)
    assert ("Deployment", "chat") in objects and ("Rollout", "chat") not in objects
    assert not any(kind == "AnalysisTemplate" for kind, _ in objects)
    assert not any(name.endswith(("-canary", "-preview")) for _, name in objects)
    # The VirtualService then routes to the one Service, without canary weights.
    for route in objects["VirtualService", "chat"]["spec"]["http"]:
        assert [d["destination"]["host"] for d in route["route"]] == ["chat"]
    (warning,) = [w for w in compiled.warnings if w.path == ("rollout", "strategy")]
    assert "cluster 'edge' has no argo-rollouts add-on" in warning.message
    assert "rolling update" in warning.message and "no analysis runs" in warning.message


# --- analysis -----------------------------------------------------------------------------------


def test_canary_analysis_runs_in_the_background_on_the_canary_service(
    validated: Validate,
) -> None:
    text = with_analysis(
        CANARY, "{max_error_rate: 0.02, max_latency_p99: 2s, interval: 30s, failure_limit: 2}"
    )
    objects = objects_of(compile_with(text))
    validated(list(objects.values()))
    canary = objects["Rollout", "chat"]["spec"]["strategy"]["canary"]
    assert canary["analysis"] == {
        "templates": [{"templateName": "chat"}],
        "startingStep": 1,
        "analysisRunMetadata": {"labels": RUN_LABELS},
    }
    template = objects["AnalysisTemplate", "chat"]
    assert template["metadata"]["namespace"] == "web"
    errors, latency = template["spec"]["metrics"]
    assert (errors["name"], latency["name"]) == ("error-rate", "latency-p99")
    for metric in (errors, latency):
        assert metric["interval"] == "30s" and metric["failureLimit"] == 2
        assert "count" not in metric, "background analysis runs until the rollout completes"
        prom = metric["provider"]["prometheus"]
        assert prom["address"] == PROMETHEUS_URL
        assert 'destination_service_name="chat-canary"' in prom["query"]
        assert 'destination_service_namespace="web"' in prom["query"]
        assert 'reporter="source"' in prom["query"]
        assert prom["query"].endswith(" >= 0 or vector(0)")
        assert "[60s]" in prom["query"], "a window shorter than a minute has too few scrapes"
    assert errors["successCondition"] == "result[0] <= 0.02"
    assert 'response_code=~"5.."' in errors["provider"]["prometheus"]["query"]
    assert latency["successCondition"] == "result[0] <= 2000"
    assert "histogram_quantile(0.99," in latency["provider"]["prometheus"]["query"]
    assert (
        "istio_request_duration_milliseconds_bucket" in latency["provider"]["prometheus"]["query"]
    )


RUN_LABELS = {
    "ironplane.dev/workspace": "web",
    "ironplane.dev/app": "chat",
    "ironplane.dev/kind": "analysis-run",
}


def test_analysis_window_follows_a_long_interval() -> None:
    text = with_analysis(CANARY, "{max_error_rate: 0.01, interval: 5m}")
    (metric,) = objects_of(compile_with(text))["AnalysisTemplate", "chat"]["spec"]["metrics"]
    assert metric["interval"] == "5m" and "[300s]" in metric["provider"]["prometheus"]["query"]


def test_blue_green_analysis_judges_the_new_version_once_it_takes_traffic(
    validated: Validate,
) -> None:
    text = with_analysis(BLUE_GREEN, "{max_latency_p99: 1s, failure_limit: 3, interval: 30s}")
    objects = objects_of(compile_with(text))
    validated(list(objects.values()))
    plan = objects["Rollout", "chat"]["spec"]["strategy"]["blueGreen"]
    # Nothing sends traffic to the preview before promotion: judge it on the active Service
    # right after the switch, and keep the old pods until the analysis can have ended.
    assert "prePromotionAnalysis" not in plan
    assert plan["postPromotionAnalysis"] == {
        "templates": [{"templateName": "chat"}],
        "analysisRunMetadata": {"labels": RUN_LABELS},
    }
    (metric,) = objects["AnalysisTemplate", "chat"]["spec"]["metrics"]
    assert metric["name"] == "latency-p99" and metric["successCondition"] == "result[0] <= 1000"
    # Argo refuses a blue-green analysis that never ends; it must outlast the tolerated failures.
    assert metric["count"] == 3 + BLUE_GREEN_CHECKS
    assert plan["scaleDownDelaySeconds"] >= metric["count"] * 30
    assert 'destination_service_name="chat"' in metric["provider"]["prometheus"]["query"]


def test_model_blue_green_is_analysed(validated: Validate) -> None:
    text = MODEL + "rollout: {strategy: blue_green, analysis: {max_error_rate: 0.05}}\n"
    objects = objects_of(compile_with(text))
    validated(list(objects.values()))
    assert "postPromotionAnalysis" in objects["Rollout", "llm"]["spec"]["strategy"]["blueGreen"]
    assert ("AnalysisTemplate", "llm") in objects


def test_model_canary_analysis_is_left_out() -> None:
    text = MODEL + "rollout: {strategy: canary, analysis: {max_error_rate: 0.05}}\n"
    compiled = compile_with(text)
    objects = objects_of(compiled)
    assert ("AnalysisTemplate", "llm") not in objects
    assert "analysis" not in objects["Rollout", "llm"]["spec"]["strategy"]["canary"]
    (warning,) = [w for w in compiled.warnings if w.path == ("rollout", "analysis")]
    assert "no Istio traffic routing" in warning.message and "left out" in warning.message


@pytest.mark.parametrize(
    ("addons", "missing"),
    [(("istio", "argo-rollouts"), "prometheus"), (("argo-rollouts", "prometheus"), "istio")],
)
def test_analysis_needs_prometheus_and_istio(addons: tuple[str, ...], missing: str) -> None:
    text = with_analysis(BLUE_GREEN, "{max_error_rate: 0.01}")
    compiled = compile_with(text, addons=addons)
    objects = objects_of(compiled)
    assert ("AnalysisTemplate", "chat") not in objects
    plan = objects["Rollout", "chat"]["spec"]["strategy"]["blueGreen"]
    assert "postPromotionAnalysis" not in plan
    (warning,) = [w for w in compiled.warnings if w.path == ("rollout", "analysis")]
    assert f"cluster 'edge' has no {missing} add-on" in warning.message
    assert warning.hint == f"add {missing} to the Cluster's addons once it is installed"
