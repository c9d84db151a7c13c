"""Built-in kinds against kubernetes-validate's strict schemas, and the shape of diagnostics."""

from __future__ import annotations

import copy
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironplane.core.errors import InvalidError
from ironplane.validation import (
    SUPPORTED_KUBE_VERSIONS,
    NoSchemaError,
    builtin_api_versions,
    builtin_validator,
    check_kube_version,
    validate_builtin,
)

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "chat-api", "namespace": "prod"},
    "spec": {
        "selector": {"app": "chat-api"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
    },
}
PVC: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "PersistentVolumeClaim",
    "metadata": {"name": "models", "namespace": "prod"},
    "spec": {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "oci-bv",
        "resources": {"requests": {"storage": "500Gi"}},
    },
}
NAMESPACE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "prod", "labels": {"team": "ml"}},
}
DEPLOYMENT_SPEC_FIELDS = {
    "minReadySeconds",
    "paused",
    "progressDeadlineSeconds",
    "replicas",
    "revisionHistoryLimit",
    "selector",
    "strategy",
    "template",
}


def test_supported_versions_are_the_bundled_ones_from_1_33() -> None:
    assert {"1.33", "1.34", "1.35", "1.36", "1.37"} <= set(SUPPORTED_KUBE_VERSIONS)
    assert SUPPORTED_KUBE_VERSIONS[0] == "1.33"
    assert list(SUPPORTED_KUBE_VERSIONS) == sorted(
        SUPPORTED_KUBE_VERSIONS, key=lambda v: tuple(map(int, v.split(".")))
    )


@pytest.mark.parametrize("version", ["1.33", "1.37"])
def test_valid_builtin_objects_pass(version: str, deployment: dict[str, Any]) -> None:
    for obj in (deployment, SERVICE, PVC, NAMESPACE):
        assert validate_builtin(obj, kube_version=version) == [], obj["kind"]


def test_unknown_field_names_path_allowed_fields_and_closest(deployment: dict[str, Any]) -> None:
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    [problem] = validate_builtin(deployment, kube_version="1.33")
    assert problem.path == ("spec", "replica")
    assert problem.message == "unknown field 'replica'"
    assert problem.subject == "Deployment 'prod/chat-api'"
    assert problem.hint == "did you mean 'replicas'?"
    assert problem.allowed is not None
    assert set(problem.allowed.split(", ")) == DEPLOYMENT_SPEC_FIELDS


def test_unknown_field_deep_in_a_referenced_definition(deployment: dict[str, Any]) -> None:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["imagePullPolicyy"] = "Always"
    [problem] = validate_builtin(deployment, kube_version="1.37")
    assert problem.path == ("spec", "template", "spec", "containers", 0, "imagePullPolicyy")
    assert problem.hint == "did you mean 'imagePullPolicy'?"


def test_wrong_type(deployment: dict[str, Any]) -> None:
    deployment["spec"]["replicas"] = "three"
    [problem] = validate_builtin(deployment, kube_version="1.33")
    assert problem.path == ("spec", "replicas")
    assert problem.message == "expected integer, got string"
    assert problem.given == "'three'"


