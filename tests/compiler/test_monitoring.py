"""ServiceMonitor / PodMonitor for every server that serves Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ironplane.compiler.context import ClusterProfile, CompileContext
from ironplane.compiler.core import Build
from ironplane.compiler.kinds.server import compile_service
from ironplane.compiler.monitoring import Monitoring
from ironplane.spec.kinds import ServiceSpec, WorkspaceSpec
from tests.compiler.helpers import compile_text, find, pod_of

Validate = Callable[[Sequence[dict[str, Any]]], None]


def platform(addons: str = "prometheus, istio, keda") -> str:
    return (
        f"kind: Cluster\nname: gpu-cluster\naddons: [{addons}]\n---\n"
        "kind: Workspace\nname: prod\ncluster: gpu-cluster\ngpu: true\n---\n"
    )


def service(extra: str = "", strategy: str = "rolling") -> str:
    rollout = f"rollout: {{strategy: {strategy}}}\n" if strategy != "rolling" else ""
    expose = ", expose: {host: web.example.com}" if strategy == "canary" else ""
    return (
        "kind: Service\nname: web-api\nworkspace: prod\nimage: registry.example.com/web:1\n"
        f"ports: [{{port: 8000{expose}}}, {{port: 9000, protocol: grpc}}]\n{rollout}{extra}"
    )


def model(engine: str = "vllm", extra: str = "") -> str:
    return (
        f"kind: Model\nname: llama-8b\nworkspace: prod\nengine: {engine}\nmodel: meta/llama\n"
        f"resources: {{gpu: {{count: 1, type: H100}}}}\n{extra}"
    )


def monitors(objects: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in ("ServiceMonitor", "PodMonitor")]


@pytest.mark.parametrize("engine", ["vllm", "sglang", "tgi"])
def test_a_model_is_scraped_on_its_serving_port_by_default(
    engine: str, validated: Validate
) -> None:
    compiled = compile_text(model(engine), platform=platform())
    objects = list(compiled.bundle.objects)
    (monitor,) = monitors(objects)
    assert monitor["kind"] == "ServiceMonitor"
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == "prod"
    assert (
        monitor["metadata"]["labels"] == find(compiled, "Service", "llama-8b")["metadata"]["labels"]
    )
    assert monitor["spec"] == {
        "jobLabel": "ironplane.dev/app",
        "selector": {"matchLabels": {"ironplane.dev/app": "llama-8b"}},
        "endpoints": [{"port": "http-8000", "path": "/metrics"}],
    }
    service_ports = [p["name"] for p in find(compiled, "Service", "llama-8b")["spec"]["ports"]]
    assert "http-8000" in service_ports
    validated(objects)


def test_sglang_is_started_with_its_metrics_on() -> None:
    compiled = compile_text(model("sglang"), platform=platform())
    command = pod_of(find(compiled, "Deployment", "llama-8b"))["containers"][0]["command"]
    assert "--enable-metrics" in command


def test_a_custom_engine_is_scraped_only_when_it_says_where() -> None:
    custom = "image: registry.example.com/llm:1\ncommand: [serve]\n"
    compiled = compile_text(model("custom", custom), platform=platform())
    assert monitors(compiled.bundle.objects) == []
    compiled = compile_text(
        model("custom", custom + "metrics: {port: 8000, path: /stats}\n"), platform=platform()
    )
    (monitor,) = monitors(compiled.bundle.objects)
    assert monitor["spec"]["endpoints"] == [{"port": "http-8000", "path": "/stats"}]


def test_a_service_without_metrics_gets_no_monitor() -> None:
    compiled = compile_text(service(), platform=platform())
    assert monitors(compiled.bundle.objects) == []


def test_a_service_port_is_scraped_through_a_service_monitor(validated: Validate) -> None:
    compiled = compile_text(
        service("metrics: {port: 9000, path: /prom, interval: 1m30s}\n"), platform=platform()
    )
    (monitor,) = monitors(compiled.bundle.objects)
    assert monitor["kind"] == "ServiceMonitor"
    assert monitor["spec"]["endpoints"] == [
        {"port": "grpc-9000", "path": "/prom", "interval": "90s"}
    ]
    validated(list(compiled.bundle.objects))


def test_another_port_gets_a_pod_monitor_and_a_named_container_port(validated: Validate) -> None:
    compiled = compile_text(service("metrics: {port: 9102}\n"), platform=platform())
    (monitor,) = monitors(compiled.bundle.objects)
    assert monitor["kind"] == "PodMonitor"
    assert monitor["spec"] == {
        "jobLabel": "ironplane.dev/app",
        "selector": {"matchLabels": {"ironplane.dev/app": "web-api"}},
        "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics"}],
    }
    ports = pod_of(find(compiled, "Deployment", "web-api"))["containers"][0]["ports"]
    assert {"name": "metrics", "containerPort": 9102, "protocol": "TCP"} in ports
    service_ports = [p["port"] for p in find(compiled, "Service", "web-api")["spec"]["ports"]]
    assert 9102 not in service_ports, "the metrics port stays off the Service"
    validated(list(compiled.bundle.objects))


@pytest.mark.parametrize("strategy", ["canary", "blue_green"])
def test_progressive_rollouts_scrape_pods_not_services(strategy: str, validated: Validate) -> None:
    compiled = compile_text(
        service("metrics: {port: 8000}\n", strategy=strategy), platform=platform()
    )
    (monitor,) = monitors(compiled.bundle.objects)
    assert monitor["kind"] == "PodMonitor"
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "http-8000", "path": "/metrics"}]
    objects = list(compiled.bundle.objects)
    holder = next(o for o in objects if o["kind"] in ("Rollout", "Deployment"))
    names = [p["name"] for p in pod_of(holder)["containers"][0]["ports"]]
    assert names.count("http-8000") == 1 and "metrics" not in names
    validated(objects)


def test_without_prometheus_a_requested_endpoint_warns_and_a_models_does_not() -> None:
    compiled = compile_text(service("metrics: {port: 9102}\n"), platform=platform("keda"))
    assert monitors(compiled.bundle.objects) == []
    (warning,) = compiled.warnings
    assert "'gpu-cluster'" in warning.message and "has no prometheus add-on" in warning.message
    assert "port 9102" in warning.message and warning.path == ("metrics",)
    ports = pod_of(find(compiled, "Deployment", "web-api"))["containers"][0]["ports"]
    assert all(p["name"] != "metrics" for p in ports), "no container port nobody scrapes"
    compiled = compile_text(model(), platform=platform("keda"))
    assert monitors(compiled.bundle.objects) == []
    assert not compiled.warnings


def test_a_rollout_holding_the_template_gets_the_metrics_port() -> None:
    """When the rollouts feature moved the pod template into a Rollout, the port goes there."""
    spec = ServiceSpec(
        kind="Service",
        name="web-api",
        image="registry.example.com/web:1",
        ports=[{"port": 8000}],  # type: ignore[list-item]
        metrics={"port": 9102},  # type: ignore[arg-type]
    )
    ctx = CompileContext(
        workspace=WorkspaceSpec(kind="Workspace", name="prod"),
        cluster=ClusterProfile(name="gpu-cluster", addons=frozenset({"prometheus"})),
    )
    build = Build(spec=spec, ctx=ctx, version="v1")
    compile_service(build)
    deployment = build.objects.find("Deployment", "web-api")
    assert deployment is not None
    build.objects.remove(deployment)
    build.objects.add(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": deployment["metadata"],
            "spec": {"template": deployment["spec"]["template"]},
        }
    )
    assert Monitoring().applies(build)
    Monitoring().apply(build)
    rollout = build.objects.find("Rollout", "web-api")
    assert rollout is not None
    ports = rollout["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert ports[-1] == {"name": "metrics", "containerPort": 9102, "protocol": "TCP"}
    assert build.objects.find("PodMonitor", "web-api") is not None
