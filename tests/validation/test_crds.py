"""Custom resources against upstream CRDs, and the OpenAPI-to-JSON-Schema conversion."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ironplane.core.errors import ManifestError
from ironplane.validation import (
    NoSchemaError,
    crd_json_schema,
    load_crds,
    validate_custom,
)

SCALED_OBJECT: dict[str, Any] = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "ScaledObject",
    "metadata": {"name": "chat-api", "namespace": "prod"},
    "spec": {
        "scaleTargetRef": {"name": "chat-api"},
        "minReplicaCount": 1,
        "maxReplicaCount": 10,
        "triggers": [
            {
                "type": "prometheus",
                "metadata": {
                    "serverAddress": "http://prometheus.monitoring:9090",
                    "query": "sum(rate(http_requests_total[1m]))",
                    "threshold": "100",
                },
            }
        ],
    },
}
ROLLOUT: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "chat-api", "namespace": "prod"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "chat-api"}},
        "template": {
            "metadata": {"labels": {"app": "chat-api"}},
            "spec": {"containers": [{"name": "api", "image": "chat-api:1.0"}]},
        },
        "strategy": {
            "canary": {
                "maxSurge": "25%",
                "maxUnavailable": 0,
                "steps": [{"setWeight": 20}, {"pause": {"duration": "1m"}}, {"setWeight": 100}],
            }
        },
    },
}
LOCAL_QUEUE: dict[str, Any] = {
    "apiVersion": "kueue.x-k8s.io/v1beta2",
    "kind": "LocalQueue",
    "metadata": {"name": "team-a", "namespace": "prod"},
    "spec": {"clusterQueue": "gpu-cluster-queue"},
}
MPI_JOB: dict[str, Any] = {
    "apiVersion": "kubeflow.org/v2beta1",
    "kind": "MPIJob",
    "metadata": {"name": "train", "namespace": "ml"},
    "spec": {
        "slotsPerWorker": 8,
        "mpiImplementation": "OpenMPI",
        "runPolicy": {"cleanPodPolicy": "Running"},
        "mpiReplicaSpecs": {
            "Launcher": {
                "replicas": 1,
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "launcher", "image": "mpi:1", "command": ["mpirun"]}
                        ]
                    }
                },
            },
            "Worker": {
                "replicas": 2,
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "worker",
                                "image": "mpi:1",
                                "resources": {"limits": {"nvidia.com/gpu": 8}},
                            }
                        ]
                    }
                },
            },
        },
    },
}
WORKFLOW_TEMPLATE: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "WorkflowTemplate",
    "metadata": {"name": "eval", "namespace": "ml"},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "container": {"image": "eval:1", "args": ["--all"]}},
            {"name": "notify", "plugin": {"slack": {"channel": "#ml", "text": "done"}}},
        ],
    },
}


def _get(obj: Any, path: tuple[str | int, ...]) -> Any:
    for item in path:
        obj = obj[item]
    return obj


def _set(obj: Any, path: tuple[str | int, ...], value: Any) -> None:
    _get(obj, path[:-1])[path[-1]] = value


def _custom(name: str, virtual_service: dict[str, Any]) -> dict[str, Any]:
    objects = {
        "VirtualService": virtual_service,
        "ScaledObject": SCALED_OBJECT,
        "Rollout": ROLLOUT,
        "LocalQueue": LOCAL_QUEUE,
        "MPIJob": MPI_JOB,
        "WorkflowTemplate": WORKFLOW_TEMPLATE,
    }
    return copy.deepcopy(objects[name])


KINDS = ["VirtualService", "ScaledObject", "Rollout", "LocalQueue", "MPIJob", "WorkflowTemplate"]


@pytest.mark.parametrize("kind", KINDS)
def test_valid_custom_resources_pass(
    kind: str, crd_dir: Path, virtual_service: dict[str, Any]
) -> None:
    assert validate_custom(_custom(kind, virtual_service), crd_dir=crd_dir) == []


@pytest.mark.parametrize(
    ("kind", "path", "closest"),
    [
        ("VirtualService", ("spec", "http", 0, "route", 0, "destination", "prot"), "port"),
        ("ScaledObject", ("spec", "triggers", 0, "authRef"), None),
        ("ScaledObject", ("spec", "scaleTargetRef", "nam"), "name"),
        ("Rollout", ("spec", "strategy", "canary", "steps", 1, "pause", "durations"), "duration"),
        ("LocalQueue", ("spec", "clusterQueues"), "clusterQueue"),
        ("MPIJob", ("spec", "mpiReplicaSpecs", "Worker", "template", "spec", "nodeSelectr"), None),
        ("WorkflowTemplate", ("spec", "templates", 0, "container", "imagee"), "image"),
    ],
)
def test_unknown_nested_field_fails_at_its_exact_path(
    kind: str,
    path: tuple[str | int, ...],
    closest: str | None,
    crd_dir: Path,
    virtual_service: dict[str, Any],
) -> None:
    obj = _custom(kind, virtual_service)
    _set(obj, path, "x")
    [problem] = validate_custom(obj, crd_dir=crd_dir)
    assert problem.path == path
    assert problem.message == f"unknown field {path[-1]!r}"
    assert problem.allowed is not None and str(path[-1]) not in problem.allowed.split(", ")
    if closest:
        assert problem.hint == f"did you mean {closest!r}?"
        assert closest in problem.allowed.split(", ")
    assert problem.subject is not None and problem.subject.startswith(f"{kind} '")


@pytest.mark.parametrize("value", ["25%", 1, 0])
def test_int_or_string_accepts_both(value: object, crd_dir: Path) -> None:
    obj = copy.deepcopy(ROLLOUT)
    obj["spec"]["strategy"]["canary"]["maxSurge"] = value
    obj["spec"]["strategy"]["canary"]["steps"][1]["pause"]["duration"] = value
    assert validate_custom(obj, crd_dir=crd_dir) == []


@pytest.mark.parametrize("value", [1.5, True, ["1"], {"a": 1}, None])
def test_int_or_string_rejects_other_types(value: object, crd_dir: Path) -> None:
    obj = copy.deepcopy(ROLLOUT)
    obj["spec"]["strategy"]["canary"]["maxSurge"] = value
    [problem] = validate_custom(obj, crd_dir=crd_dir)
    assert problem.path == ("spec", "strategy", "canary", "maxSurge")
    assert problem.message.startswith("expected integer or string, got ")


def test_wrong_type_in_a_custom_resource(crd_dir: Path, virtual_service: dict[str, Any]) -> None:
    virtual_service["spec"]["http"][0]["route"][0]["destination"]["port"]["number"] = "8080"
    [problem] = validate_custom(virtual_service, crd_dir=crd_dir)
    assert problem.path == ("spec", "http", 0, "route", 0, "destination", "port", "number")
    assert problem.message == "expected integer, got string"


def test_enum(crd_dir: Path) -> None:
    obj = copy.deepcopy(MPI_JOB)
    obj["spec"]["mpiImplementation"] = "MPICH2"
    [problem] = validate_custom(obj, crd_dir=crd_dir)
    assert problem.path == ("spec", "mpiImplementation")
    assert problem.message == "value is not one of the allowed values"
    assert problem.allowed is not None and "'OpenMPI'" in problem.allowed


def test_required(crd_dir: Path) -> None:
    obj = copy.deepcopy(SCALED_OBJECT)
    del obj["spec"]["scaleTargetRef"]
    [problem] = validate_custom(obj, crd_dir=crd_dir)
    assert problem.path == ("spec",)
    assert problem.message == "missing required field 'scaleTargetRef'"


def test_nullable_field_accepts_null_and_others_do_not(
    crd_dir: Path, virtual_service: dict[str, Any]
) -> None:
    http = virtual_service["spec"]["http"][0]
    http["corsPolicy"] = {"allowOrigins": [{"exact": "https://x"}], "allowCredentials": None}
    assert validate_custom(virtual_service, crd_dir=crd_dir) == []
    http["corsPolicy"]["allowCredentials"] = "yes"
    [problem] = validate_custom(virtual_service, crd_dir=crd_dir)
    assert problem.path == ("spec", "http", 0, "corsPolicy", "allowCredentials")
    assert problem.message == "expected boolean, got string"
    http["corsPolicy"]["allowCredentials"] = True
    http["timeout"] = None
    [problem] = validate_custom(virtual_service, crd_dir=crd_dir)
    assert problem.path == ("spec", "http", 0, "timeout")
    assert problem.message == "expected string, got null"


def test_preserve_unknown_fields_allows_anything_there(crd_dir: Path) -> None:
    obj = copy.deepcopy(WORKFLOW_TEMPLATE)
    plugin = obj["spec"]["templates"][1]["plugin"]
    plugin["anything"] = {"deeply": [{"nested": 1}], "really": None}
    assert validate_custom(obj, crd_dir=crd_dir) == []


def test_preserve_unknown_fields_does_not_reach_declared_properties(
    crd_dir: Path, virtual_service: dict[str, Any]
) -> None:
    # Istio's status is preserve-unknown-fields but declares conditions, whose items are closed.
    virtual_service["status"] = {"custom": {"a": 1}, "conditions": [{"type": "Ready"}]}
    assert validate_custom(virtual_service, crd_dir=crd_dir) == []
    virtual_service["status"]["conditions"][0]["typo"] = "x"
    [problem] = validate_custom(virtual_service, crd_dir=crd_dir)
    assert problem.path == ("status", "conditions", 0, "typo")


def test_metadata_is_checked_as_object_meta(crd_dir: Path) -> None:
    obj = copy.deepcopy(LOCAL_QUEUE)
    obj["metadata"]["lables"] = {"a": "b"}
    obj["metadata"]["annotations"] = {"replicas": 3}
    problems = validate_custom(obj, crd_dir=crd_dir)
    assert [(p.path, p.message) for p in problems] == [
        (("metadata", "annotations", "replicas"), "expected string, got integer"),
        (("metadata", "lables"), "unknown field 'lables'"),
    ]
    assert problems[1].hint == "did you mean 'labels'?"


def test_no_crd_for_kind_raises(crd_dir: Path) -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    with pytest.raises(NoSchemaError):
        validate_custom(obj, crd_dir=crd_dir)


def test_unserved_or_unknown_versions_are_not_found(crd_dir: Path) -> None:
    registry = load_crds(crd_dir)
    assert registry.find("kueue.x-k8s.io/v1beta2", "LocalQueue") is not None
    assert registry.find("kueue.x-k8s.io/v9", "LocalQueue") is None
    assert registry.find("kueue.x-k8s.io/v1beta2", "localqueue") is None


def test_registry_is_loaded_once_per_directory(crd_dir: Path) -> None:
    assert load_crds(crd_dir) is load_crds(crd_dir / "." / "kueue" / "..")


def test_every_crd_in_the_test_data_converts_and_compiles(crd_dir: Path) -> None:
    crds = load_crds(crd_dir).all()
    kinds = {crd.kind for crd in crds}
    assert {"VirtualService", "ScaledObject", "Rollout", "MPIJob", "Workflow"} <= kinds
    for crd in crds:
        assert load_crds(crd_dir).validator(crd.api_version, crd.kind) is not None
        minimal = {"apiVersion": crd.api_version, "kind": crd.kind, "metadata": {"name": "x"}}
        problems = validate_custom(minimal, crd_dir=crd_dir)
        # Only missing required fields may be reported for an empty object.
        assert all(p.message.startswith("missing required field") for p in problems), problems


# --- synthetic CRDs for what the upstream test data does not exercise -------------------------


def _write_crd(directory: Path, schema: dict[str, Any], *, served: bool = True) -> Path:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": served,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Widget"}}
    (directory / "nested").mkdir(exist_ok=True)
    path = directory / "nested" / "widgets.yml"
    path.write_text(yaml.safe_dump_all([other, None, crd]))
    return directory


def _widget(spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": spec,
    }


def _spec_schema(spec: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"spec": spec}}


def test_embedded_resource(tmp_path: Path) -> None:
    schema = _spec_schema(
        {
            "type": "object",
            "properties": {
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {
                        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}
                    },
                }
            },
        }
    )
    crd_dir = _write_crd(tmp_path, schema)
    ok = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "y"}}}
    assert (
        validate_custom(_widget({"template": {**ok, "spec": {"size": 1}}}), crd_dir=crd_dir) == []
    )
    no_kind = {"apiVersion": "v1", "metadata": {"name": "a"}}
    [problem] = validate_custom(_widget({"template": no_kind}), crd_dir=crd_dir)
    assert problem.path == ("spec", "template")
    assert problem.message == "missing required field 'kind'"
    bad = {**ok, "spec": {"size": "big", "colour": 1}}
    problems = validate_custom(_widget({"template": bad}), crd_dir=crd_dir)
    assert [p.path for p in problems] == [
        ("spec", "template", "spec", "colour"),
        ("spec", "template", "spec", "size"),
    ]
    [problem] = validate_custom(_widget({"template": {**ok, "kind": 3}}), crd_dir=crd_dir)
    assert problem.path == ("spec", "template", "kind")


def test_properties_declared_in_branches_are_known_and_branches_stay_open(tmp_path: Path) -> None:
    schema = _spec_schema(
        {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "anyOf": [{"required": ["a"]}, {"required": ["b"]}],
            "allOf": [{"properties": {"extra": {"type": "integer"}}}],
        }
    )
    crd_dir = _write_crd(tmp_path, schema)
    assert validate_custom(_widget({"a": "x"}), crd_dir=crd_dir) == []
    assert validate_custom(_widget({"b": "x", "extra": 2}), crd_dir=crd_dir) == []
    [problem] = validate_custom(_widget({"extra": 2}), crd_dir=crd_dir)
    assert problem.path == ("spec",)
    [problem] = validate_custom(_widget({"a": "x", "extra": "two"}), crd_dir=crd_dir)
    assert problem.path == ("spec", "extra")
    [problem] = validate_custom(_widget({"a": "x", "other": 1}), crd_dir=crd_dir)
    assert problem.message == "unknown field 'other'"
    assert problem.allowed == "a, b, extra"


def test_nullable_object_with_enum_and_junctors(tmp_path: Path) -> None:
    schema = _spec_schema(
        {
            "type": "object",
            "properties": {
                "mode": {"type": "string", "enum": ["fast", "slow"], "nullable": True},
                "limits": {
                    "type": "object",
                    "nullable": True,
                    "properties": {"n": {"type": "integer", "minimum": 1}},
                    "anyOf": [{"required": ["n"]}],
                },
            },
        }
    )
    crd_dir = _write_crd(tmp_path, schema)
    assert validate_custom(_widget({"mode": None, "limits": None}), crd_dir=crd_dir) == []
    assert validate_custom(_widget({"mode": "fast", "limits": {"n": 2}}), crd_dir=crd_dir) == []
    problems = validate_custom(
        _widget({"mode": "medium", "limits": {"n": 0, "m": 1}}), crd_dir=crd_dir
    )
    assert [p.path for p in problems] == [
        ("spec", "limits", "m"),
        ("spec", "limits", "n"),
        ("spec", "mode"),
    ]


def test_formats_patterns_and_bounds(tmp_path: Path) -> None:
    schema = _spec_schema(
        {
            "type": "object",
            "properties": {
                "data": {"type": "string", "format": "byte"},
                "at": {"type": "string", "format": "date-time"},
                "count": {"type": "integer", "format": "int32", "maximum": 10},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "re2": {"type": "string", "pattern": "^a\\z"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            },
        }
    )
    crd_dir = _write_crd(tmp_path, schema)
    good = {
        "data": "aGVsbG8=",
        "at": "2025-01-02T03:04:05Z",
        "count": 10,
        "name": "abc",
        "re2": "anything (the RE2 pattern is not Python syntax, so it is skipped)",
        "tags": ["a"],
    }
    assert validate_custom(_widget(good), crd_dir=crd_dir) == []
    bad = {"data": "not base64!", "at": "yesterday", "count": 11, "name": "ABCDEFG", "tags": []}
    problems = validate_custom(_widget(bad), crd_dir=crd_dir)
    assert sorted({p.path[-1] for p in problems}) == ["at", "count", "data", "name", "tags"]
    assert [p.message for p in problems if p.path[-1] == "name" and "pattern" in p.message] == [
        "does not match the pattern '^[a-z]+$'"
    ]


def test_top_level_fields_are_allowed_when_not_declared(tmp_path: Path) -> None:
    crd_dir = _write_crd(tmp_path, {"type": "object", "properties": {"spec": {"type": "object"}}})
    assert validate_custom(_widget({}), crd_dir=crd_dir) == []
    [problem] = validate_custom(_widget({"x": 1}), crd_dir=crd_dir)
    assert problem.path == ("spec", "x")  # an object without properties holds nothing
    obj = _widget({})
    obj["metadata"]["name"] = 5
    obj["extra"] = 1
    assert [p.path for p in validate_custom(obj, crd_dir=crd_dir)] == [
        ("extra",),
        ("metadata", "name"),
    ]


def test_unserved_versions_and_other_documents_are_ignored(tmp_path: Path) -> None:
    crd_dir = _write_crd(tmp_path, {"type": "object"}, served=False)
    assert load_crds(crd_dir).find("example.com/v1", "Widget") is None
    assert load_crds(crd_dir).all() == []


def test_a_broken_crd_file_is_located(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("kind: Widget\nspec: [1,\n  2\nother: }\n")
    with pytest.raises(ManifestError) as caught:
        load_crds(tmp_path).find("example.com/v1", "Widget")
    [problem] = caught.value.diagnostics
    assert problem.source == str(tmp_path.resolve() / "broken.yaml")
    assert problem.line == 4


def test_conversion_rules() -> None:
    schema = crd_json_schema(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"inner": {"type": "object", "properties": {}}},
                },
                "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}]},
                "labels": {"type": "object", "additionalProperties": {"type": "object"}},
            },
        }
    )
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    assert "additionalProperties" not in props["spec"]
    assert props["spec"]["properties"]["inner"]["additionalProperties"] is False
    assert props["port"]["type"] == ["integer", "string"]
    assert "additionalProperties" not in props["port"]["anyOf"][0]
    assert props["labels"]["additionalProperties"]["additionalProperties"] is False
    assert {"apiVersion", "kind", "metadata"} <= set(props)
