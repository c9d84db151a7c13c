"""A Service over every combination of the features that change its objects, on a cluster with
all add-ons: each combination compiles to the objects it should, and every object validates
against the Kubernetes schemas and the add-ons' CRDs (Argo Rollouts, Istio, KEDA) at 1.33 and 1.37.

A dimension is a name and its options; an option is a fragment of the spec (merged into the
base Service) and the objects it adds, as ``(kind, name)``. ``valid`` drops the combinations the
spec models reject. To add a dimension, add it to ``DIMENSIONS`` (and to ``valid`` and
``expected`` if it interacts with the others).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from ironplane.core.errors import SpecError
from tests.compiler.progressive import compile_with, objects_of

Validate = Callable[[Sequence[dict[str, Any]]], None]
Key = tuple[str, str]
APP = "chat"


@dataclass(frozen=True)
class Option:
    spec: Mapping[str, Any] = field(default_factory=dict)
    adds: frozenset[Key] = frozenset()


EXPOSED_PORT = {
    "port": 8000,
    "expose": {"host": "chat.example.com", "tls_secret": "chat-cert", "timeout": "30s"},
}
INTERNAL_PORT = {"port": 8000}
ISTIO = frozenset({("VirtualService", APP), ("DestinationRule", APP), ("Gateway", APP)})

DIMENSIONS: dict[str, dict[str, Option]] = {
    "strategy": {
        "rolling": Option({}, frozenset({("Deployment", APP)})),
        "canary": Option(
            {"rollout": {"strategy": "canary", "steps": [{"weight": 25, "pause": "1m"}]}},
            frozenset({("Rollout", APP), ("Service", f"{APP}-canary")}),
        ),
        "blue_green": Option(
            {"rollout": {"strategy": "blue_green", "auto_promote_after": "30s"}},
            frozenset({("Rollout", APP), ("Service", f"{APP}-preview")}),
        ),
    },
    "exposure": {
        "exposed": Option({"ports": [EXPOSED_PORT, {"port": 9000}]}, ISTIO),
        "internal": Option({"ports": [INTERNAL_PORT]}),
    },
    "analysis": {
        "none": Option(),
        "analysis": Option(
            {"rollout": {"analysis": {"max_error_rate": 0.01, "max_latency_p99": "1s"}}},
            frozenset({("AnalysisTemplate", APP)}),
        ),
    },
    "autoscaling": {
        "fixed": Option({"replicas": 2}),
        **{
            name: Option({"autoscaling": scaling}, frozenset({("ScaledObject", APP)}))
            for name, scaling in {
                "rps": {"min": 1, "max": 5, "metric": "rps", "target": 50},
                "cpu": {"min": 2, "max": 5, "metric": "cpu", "target": 70},
                "queue": {"max": 5, "metric": "queue", "target": 10, "query": "sum(chat_waiting)"},
                "cron": {"max": 5, "metric": "cron", "start": "0 8 * * 1-5", "end": "0 20 * * *"},
                "to_zero": {"min": 0, "max": 5, "target": 50, "scale_to_zero_after": "10m"},
            }.items()
        },
    },
}


def valid(case: Mapping[str, str]) -> bool:
    # A canary shifts traffic at the ingress: it needs an exposed port.
    canary_inside = case["strategy"] == "canary" and case["exposure"] != "exposed"
    # A rolling update has no new version running beside the old one to analyse.
    analysed_rolling = case["strategy"] == "rolling" and case["analysis"] != "none"
    return not (canary_inside or analysed_rolling)


CASES = [
    dict(zip(DIMENSIONS, combo, strict=True))
    for combo in itertools.product(*(options.keys() for options in DIMENSIONS.values()))
]
VALID_CASES = [case for case in CASES if valid(case)]


def merge(base: dict[str, Any], fragment: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in fragment.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def spec_of(case: Mapping[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "kind": "Service",
        "name": APP,
        "workspace": "web",
        "image": "registry.example.com/chat:2",
        "resources": {"cpu": 1, "memory": "2Gi"},
    }
    for dimension, option in case.items():
        doc = merge(doc, DIMENSIONS[dimension][option].spec)
    return doc


def expected(case: Mapping[str, str]) -> set[Key]:
    keys = {("Service", APP)}
    for dimension, option in case.items():
        keys |= DIMENSIONS[dimension][option].adds
    return keys


def case_id(case: Mapping[str, str]) -> str:
    return "-".join(case.values())


def test_the_matrix_covers_every_valid_combination() -> None:
    assert len(VALID_CASES) == 8 * len(DIMENSIONS["autoscaling"])
    assert {case["strategy"] for case in VALID_CASES} == set(DIMENSIONS["strategy"])


@pytest.mark.parametrize("case", VALID_CASES, ids=case_id)
def test_service_compiles_to_valid_objects(case: dict[str, str], validated: Validate) -> None:
    compiled = compile_with(yaml.safe_dump(spec_of(case), sort_keys=False))
    objects = objects_of(compiled)
    assert set(objects) == expected(case)
    validated(list(objects.values()))
    assert not compiled.warnings, [w.message for w in compiled.warnings]


@pytest.mark.parametrize("case", [c for c in CASES if not valid(c)], ids=case_id)
def test_combinations_left_out_are_the_ones_the_specs_reject(case: dict[str, str]) -> None:
    with pytest.raises(SpecError):
        compile_with(yaml.safe_dump(spec_of(case), sort_keys=False))
