"""Which Prometheus a cluster's agent reads telemetry from: one rule for the control plane's
welcome and the CLI's agent install."""

from __future__ import annotations

from ironplane.spec.kinds.platform import telemetry_prometheus_of

URL = "http://prom.observability.svc:9090"


def test_the_prometheus_addon_names_the_url() -> None:
    spec = {"kind": "Cluster", "name": "edge", "addons": ["prometheus"], "prometheus_url": URL}
    assert telemetry_prometheus_of(spec) == URL


def test_the_default_url_when_only_the_addon_is_listed() -> None:
    spec = {"kind": "Cluster", "name": "edge", "addons": ["prometheus"]}
    assert telemetry_prometheus_of(spec) == "http://prometheus-operated.monitoring.svc:9090"


def test_a_bootstrap_that_installs_or_finds_prometheus_counts_as_listing_it() -> None:
    base = {"kind": "Cluster", "name": "edge"}
    installed = telemetry_prometheus_of({**base, "bootstrap": {}})
    assert installed == "http://prometheus-operated.monitoring.svc:9090"
    existing = {"existing": {"prometheus": {"namespace": "obs"}}}
    assert telemetry_prometheus_of({**base, "bootstrap": existing}) == (
        "http://prometheus-operated.obs.svc:9090"
    )
    assert telemetry_prometheus_of({**base, "bootstrap": {"skip": ["prometheus"]}}) is None


def test_none_without_the_addon_or_for_a_spec_that_does_not_load() -> None:
    assert (
        telemetry_prometheus_of({"kind": "Cluster", "name": "edge", "prometheus_url": URL}) is None
    )
    assert telemetry_prometheus_of({"kind": "Cluster", "name": "edge", "addons": 3}) is None
