"""Shared by the exposure, rollout and matrix tests: a cluster with chosen add-ons, a Service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from ironplane.compiler.documents import CompiledSet
from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import SpecError
from tests.compiler.helpers import compile_text

ALL_ADDONS = ("istio", "argo-rollouts", "keda", "prometheus")
PROMETHEUS_URL = "http://prom.observability.svc:9090"
INGRESS = "gateways/public"


def platform(addons: Sequence[str] = ALL_ADDONS) -> str:
    return (
        f"kind: Cluster\nname: edge\naddons: [{', '.join(addons)}]\n"
        f"prometheus_url: {PROMETHEUS_URL}\ningress_gateway: {INGRESS}\n---\n"
        "kind: Workspace\nname: web\ncluster: edge\ngpu: true\n---\n"
    )


def service(body: str, *, name: str = "chat") -> str:
    return (
        f"kind: Service\nname: {name}\nworkspace: web\nimage: registry.example.com/chat:2\n{body}"
    )


def compile_with(text: str, addons: Sequence[str] = ALL_ADDONS) -> CompiledSet:
    return compile_text(text, platform=platform(addons))


def objects_of(compiled: CompiledSet) -> dict[tuple[str, str], dict[str, Any]]:
    """The objects of the apps (not the platform), by (kind, name)."""
    return {
        (o["kind"], o["metadata"]["name"]): o
        for doc, result in compiled.results
        if doc.spec.kind not in ("Cluster", "Workspace")
        for o in result.bundle.objects
    }


def messages(compiled: CompiledSet) -> list[str]:
    return [w.message for w in compiled.warnings]


def rejected(text: str, addons: Sequence[str] = ALL_ADDONS) -> list[Diagnostic]:
    with pytest.raises(SpecError) as caught:
        compile_with(text, addons)
    return list(caught.value.diagnostics)