def test_all_errors_are_reported_sorted_by_path(deployment: dict[str, Any]) -> None:
    spec = deployment["spec"]
    spec["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080"
    spec["replicas"] = "two"
    spec["zzz"] = 1
    del spec["selector"]
    problems = validate_builtin(deployment, kube_version="1.35")
    assert [p.path for p in problems] == [
        ("spec",),
        ("spec", "replicas"),
        ("spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"),
        ("spec", "zzz"),
    ]
    assert problems[0].message == "missing required field 'selector'"


def test_int_or_string_mismatch_is_one_short_message(deployment: dict[str, Any]) -> None:
    deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = 1.5
    [problem] = validate_builtin(deployment, kube_version="1.33")
    assert problem.path == ("spec", "strategy", "rollingUpdate", "maxSurge")
    assert problem.message == "expected string or integer, got number"


def test_messages_never_dump_large_values(deployment: dict[str, Any]) -> None:
    huge = {f"key{i}": "x" * 50 for i in range(100)}
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    limits["cpu"] = huge
    deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = [huge]
    problems = validate_builtin(deployment, kube_version="1.33")
    assert len(problems) == 2
    for problem in problems:
        assert len(problem.message) <= 200
        assert problem.given is not None and len(problem.given) <= 60


def test_cluster_scoped_subject_has_no_namespace() -> None:
    bad = copy.deepcopy(NAMESPACE)
    bad["spec"] = {"finalizer": ["kubernetes"]}
    [problem] = validate_builtin(bad, kube_version="1.33")
    assert problem.subject == "Namespace 'prod'"
    assert problem.path == ("spec", "finalizer")
    assert problem.hint == "did you mean 'finalizers'?"


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("networking.istio.io/v1", "VirtualService"),
        # kubernetes-validate names the file ingress-networking-v1.json for any networking.* group
        ("networking.example.com/v1", "Ingress"),
        ("apps/v1", "deployment"),
        ("extensions/v1beta1", "Deployment"),
        ("apps/v1", ""),
    ],
)
def test_kinds_without_a_builtin_schema_raise(api_version: str, kind: str) -> None:
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
    with pytest.raises(NoSchemaError) as caught:
        validate_builtin(obj, kube_version="1.37")
    assert caught.value.api_version == api_version
    assert caught.value.kind == kind


def test_ingress_in_its_real_group_is_built_in() -> None:
    assert builtin_validator("1.37", "networking.k8s.io/v1", "Ingress") is not None


def test_validators_are_compiled_once() -> None:
    first = builtin_validator("1.34", "apps/v1", "Deployment")
    assert first is not None
    assert builtin_validator("1.34", "apps/v1", "Deployment") is first


def test_builtin_api_versions() -> None:
    assert builtin_api_versions("1.33", "Deployment") == ("apps/v1",)
    assert builtin_api_versions("1.33", "Service") == ("v1",)
    assert builtin_api_versions("1.33", "VirtualService") == ()


@pytest.mark.parametrize("version", ["1.20", "1.38", "2", "latest", ""])
def test_unsupported_kube_version_raises(version: str, deployment: dict[str, Any]) -> None:
    with pytest.raises(InvalidError) as caught:
        validate_builtin(deployment, kube_version=version)
    assert "1.33" in caught.value.message and "1.37" in caught.value.message


@pytest.mark.parametrize(
    ("version", "normal"), [("1.34", "1.34"), ("v1.36", "1.36"), ("1.33.4", "1.33")]
)
def test_kube_version_is_normalised(version: str, normal: str) -> None:
    assert check_kube_version(version) == normal


def _service_spec_fields() -> set[str]:
    obj = copy.deepcopy(SERVICE)
    obj["spec"]["zzzNotAField"] = 1
    [problem] = validate_builtin(obj, kube_version="1.36")
    assert problem.allowed is not None
    return set(problem.allowed.split(", "))


def test_service_spec_fields_are_the_real_ones() -> None:
    fields = _service_spec_fields()
    assert {"ports", "selector", "type", "clusterIP", "externalTrafficPolicy"} <= fields
    assert "zzzNotAField" not in fields


@settings(max_examples=60, deadline=None)
@given(field=st.text(alphabet=string.ascii_letters, min_size=1, max_size=12))
def test_any_unknown_spec_field_is_reported_at_its_path(field: str) -> None:
    obj = copy.deepcopy(SERVICE)
    obj["spec"][field] = {"some": "value"}
    problems = validate_builtin(obj, kube_version="1.36")
    unknown = [p for p in problems if p.message.startswith("unknown field")]
    if field in _service_spec_fields():
        assert unknown == []
    else:
        [problem] = unknown
        assert problem.path == ("spec", field)
        assert problem.message == f"unknown field {field!r}"
