"""Ports with ``expose`` → Istio objects that route the cluster's ingress gateway to the app.

Ports without ``expose`` stay reachable inside the cluster only, through the ClusterIP Service
the kind compiler emits. For a Service with exposed ports, on a cluster with the istio add-on:

- **VirtualService** ``<app>`` (``networking.istio.io/v1``) bound to the cluster's ingress
  Gateway (``ClusterProfile.ingress_gateway``, ``namespace/name``), plus the app's own TLS Gateway
  when a port has ``tls_secret``. Hosts are the exposed hosts; one HTTP route per exposed port,
  named like the Service port (``http-8000``; Argo Rollouts finds routes by name), matching the
  path prefix (and the host, when the app exposes several), longest prefix first. Its destination
  is the app's Service on that port; a canary routed by Istio gets two destinations, ``<app>``
  weight 100 and ``<app>-canary`` weight 0, which Argo Rollouts rewrites at each step.
  ``timeout`` → ``timeout``; ``retries`` → ``retries.attempts`` (0 turns Istio's default retries
  off) with ``perTryTimeout`` and ``retryOn: RETRY_ON``.
- **Gateway** ``<app>`` in the app's namespace when a port has ``tls_secret``: one HTTPS server
  (port 443, ``SIMPLE`` TLS, ``credentialName``) per TLS host, on the ingress gateway's pods
  (the Cluster's ``ingress_selector``, ``istio: ingressgateway`` by default). The gateway's
  pods read the certificate, so the secret must live in *their* namespace (``istio-system``
  for the default ``ingress_gateway``), not the app's. Its hosts are ``./<host>``: only
  VirtualServices of the app's namespace can bind to them.
- **DestinationRule** ``<app>`` for the Service host: outlier detection that takes a pod out of
  the load-balancing pool for 30s after 5 consecutive gateway errors (502, 503, 504: the pod is
  unreachable or overloaded). Application 5xx answers (``consecutive5xxErrors: 0``) never eject a
  pod: that would hide a bad version from the rollout analysis. No connection-pool limits: a
  limit turns load into 503s, which the autoscaler should answer instead.

Without the istio add-on nothing is exposed and each exposed port gets a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ironplane.compiler.addons import ISTIO, has_addon, warn_missing
from ironplane.compiler.core import Build
from ironplane.compiler.kinds.server import port_name
from ironplane.compiler.labels import metadata
from ironplane.compiler.rollouts import canary_service, istio_canary
from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import SpecError
from ironplane.core.quantities import parse_duration
from ironplane.spec.fields import Expose, PortSpec
from ironplane.spec.kinds import ServiceSpec

ISTIO_API = "networking.istio.io/v1"
RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,503"
"""Retry only where the request most likely never reached the app: the connection failed or was
refused, gRPC ``unavailable``/``cancelled``, or a 503 from a draining or overloaded pod. Not every
5xx: a retried inference request costs a second generation."""
HTTPS_PORT = 443
OUTLIER_DETECTION = {
    "consecutive5xxErrors": 0,
    "consecutiveGatewayErrors": 5,
    "interval": "30s",
    "baseEjectionTime": "30s",
    "maxEjectionPercent": 50,
}


@dataclass(frozen=True, slots=True)
class Exposed:
    index: int
    """The port's index in ``ports``, for diagnostics."""
    port: PortSpec
    expose: Expose


