"""``autoscaling`` → a KEDA ScaledObject: triggers per metric, scale to zero, add-on gating."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ironplane.compiler.autoscaling import KedaAutoscaling
from ironplane.compiler.context import ClusterProfile, CompileContext
from ironplane.compiler.core import Build
from ironplane.compiler.kinds.server import compile_service
from ironplane.core.errors import SpecError
from ironplane.spec.kinds import ServiceSpec, WorkspaceSpec
from tests.compiler.helpers import compile_text, find

Validate = Callable[[Sequence[dict[str, Any]]], None]
ALL_ADDONS = ("keda", "prometheus", "istio", "argo-rollouts")
PROMETHEUS = "http://prometheus.monitoring.svc:9090"


def platform(addons: Sequence[str] = ALL_ADDONS) -> str:
    return (
        f"kind: Cluster\nname: gpu-cluster\naddons: [{', '.join(addons)}]\n"
        f"prometheus_url: {PROMETHEUS}\n---\n"
        "kind: Workspace\nname: prod\ncluster: gpu-cluster\ngpu: true\n---\n"
    )


def service(scaling: str, *, extra: str = "", strategy: str = "rolling") -> str:
    rollout = f"rollout: {{strategy: {strategy}}}\n" if strategy != "rolling" else ""
    expose = ", expose: {host: chat.example.com}" if strategy == "canary" else ""
    return (
        "kind: Service\nname: chat-api\nworkspace: prod\nimage: registry.example.com/chat:1\n"
        f"ports: [{{port: 8000{expose}}}]\nresources: {{cpu: 2, memory: 4Gi}}\n"
        f"autoscaling: {scaling}\n{rollout}{extra}"
    )


def model(scaling: str, *, engine: str = "vllm", extra: str = "") -> str:
    return (
        f"kind: Model\nname: llama-8b\nworkspace: prod\nengine: {engine}\nmodel: meta/llama\n"
        f"resources: {{gpu: {{count: 1, type: H100}}}}\nautoscaling: {scaling}\n{extra}"
    )


def compile_app(text: str, addons: Sequence[str] = ALL_ADDONS) -> tuple[list[dict[str, Any]], Any]:
    compiled = compile_text(text, platform=platform(addons))
    return list(compiled.bundle.objects), compiled


def scaled_object(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (obj,) = [o for o in objects if o["kind"] == "ScaledObject"]
    return obj


def problems(text: str) -> list[Any]:
    with pytest.raises(SpecError) as caught:
        compile_text(text, platform=platform())
    return list(caught.value.diagnostics)


METRICS = {
    "rps": "{min: 1, max: 6, metric: rps, target: 50}",
    "cpu": "{min: 2, max: 6, metric: cpu, target: 70}",
    "queue": "{min: 1, max: 6, metric: queue, target: 8, query: 'sum(jobs_waiting)'}",
    "cron": "{min: 1, max: 6, metric: cron, start: '0 8 * * 1-5', end: '0 20 * * 1-5'}",
    "zero": "{min: 0, max: 6, metric: rps, target: 50, scale_to_zero_after: 15m}",
}


@pytest.mark.parametrize("strategy", ["rolling", "canary", "blue_green"])
def test_every_metric_validates_under_every_strategy(strategy: str, validated: Validate) -> None:
    objects: list[dict[str, Any]] = []
    for metric, scaling in METRICS.items():
        text = service(scaling, strategy=strategy).replace("chat-api", f"chat-{metric}")
        compiled, _ = compile_app(text)
        so = scaled_object(compiled)
        assert so["spec"]["scaleTargetRef"]["name"] == f"chat-{metric}"
        objects += compiled
    validated(objects)


def test_rps_counts_requests_reported_by_the_caller_for_the_stable_service() -> None:
    objects, compiled = compile_app(service(METRICS["rps"]))
    so = scaled_object(objects)
    assert so["metadata"]["namespace"] == "prod"
    assert (
        so["metadata"]["labels"] == find(compiled, "Deployment", "chat-api")["metadata"]["labels"]
    )
    assert so["spec"]["scaleTargetRef"] == {"name": "chat-api"}
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (1, 6)
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    meta = trigger["metadata"]
    assert meta["serverAddress"] == PROMETHEUS
    assert meta["threshold"] == "50"
    assert meta["query"] == (
        'sum(rate(istio_requests_total{reporter="source",destination_service_namespace="prod",'
        'destination_service_name="chat-api"}[1m]))'
    )
    assert "activationThreshold" not in meta, "activation only matters when scaling to zero"
    assert "cooldownPeriod" not in so["spec"]
    assert "replicas" not in find(compiled, "Deployment", "chat-api")["spec"]


@pytest.mark.parametrize(
    ("strategy", "services"),
    [("canary", "chat-api|chat-api-canary"), ("blue_green", "chat-api|chat-api-preview")],
)
def test_rps_also_counts_the_new_versions_service(strategy: str, services: str) -> None:
    objects, _ = compile_app(service(METRICS["rps"], strategy=strategy))
    query = scaled_object(objects)["spec"]["triggers"][0]["metadata"]["query"]
    assert f'destination_service_name=~"{services}"' in query


def test_scale_to_zero_activates_on_one_request_and_waits_before_going_to_zero() -> None:
    objects, _ = compile_app(service(METRICS["zero"]))
    spec = scaled_object(objects)["spec"]
    assert spec["minReplicaCount"] == 0
    assert spec["cooldownPeriod"] == 900
    assert spec["initialCooldownPeriod"] == 900
    assert spec["triggers"][0]["metadata"]["activationThreshold"] == "0"


def test_polling_interval_and_cooldown_become_keda_and_hpa_settings(validated: Validate) -> None:
    scaling = "{min: 1, max: 4, target: 10, polling_interval: 15s, cooldown: 2m}"
    objects, _ = compile_app(service(scaling))
    spec = scaled_object(objects)["spec"]
    assert spec["pollingInterval"] == 15
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior == {"scaleDown": {"stabilizationWindowSeconds": 120}}
    assert "cooldownPeriod" not in spec, "min 1 never goes to zero"
    validated(objects)


def test_cooldown_is_the_step_to_zero_when_min_is_zero_without_scale_to_zero_after() -> None:
    objects, _ = compile_app(service("{min: 0, max: 4, target: 10, cooldown: 3m}"))
    assert scaled_object(objects)["spec"]["cooldownPeriod"] == 180


def test_cpu_scales_on_the_main_containers_utilisation() -> None:
    objects, _ = compile_app(service(METRICS["cpu"]))
    (trigger,) = scaled_object(objects)["spec"]["triggers"]
    assert trigger == {
        "type": "cpu",
        "name": "cpu",
        "metricType": "Utilization",
        "metadata": {"value": "70", "containerName": "main"},
    }


def test_cpu_without_a_cpu_request_is_an_error() -> None:
    text = service(METRICS["cpu"]).replace("resources: {cpu: 2, memory: 4Gi}", "")
    (problem,) = problems(text)
    assert problem.path == ("autoscaling", "metric")
    assert "requests no CPU" in problem.message and problem.hint and "resources.cpu" in problem.hint


def test_cpu_target_must_be_a_whole_percentage() -> None:
    (problem,) = problems(service("{min: 1, max: 3, metric: cpu, target: 62.5}"))
    assert problem.path == ("autoscaling", "target") and problem.given == "62.5"


def test_queue_passes_the_services_query_through() -> None:
    objects, _ = compile_app(service(METRICS["queue"]))
    meta = scaled_object(objects)["spec"]["triggers"][0]["metadata"]
    assert meta["query"] == "sum(jobs_waiting)"
    assert meta["threshold"] == "8"


def test_fractional_thresholds_are_written_as_they_are() -> None:
    objects, _ = compile_app(service("{min: 1, max: 3, metric: queue, target: 0.5, query: q}"))
    assert scaled_object(objects)["spec"]["triggers"][0]["metadata"]["threshold"] == "0.5"


@pytest.mark.parametrize(
    ("engine", "metric"),
    [
        ("vllm", "vllm:num_requests_waiting"),
        ("sglang", "sglang:num_queue_reqs"),
        ("tgi", "tgi_queue_size"),
    ],
)
def test_a_models_queue_defaults_to_its_engines_waiting_requests(
    engine: str, metric: str, validated: Validate
) -> None:
    objects, _ = compile_app(model("{min: 1, max: 4, metric: queue, target: 5}", engine=engine))
    meta = scaled_object(objects)["spec"]["triggers"][0]["metadata"]
    assert meta["query"] == f'sum({metric}{{namespace="prod",job="llama-8b"}})'
    # The job label comes from the monitor's jobLabel: the app label of what it scrapes.
    (monitor,) = [o for o in objects if o["kind"] == "ServiceMonitor"]
    service_obj = next(o for o in objects if o["kind"] == "Service")
    assert service_obj["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "llama-8b"
    validated(objects)


def test_a_models_engine_queue_cannot_wake_it_from_zero() -> None:
    (problem,) = problems(model("{min: 0, max: 4, metric: queue, target: 5}"))
    assert problem.path == ("autoscaling", "min")
    assert "vllm:num_requests_waiting" in problem.message
    assert problem.hint and "rps" in problem.hint


def test_a_custom_engine_needs_a_queue_query() -> None:
    text = model(
        "{min: 1, max: 4, metric: queue, target: 5}",
        engine="custom",
        extra="image: registry.example.com/llm:1\ncommand: [serve]\n",
    )
    (problem,) = problems(text)
    assert problem.path == ("autoscaling", "metric") and "engine: custom" in problem.message


def test_cron_holds_max_replicas_in_the_window() -> None:
    scaling = (
        "{min: 0, max: 5, metric: cron, start: '0 8 * * 1-5', end: '0 20 * * 1-5', "
        "timezone: Europe/Paris}"
    )
    objects, _ = compile_app(service(scaling))
    spec = scaled_object(objects)["spec"]
    assert spec["triggers"] == [
        {
            "type": "cron",
            "name": "cron",
            "metadata": {
                "timezone": "Europe/Paris",
                "start": "0 8 * * 1-5",
                "end": "0 20 * * 1-5",
                "desiredReplicas": "5",
            },
        }
    ]
    assert spec["minReplicaCount"] == 0


def test_cron_timezone_defaults_to_utc() -> None:
    objects, _ = compile_app(service(METRICS["cron"]))
    assert scaled_object(objects)["spec"]["triggers"][0]["metadata"]["timezone"] == "UTC"


def test_cooldown_longer_than_the_hpa_allows_is_an_error() -> None:
    (problem,) = problems(service("{min: 1, max: 4, target: 10, cooldown: 2h}"))
    assert problem.path == ("autoscaling", "cooldown") and problem.given == "2h"


@pytest.mark.parametrize(("minimum", "replicas"), [(0, 1), (3, 3)])
def test_without_keda_the_workload_runs_a_fixed_count_and_says_so(
    minimum: int, replicas: int
) -> None:
    scaling = f"{{min: {minimum}, max: 6, metric: rps, target: 50}}"
    objects, compiled = compile_app(service(scaling), addons=("prometheus", "istio"))
    assert not [o for o in objects if o["kind"] == "ScaledObject"]
    deployment = find(compiled, "Deployment", "chat-api")
    assert deployment["spec"]["replicas"] == replicas
    assert next(iter(deployment["spec"])) == "replicas", "same key order as a fixed count"
    (warning,) = [w for w in compiled.warnings if "keda add-on" in w.message]
    assert "'gpu-cluster'" in warning.message and f"fixed {replicas} replica" in warning.message
    assert warning.path == ("autoscaling",)


def test_rps_without_prometheus_and_istio_warns_but_still_scales() -> None:
    objects, compiled = compile_app(service(METRICS["zero"]), addons=("keda",))
    assert scaled_object(objects)
    messages = [w.message for w in compiled.warnings]
    assert any(
        "no prometheus add-on" in m and PROMETHEUS in m and "never wakes" in m for m in messages
    )
    assert any("no istio add-on" in m and "istio_requests_total" in m for m in messages)


def test_cpu_and_cron_need_no_prometheus() -> None:
    for metric in ("cpu", "cron"):
        _, compiled = compile_app(service(METRICS[metric]), addons=("keda",))
        assert not compiled.warnings, [w.message for w in compiled.warnings]


def test_the_autoscaling_not_compiled_warning_is_gone() -> None:
    _, compiled = compile_app(service(METRICS["rps"]))
    assert not [w for w in compiled.warnings if "not compiled yet" in w.message]


def _build_with_rollout(scaling: dict[str, Any], *, workload_ref: bool) -> Build:
    """A Service compiled, then its Deployment turned into an Argo Rollout, as the rollouts
    feature (which runs before autoscaling) does."""
    spec = ServiceSpec(
        kind="Service",
        name="chat-api",
        image="registry.example.com/chat:1",
        ports=[{"port": 8000}],  # type: ignore[list-item]
        autoscaling=scaling,  # type: ignore[arg-type]
    )
    ctx = CompileContext(
        workspace=WorkspaceSpec(kind="Workspace", name="prod"),
        cluster=ClusterProfile(name="gpu-cluster", addons=frozenset(ALL_ADDONS)),
    )
    build = Build(spec=spec, ctx=ctx, version="v1")
    compile_service(build)
    deployment = build.objects.find("Deployment", "chat-api")
    assert deployment is not None
    rollout_spec: dict[str, Any] = {"replicas": 1, "selector": deployment["spec"]["selector"]}
    if workload_ref:
        rollout_spec["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment"}
    else:
        build.objects.remove(deployment)
        rollout_spec["template"] = deployment["spec"]["template"]
    build.objects.add(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": deployment["metadata"],
            "spec": rollout_spec,
        }
    )
    return build


@pytest.mark.parametrize("workload_ref", [False, True])
def test_a_rollout_is_the_scale_target_when_there_is_one(
    workload_ref: bool, validated: Validate
) -> None:
    build = _build_with_rollout({"max": 4, "target": 10}, workload_ref=workload_ref)
    KedaAutoscaling().apply(build)
    rollout = build.objects.find("Rollout", "chat-api")
    so = build.objects.find("ScaledObject", "chat-api")
    assert rollout is not None and so is not None
    assert so["spec"]["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "chat-api",
    }
    assert "replicas" not in rollout["spec"], "KEDA owns the count; apply must not reset it"
    validated([so])


def test_without_keda_a_rollout_gets_the_fixed_count() -> None:
    build = _build_with_rollout({"min": 2, "max": 4, "target": 10}, workload_ref=False)
    build = Build(
        spec=build.spec,
        ctx=CompileContext(
            workspace=build.ctx.workspace, cluster=ClusterProfile(name="bare-cluster")
        ),
        version=build.version,
        objects=build.objects,
    )
    KedaAutoscaling().apply(build)
    rollout = build.objects.find("Rollout", "chat-api")
    assert rollout is not None and rollout["spec"]["replicas"] == 2
    assert build.objects.find("ScaledObject", "chat-api") is None
    assert "Rollout runs a fixed 2 replicas" in build.warnings[0].message


def test_a_model_at_zero_also_wakes_on_requests_the_ai_gateway_holds(validated: Validate) -> None:
    text = model(
        "{min: 0, max: 4, metric: rps, target: 5, scale_to_zero_after: 10m}",
        extra="gateway: {name: llama-3.1-8b}\n",
    )
    objects, _ = compile_app(text)
    rps, waiting = scaled_object(objects)["spec"]["triggers"]
    assert rps["name"] == "rps"
    assert waiting == {
        "type": "prometheus",
        "name": "gateway-waiting",
        "metadata": {
            "serverAddress": PROMETHEUS,
            # The gateway name clients send, not the app's name; summed over gateway replicas.
            "query": 'sum(ironplane_gateway_waiting_requests{model="llama-3.1-8b"})',
            # Only wakes the Model: never reached, so the HPA asks for at most 1 replica here.
            "threshold": "1000000",
            "activationThreshold": "0",
        },
    }
    validated(objects)


def test_the_wake_trigger_reads_the_gauge_the_gateway_serves() -> None:
    from ironplane.gateway.metrics import PREFIX

    objects, _ = compile_app(model("{min: 0, max: 2, metric: rps, target: 5}"))
    query = scaled_object(objects)["spec"]["triggers"][1]["metadata"]["query"]
    assert query == f'sum({PREFIX}waiting_requests{{model="llama-8b"}})'


@pytest.mark.parametrize(
    "text",
    [
        service(METRICS["zero"]),  # a Service is not behind the AI gateway
        model("{min: 1, max: 4, metric: rps, target: 5}"),  # never at zero: nothing to wake
    ],
    ids=["service", "model-min-1"],
)
def test_no_wake_trigger_without_a_model_at_zero(text: str) -> None:
    objects, _ = compile_app(text)
    triggers = scaled_object(objects)["spec"]["triggers"]
    assert [t["name"] for t in triggers] == ["rps"]
