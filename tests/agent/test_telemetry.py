"""The agent's telemetry: which app a pod or Service is, GPU and request aggregation, quantiles."""

from __future__ import annotations

import asyncio
import math

import pytest

from ironplane.agent.telemetry.collect import (
    Telemetry,
    gpu_samples,
    histogram_quantile,
    request_samples,
)
from ironplane.agent.telemetry.owners import Owners
from ironplane.agent.telemetry.prometheus import Point, Prometheus, PrometheusError, masked
from ironplane.wire.agent_protocol import Object, Sample
from tests.ports import free_port

MIB = 1024 * 1024


def owned(kind: str, name: str, app: str, namespace: str = "team-a") -> Object:
    labels = {"ironplane.dev/workspace": namespace, "ironplane.dev/app": app}
    return {"kind": kind, "metadata": {"name": name, "namespace": namespace, "labels": labels}}


DESIRED = [
    owned("Deployment", "chat", "chat"),
    owned("Service", "chat", "chat"),
    owned("Service", "chat-canary", "chat"),
    owned("StatefulSet", "trainer", "trainer"),
    owned("Service", "search", "search", namespace="team-b"),
]


def dcgm(metric: str, value: float, *, node: str, gpu: str, **labels: str) -> Point:
    return Point({"__name__": metric, "Hostname": node, "UUID": gpu, "gpu": "0", **labels}, value)


def by_key(samples: list[Sample]) -> dict[tuple[str, str | None, str | None, str], float]:
    return {(s.scope, s.node, s.app, s.name): s.value for s in samples}


def test_owners_map_pods_by_labels_then_by_workload_name() -> None:
    watched = [owned("Pod", "odd-name-xyz", "chat")]
    owners = Owners(DESIRED, lambda: watched)
    assert owners.of_pod("team-a", "odd-name-xyz") == ("team-a", "chat")
    assert owners.of_pod("team-a", "chat-7d9f8c6b5-x2k4q") == ("team-a", "chat")
    assert owners.of_pod("team-a", "trainer-0") == ("team-a", "trainer")
    assert owners.of_pod("team-b", "chat-7d9f8c6b5-x2k4q") is None  # another namespace
    assert owners.of_pod("team-a", "someone-elses-5f6d-abcde") is None
    assert owners.of_service("team-a", "chat-canary") == ("team-a", "chat")
    assert owners.of_service("team-a", "nope") is None


def test_gpus_add_up_per_node_and_per_app_counting_each_gpu_once() -> None:
    owners = Owners(DESIRED)
    points = [
        # node-1: two GPUs; GPU-a is shared by two pods of chat (time-slicing): counted once
        dcgm("DCGM_FI_DEV_GPU_UTIL", 80, node="node-1", gpu="GPU-a", pod="chat-1-a", namespace="team-a"),
        dcgm("DCGM_FI_DEV_GPU_UTIL", 80, node="node-1", gpu="GPU-a", pod="chat-1-b", namespace="team-a"),
        dcgm("DCGM_FI_DEV_GPU_UTIL", 20, node="node-1", gpu="GPU-b", pod="", namespace=""),
        dcgm("DCGM_FI_DEV_FB_USED", 1000, node="node-1", gpu="GPU-a", pod="chat-1-a", namespace="team-a"),
        dcgm("DCGM_FI_DEV_FB_USED", 10, node="node-1", gpu="GPU-b"),
        dcgm("DCGM_FI_DEV_FB_FREE", 500, node="node-1", gpu="GPU-a"),
        dcgm("DCGM_FI_DEV_FB_FREE", 1490, node="node-1", gpu="GPU-b"),
        # node-2: Prometheus renamed the exporter's pod labels (the target had its own)
        dcgm(
            "DCGM_FI_DEV_GPU_UTIL", 50, node="node-2", gpu="GPU-c",
            pod="dcgm-exporter-xyz", namespace="gpu-operator",
            exported_pod="trainer-0", exported_namespace="team-a",
        ),
        dcgm("DCGM_FI_DEV_SM_CLOCK", 1400, node="node-2", gpu="GPU-c"),  # not ours: ignored
    ]  # fmt: skip
    got = by_key(gpu_samples(points, owners))
    assert got == {
        ("node", "node-1", None, "gpu_count"): 2,
        ("node", "node-1", None, "gpu_utilization"): 50,
        ("node", "node-1", None, "gpu_memory_used_bytes"): 1010 * MIB,
        ("node", "node-1", None, "gpu_memory_free_bytes"): 1990 * MIB,
        ("node", "node-2", None, "gpu_count"): 1,
        ("node", "node-2", None, "gpu_utilization"): 50,
        ("app", None, "chat", "gpu_count"): 1,
        ("app", None, "chat", "gpu_utilization"): 80,
        ("app", None, "chat", "gpu_memory_used_bytes"): 1000 * MIB,
        ("app", None, "trainer", "gpu_count"): 1,
        ("app", None, "trainer", "gpu_utilization"): 50,
    }