@dataclass(frozen=True, slots=True)
class IstioExposure:
    name: str = "exposure"

    def applies(self, build: Build) -> bool:
        spec = build.spec
        return isinstance(spec, ServiceSpec) and any(p.expose is not None for p in spec.ports)

    def apply(self, build: Build) -> None:
        spec = build.spec
        assert isinstance(spec, ServiceSpec)
        exposed = [
            Exposed(i, port, port.expose) for i, port in enumerate(spec.ports) if port.expose
        ]
        problems = _conflicts(exposed)
        if problems:
            raise SpecError(problems)
        if not has_addon(build, ISTIO):
            for item in exposed:
                warn_missing(
                    build,
                    ISTIO,
                    f"port {item.port.port} is not exposed at {item.expose.host}; it is reachable "
                    "inside the cluster only, through the ClusterIP Service",
                    ("ports", item.index, "expose"),
                )
            return
        service = build.objects.find("Service", spec.name)
        assert service is not None, "compiler bug: a Service with ports but no Service object"
        labels = dict(service["metadata"]["labels"])
        ns, app = build.ctx.namespace, spec.name
        gateways = [build.ctx.cluster.ingress_gateway]
        tls = _tls_servers(exposed)
        if tls:
            build.objects.add(
                {
                    "apiVersion": ISTIO_API,
                    "kind": "Gateway",
                    "metadata": metadata(app, namespace=ns, labels=labels),
                    "spec": {"selector": dict(build.ctx.cluster.ingress_selector), "servers": tls},
                }
            )
            gateways.append(app)
        hosts = list(dict.fromkeys(item.expose.host for item in exposed))
        canary = istio_canary(build)
        routes = [
            _route(app, item, match_host=len(hosts) > 1, canary=canary)
            for item in sorted(exposed, key=lambda e: -len(e.expose.path))
        ]
        build.objects.add(
            {
                "apiVersion": ISTIO_API,
                "kind": "VirtualService",
                "metadata": metadata(app, namespace=ns, labels=labels),
                "spec": {"hosts": hosts, "gateways": gateways, "http": routes},
            }
        )
        build.objects.add(
            {
                "apiVersion": ISTIO_API,
                "kind": "DestinationRule",
                "metadata": metadata(app, namespace=ns, labels=labels),
                "spec": {
                    "host": app,
                    "trafficPolicy": {"outlierDetection": dict(OUTLIER_DETECTION)},
                },
            }
        )


def _conflicts(exposed: list[Exposed]) -> list[Diagnostic]:
    """Two ports on one host and path (the second route would never match), or one host with two
    certificates (one HTTPS server per host)."""
    problems: list[Diagnostic] = []
    routed: dict[tuple[str, str], Exposed] = {}
    certs: dict[str, Exposed] = {}
    for item in exposed:
        e = item.expose
        first = routed.setdefault((e.host, e.path), item)
        if first is not item:
            problems.append(
                Diagnostic(
                    f"{e.host}{e.path} is already routed to port {first.port.port}",
                    path=("ports", item.index, "expose", "path"),
                    given=e.path,
                    hint="give each exposed port its own host or path prefix",
                )
            )
        if e.tls_secret is None:
            continue
        other = certs.setdefault(e.host, item)
        if other.expose.tls_secret != e.tls_secret:
            problems.append(
                Diagnostic(
                    f"host {e.host} already serves the certificate {other.expose.tls_secret!r} "
                    f"(port {other.port.port})",
                    path=("ports", item.index, "expose", "tls_secret"),
                    given=e.tls_secret,
                    allowed=str(other.expose.tls_secret),
                    hint="use one tls_secret per host",
                )
            )
    return problems


def _tls_servers(exposed: list[Exposed]) -> list[dict[str, Any]]:
    secrets = {
        item.expose.host: item.expose.tls_secret for item in exposed if item.expose.tls_secret
    }
    return [
        {
            # Server port names must be unique within a Gateway.
            "port": {"number": HTTPS_PORT, "name": f"https-{i}", "protocol": "HTTPS"},
            "hosts": [f"./{host}"],
            "tls": {"mode": "SIMPLE", "credentialName": secret},
        }
        for i, (host, secret) in enumerate(secrets.items())
    ]


def authority_regex(host: str) -> str:
    """RE2 for the Host header of ``host``, with or without a port (``*.x`` is any subdomain)."""
    if host.startswith("*."):
        body = ".+" + host[1:].replace(".", r"\.")
    else:
        body = host.replace(".", r"\.")
    return f"^{body}(:[0-9]+)?$"


def _route(app: str, item: Exposed, *, match_host: bool, canary: bool) -> dict[str, Any]:
    e, number = item.expose, item.port.port
    match: dict[str, Any] = {"uri": {"prefix": e.path}}
    if match_host:
        match["authority"] = {"regex": authority_regex(e.host)}
    stable: dict[str, Any] = {"destination": {"host": app, "port": {"number": number}}}
    destinations: list[dict[str, Any]]
    if canary:
        destinations = [
            {**stable, "weight": 100},
            {"destination": {"host": canary_service(app), "port": {"number": number}}, "weight": 0},
        ]
    else:
        destinations = [stable]
    route: dict[str, Any] = {
        "name": port_name(item.port.protocol, number),
        "match": [match],
        "route": destinations,
    }
    if e.timeout is not None:
        route["timeout"] = f"{parse_duration(e.timeout)}s"
    if e.retries is not None:
        retries: dict[str, Any] = {"attempts": e.retries}
        if e.retries > 0:
            retries["retryOn"] = RETRY_ON
            if e.per_try_timeout is not None:
                retries["perTryTimeout"] = f"{parse_duration(e.per_try_timeout)}s"
        route["retries"] = retries
    return route
