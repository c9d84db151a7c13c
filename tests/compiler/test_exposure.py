"""Exposed ports → Istio VirtualService, DestinationRule and (with TLS) a Gateway; add-on gating."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ironplane.compiler import labels
from ironplane.compiler.exposure import RETRY_ON, authority_regex
from tests.compiler.helpers import compile_text
from tests.compiler.progressive import (
    INGRESS,
    compile_with,
    messages,
    objects_of,
    rejected,
    service,
)

Validate = Callable[[Sequence[dict[str, Any]]], None]

TWO_PORTS = service(
    "ports:\n"
    "  - {port: 8000, expose: {host: chat.example.com, path: /v1}}\n"
    "  - {port: 9100, protocol: grpc}\n"
)


def test_exposed_port_routes_from_the_ingress_gateway_to_the_service(validated: Validate) -> None:
    compiled = compile_with(TWO_PORTS)
    objects = objects_of(compiled)
    validated(list(objects.values()))
    vs = objects["VirtualService", "chat"]
    assert vs["apiVersion"] == "networking.istio.io/v1"
    assert vs["metadata"]["namespace"] == "web"
    assert vs["metadata"]["labels"][labels.APP] == "chat"
    assert vs["spec"]["hosts"] == ["chat.example.com"]
    assert vs["spec"]["gateways"] == [INGRESS]
    # Only the exposed port is routed; the internal one stays behind the ClusterIP Service.
    (route,) = vs["spec"]["http"]
    assert route == {
        "name": "http-8000",
        "match": [{"uri": {"prefix": "/v1"}}],
        "route": [{"destination": {"host": "chat", "port": {"number": 8000}}}],
    }
    svc = objects["Service", "chat"]
    assert svc["spec"]["type"] == "ClusterIP"
    assert [p["port"] for p in svc["spec"]["ports"]] == [8000, 9100]
    dr = objects["DestinationRule", "chat"]
    assert dr["spec"]["host"] == "chat"
    outlier = dr["spec"]["trafficPolicy"]["outlierDetection"]
    # Pods are ejected for gateway errors only, never for the app's own 5xx answers.
    assert outlier["consecutive5xxErrors"] == 0 and outlier["consecutiveGatewayErrors"] == 5
    assert ("Gateway", "chat") not in objects, "no TLS asked for: no app Gateway"
    assert not messages(compiled)


def test_internal_only_service_gets_no_istio_objects() -> None:
    objects = objects_of(compile_with(service("ports: [{port: 8000}]\n")))
    assert sorted(objects) == [("Deployment", "chat"), ("Service", "chat")]


def test_tls_port_gets_an_https_server_on_the_ingress_pods(validated: Validate) -> None:
    text = service(
        "ports:\n  - {port: 8000, expose: {host: chat.example.com, tls_secret: chat-cert}}\n"
    )
    objects = objects_of(compile_with(text))
    validated(list(objects.values()))
    gateway = objects["Gateway", "chat"]
    assert gateway["metadata"]["namespace"] == "web"
    assert gateway["spec"] == {
        "selector": {"istio": "ingressgateway"},
        "servers": [
            {
                "port": {"number": 443, "name": "https-0", "protocol": "HTTPS"},
                "hosts": ["./chat.example.com"],
                "tls": {"mode": "SIMPLE", "credentialName": "chat-cert"},
            }
        ],
    }
    assert objects["VirtualService", "chat"]["spec"]["gateways"] == [INGRESS, "chat"]


def test_the_tls_gateway_selects_the_clusters_ingress_pods() -> None:
    text = service("ports: [{port: 8000, expose: {host: a.example.com, tls_secret: a-cert}}]\n")
    platform = (
        "kind: Cluster\nname: edge\naddons: [istio]\n"
        "ingress_selector: {app.kubernetes.io/name: edge-gateway}\n---\n"
        "kind: Workspace\nname: web\ncluster: edge\n---\n"
    )
    objects = objects_of(compile_text(text, platform=platform))
    assert objects["Gateway", "chat"]["spec"]["selector"] == {
        "app.kubernetes.io/name": "edge-gateway"
    }


def test_one_https_server_per_tls_host(validated: Validate) -> None:
    text = service(
        "ports:\n"
        "  - {port: 8000, expose: {host: a.example.com, tls_secret: a-cert}}\n"
        "  - {port: 8001, expose: {host: a.example.com, path: /admin, tls_secret: a-cert}}\n"
        "  - {port: 8002, expose: {host: b.example.com, tls_secret: b-cert}}\n"
        "  - {port: 8003, expose: {host: c.example.com}}\n"
    )
    objects = objects_of(compile_with(text))
    validated(list(objects.values()))
    servers = objects["Gateway", "chat"]["spec"]["servers"]
    assert [(s["hosts"], s["tls"]["credentialName"], s["port"]["name"]) for s in servers] == [
        (["./a.example.com"], "a-cert", "https-0"),
        (["./b.example.com"], "b-cert", "https-1"),
    ]


def test_timeout_and_retries() -> None:
    text = service(
        "ports:\n"
        "  - {port: 8000, expose: {host: a.example.com, timeout: 2m, retries: 3, "
        "per_try_timeout: 45s}}\n"
        "  - {port: 8001, expose: {host: b.example.com, retries: 0}}\n"
        "  - {port: 8002, expose: {host: c.example.com}}\n"
    )
    routes = {
        r["name"]: r
        for r in objects_of(compile_with(text))["VirtualService", "chat"]["spec"]["http"]
    }
    assert routes["http-8000"]["timeout"] == "120s"
    assert routes["http-8000"]["retries"] == {
        "attempts": 3,
        "retryOn": RETRY_ON,
        "perTryTimeout": "45s",
    }
    # retries: 0 turns off Istio's default retries instead of leaving them on.
    assert routes["http-8001"]["retries"] == {"attempts": 0}
    assert "timeout" not in routes["http-8001"]
    assert "retries" not in routes["http-8002"] and "timeout" not in routes["http-8002"]


def test_retry_conditions_are_ones_istio_accepts() -> None:
    # Istio's validation accepts Envoy's retry policies and HTTP status codes only.
    accepted = {
        *("5xx", "gateway-error", "reset", "connect-failure", "retriable-4xx", "refused-stream"),
        *("retriable-status-codes", "retriable-headers", "envoy-ratelimited"),
        *("cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"),
    }
    for policy in RETRY_ON.split(","):
        assert policy in accepted or (policy.isdigit() and 100 <= int(policy) <= 599), policy
    assert "5xx" not in RETRY_ON, "an inference request must not be generated twice on any 5xx"


def test_longest_path_first_and_hosts_told_apart(validated: Validate) -> None:
    text = service(
        "ports:\n"
        "  - {port: 8000, expose: {host: chat.example.com}}\n"
        "  - {port: 8001, expose: {host: chat.example.com, path: /admin}}\n"
        "  - {port: 8002, protocol: grpc, expose: {host: '*.rpc.example.com', path: /}}\n"
    )
    objects = objects_of(compile_with(text))
    validated(list(objects.values()))
    vs = objects["VirtualService", "chat"]["spec"]
    assert vs["hosts"] == ["chat.example.com", "*.rpc.example.com"]
    # "/" would swallow "/admin" if it came first: Istio takes the first matching route.
    assert [r["name"] for r in vs["http"]] == ["http-8001", "http-8000", "grpc-8002"]
    authorities = [r["match"][0]["authority"]["regex"] for r in vs["http"]]
    assert authorities == [
        authority_regex("chat.example.com"),
        authority_regex("chat.example.com"),
        authority_regex("*.rpc.example.com"),
    ]


@pytest.mark.parametrize(
    ("host", "matches", "misses"),
    [
        ("chat.example.com", ["chat.example.com", "chat.example.com:443"], ["chatXexample.com"]),
        (
            "*.rpc.example.com",
            ["a.rpc.example.com", "a.b.rpc.example.com:8443"],
            ["rpc.example.com", "a.rpc.example.com.evil.io"],
        ),
    ],
)
def test_authority_regex(host: str, matches: list[str], misses: list[str]) -> None:
    pattern = re.compile(authority_regex(host))
    assert all(pattern.fullmatch(h) for h in matches)
    assert not any(pattern.fullmatch(h) for h in misses)


def test_one_host_needs_no_authority_match() -> None:
    vs = objects_of(compile_with(TWO_PORTS))["VirtualService", "chat"]
    assert "authority" not in vs["spec"]["http"][0]["match"][0]


def test_without_istio_nothing_is_exposed_and_each_port_says_so() -> None:
    text = service(
        "ports:\n"
        "  - {port: 8000, expose: {host: a.example.com, tls_secret: a-cert}}\n"
        "  - {port: 8001}\n"
        "  - {port: 8002, expose: {host: b.example.com}}\n"
    )
    compiled = compile_with(text, addons=("prometheus",))
    objects = objects_of(compiled)
    assert sorted(objects) == [("Deployment", "chat"), ("Service", "chat")]
    warnings = [w for w in compiled.warnings if "istio" in w.message]
    assert [w.path for w in warnings] == [("ports", 0, "expose"), ("ports", 2, "expose")]
    assert all("cluster 'edge' has no istio add-on" in w.message for w in warnings)
    assert "port 8000" in warnings[0].message and "a.example.com" in warnings[0].message
    assert all(w.hint and "add istio to the Cluster's addons" in w.hint for w in warnings)


def test_two_ports_on_one_route_are_rejected() -> None:
    text = service(
        "ports:\n"
        "  - {port: 8000, expose: {host: a.example.com, path: /x}}\n"
        "  - {port: 8001, expose: {host: a.example.com, path: /x}}\n"
    )
    (problem,) = rejected(text)
    assert problem.path == ("ports", 1, "expose", "path")
    assert "a.example.com/x is already routed to port 8000" in problem.message
    assert problem.hint and "own host or path" in problem.hint


def test_one_host_with_two_certificates_is_rejected() -> None:
    text = service(
        "ports:\n"
        "  - {port: 8000, expose: {host: a.example.com, tls_secret: one}}\n"
        "  - {port: 8001, expose: {host: a.example.com, path: /b, tls_secret: two}}\n"
    )
    (problem,) = rejected(text)
    assert problem.path == ("ports", 1, "expose", "tls_secret")
    assert problem.given == "two" and problem.allowed == "one"


def test_conflicts_are_rejected_even_without_istio() -> None:
    text = service(
        "ports:\n"
        "  - {port: 8000, expose: {host: a.example.com}}\n"
        "  - {port: 8001, expose: {host: a.example.com}}\n"
    )
    assert rejected(text, addons=())