def istio(namespace: str, service: str, value: float, **labels: str) -> Point:
    return Point(
        {"destination_service_namespace": namespace, "destination_service_name": service, **labels},
        value,
    )


def test_requests_add_up_over_an_apps_services_with_quantiles_from_summed_buckets() -> None:
    owners = Owners(DESIRED)
    requests = [
        istio("team-a", "chat", 9.0, response_code="200"),
        istio("team-a", "chat-canary", 0.5, response_code="200"),
        istio("team-a", "chat-canary", 0.5, response_code="503"),
        istio("team-a", "unknown", 100.0, response_code="200"),  # not an app's Service
    ]
    buckets = []
    for service, share in (("chat", 0.9), ("chat-canary", 0.1)):
        for le, cumulative in (("50", 6.0), ("100", 9.5), ("500", 10.0), ("+Inf", 10.0)):
            buckets.append(istio("team-a", service, cumulative * share, le=le))
    got = by_key(request_samples(requests, buckets, owners))
    assert got[("app", None, "chat", "requests_per_second")] == 10.0
    assert got[("app", None, "chat", "errors_per_second")] == 0.5
    assert got[("app", None, "chat", "latency_p50_ms")] == pytest.approx(50 * 5 / 6, rel=1e-6)
    assert got[("app", None, "chat", "latency_p99_ms")] == pytest.approx(100 + 400 * 0.4 / 0.5)
    assert {k[2] for k in got} == {"chat"}


def test_histogram_quantile_follows_prometheus() -> None:
    inf = math.inf
    assert histogram_quantile(0.5, []) is None
    assert histogram_quantile(0.5, [(10.0, 0.0), (inf, 0.0)]) is None  # no observations
    assert histogram_quantile(0.5, [(10.0, 4.0)]) is None  # no +Inf bucket
    assert histogram_quantile(0.5, [(10.0, 2.0), (20.0, 4.0), (inf, 4.0)]) == 10.0
    assert histogram_quantile(0.75, [(10.0, 2.0), (20.0, 4.0), (inf, 4.0)]) == 15.0
    assert histogram_quantile(0.99, [(10.0, 2.0), (inf, 4.0)]) == 10.0  # in +Inf: last bound


def test_an_unreachable_prometheus_is_an_error_and_leaves_samples_out() -> None:
    prometheus = Prometheus(f"http://user:pw@127.0.0.1:{free_port()}/", timeout_s=2)
    with pytest.raises(PrometheusError, match="cannot reach Prometheus") as caught:
        asyncio.run(prometheus.query("up"))
    assert "pw" not in caught.value.message
    telemetry = Telemetry(prometheus)
    assert asyncio.run(telemetry.collect(Owners(DESIRED))) == []
    assert telemetry._failing == {"gpu", "requests", "latency"}


def test_masked_urls_keep_scheme_host_and_path() -> None:
    assert masked("https://u:p@prom.example:9090/x?token=1") == "https://prom.example:9090/x"
