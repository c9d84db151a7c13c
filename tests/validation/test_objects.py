"""The dispatcher (built-in kinds, then CRDs, else an error) and the manifest file loader."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ironplane.core.errors import InvalidError, ManifestError
from ironplane.validation import (
    load_manifest_files,
    validate_manifest_files,
    validate_objects,
)

WIDGET: dict[str, Any] = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "prod"},
}


def test_builtin_and_custom_objects_are_dispatched(
    crd_dir: Path, deployment: dict[str, Any], virtual_service: dict[str, Any]
) -> None:
    assert (
        validate_objects([deployment, virtual_service], kube_version="1.37", crd_dir=crd_dir) == []
    )
    deployment["spec"]["replica"] = 1
    virtual_service["spec"]["hostz"] = []
    problems = validate_objects(
        [deployment, virtual_service], kube_version="1.37", crd_dir=crd_dir, source="app.yaml"
    )
    assert [(p.subject, p.path, p.source) for p in problems] == [
        ("Deployment 'prod/chat-api'", ("spec", "replica"), "app.yaml"),
        ("VirtualService 'prod/chat-api'", ("spec", "hostz"), "app.yaml"),
    ]
    assert problems[1].hint == "did you mean 'hosts'?"


def test_unknown_kind_without_crds_is_an_error(virtual_service: dict[str, Any]) -> None:
    [problem] = validate_objects([virtual_service], kube_version="1.33", crd_dir=None)
    assert problem.message == (
        "no schema for kind VirtualService apiVersion networking.istio.io/v1 at Kubernetes 1.33; "
        "pass --crds DIR with its CustomResourceDefinition"
    )
    assert problem.subject == "VirtualService 'prod/chat-api'"


def test_unknown_kind_with_crds_is_an_error(crd_dir: Path) -> None:
    [problem] = validate_objects([WIDGET], kube_version="1.33", crd_dir=crd_dir)
    assert problem.message.startswith(
        "no schema for kind Widget apiVersion example.com/v1 at Kubernetes 1.33; "
    )
    assert str(crd_dir) in problem.message
    assert problem.path == ("apiVersion",)


def test_builtin_kind_at_a_wrong_api_version_hints_the_right_one(
    deployment: dict[str, Any],
) -> None:
    deployment["apiVersion"] = "extensions/v1beta1"
    [problem] = validate_objects([deployment], kube_version="1.35", crd_dir=None)
    assert problem.message.startswith("no schema for kind Deployment apiVersion extensions/v1beta1")
    assert problem.hint == "Deployment is built in as apps/v1"


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda o: o.pop("apiVersion"), ("apiVersion",)),
        (lambda o: o.update(kind=3), ("kind",)),
        (lambda o: o.update(kind=""), ("kind",)),
        (lambda o: o.pop("metadata"), ("metadata",)),
        (lambda o: o["metadata"].pop("name"), ("metadata", "name")),
    ],
)
def test_objects_need_api_version_kind_and_name(
    mutate: Any, path: tuple[str, ...], deployment: dict[str, Any]
) -> None:
    mutate(deployment)
    problems = validate_objects([deployment], kube_version="1.33", crd_dir=None)
    assert problems and problems[0].path == path
    assert all(p.path != ("apiVersion",) or "no schema" not in p.message for p in problems)


def test_a_nameless_object_is_still_schema_checked(deployment: dict[str, Any]) -> None:
    del deployment["metadata"]["name"]
    deployment["spec"]["replicas"] = "2"
    problems = validate_objects([deployment], kube_version="1.33", crd_dir=None)
    assert [p.path for p in problems] == [("metadata", "name"), ("spec", "replicas")]
    assert problems[0].subject == "Deployment"


def test_document_numbers_go_into_the_subject(deployment: dict[str, Any]) -> None:
    deployment["spec"]["replica"] = 1
    [problem] = validate_objects(
        [deployment], kube_version="1.33", crd_dir=None, source="out.yaml", documents=[3]
    )
    assert problem.subject == "Deployment 'prod/chat-api' (document 3)"
    assert problem.render().startswith("out.yaml: Deployment 'prod/chat-api' (document 3): ")
    with pytest.raises(ValueError, match="one document number per object"):
        validate_objects([deployment], kube_version="1.33", crd_dir=None, documents=[1, 2])


@pytest.mark.parametrize("version", ["1.32", "1.99", "one"])
def test_unsupported_kube_version_raises_listing_supported(
    version: str, deployment: dict[str, Any]
) -> None:
    with pytest.raises(InvalidError, match=r"supported: 1\.33, 1\.34, 1\.35, 1\.36, 1\.37"):
        validate_objects([deployment], kube_version=version, crd_dir=None)


def test_many_objects(
    crd_dir: Path, deployment: dict[str, Any], virtual_service: dict[str, Any]
) -> None:
    objects: list[dict[str, Any]] = []
    for i in range(100):
        for template in (deployment, virtual_service):
            obj = copy.deepcopy(template)
            obj["metadata"]["name"] = f"app-{i}"
            objects.append(obj)
    objects[123]["spec"]["unknown"] = True
    problems = validate_objects(objects, kube_version="1.36", crd_dir=crd_dir)
    assert [(p.subject, p.path) for p in problems] == [
        ("VirtualService 'prod/app-61'", ("spec", "unknown"))
    ]


# --- loading files ---------------------------------------------------------------------------


def test_load_multi_document_yaml_with_lists_and_empty_documents(tmp_path: Path) -> None:
    path = tmp_path / "all.yaml"
    path.write_text(
        "---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
        "data:\n  at: 2025-01-01T00:00:00Z\n  on: yes\n  2: x\n"
        "---\n"
        "# only a comment\n"
        "---\n"
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: Namespace, metadata: {name: n1}}\n"
        "- {apiVersion: v1, kind: Namespace, metadata: {name: n2}}\n"
    )
    loaded = load_manifest_files([path])
    assert [(d.path, d.document, d.object["metadata"]["name"]) for d in loaded] == [
        (path, 1, "a"),
        (path, 3, "n1"),
        (path, 3, "n2"),
    ]
    # Timestamps stay strings (as kubectl sends them); keys become strings.
    assert loaded[0].object["data"] == {"at": "2025-01-01T00:00:00Z", "true": True, "2": "x"}


def test_a_directory_means_its_manifest_files_sorted(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text("kind: B\n")
    (tmp_path / "a.json").write_text(json.dumps({"kind": "A"}))
    (tmp_path / "c.yaml").write_text("kind: C\n")
    (tmp_path / "notes.txt").write_text("kind: Ignored\n")
    loaded = load_manifest_files([tmp_path])
    assert [d.object["kind"] for d in loaded] == ["A", "C", "B"]


def test_yaml_syntax_error_gives_file_and_line(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("kind: A\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [a, b\n  other: 1\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest_files([good, bad])
    [problem] = caught.value.diagnostics
    assert problem.source == str(bad)
    assert problem.line == 5
    assert problem.message.startswith("YAML syntax error: ")
    assert f"{bad}:5:" in str(caught.value)


def test_json_syntax_error_gives_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "kind": "A",\n  "x": ,\n}\n')
    with pytest.raises(ManifestError) as caught:
        load_manifest_files([bad])
    [problem] = caught.value.diagnostics
    assert (problem.source, problem.line) == (str(bad), 3)


def test_documents_that_are_not_mappings_are_located(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("kind: A\n---\n- just\n- a list\n---\nkind: List\nitems:\n- 3\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest_files([path])
    problems = caught.value.diagnostics
    assert [(p.line, p.subject, p.path, p.message) for p in problems] == [
        (3, "document 2", (), "document is not a mapping (got list)"),
        (6, "document 3", ("items", 0), "List item is not a mapping"),
    ]


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest_files([tmp_path / "nope.yaml"])
    [problem] = caught.value.diagnostics
    assert problem.source == str(tmp_path / "nope.yaml")
    assert problem.message.startswith("cannot read file")


def test_validate_manifest_files_end_to_end(tmp_path: Path, crd_dir: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n"
        "---\n"
        "apiVersion: kueue.x-k8s.io/v1beta2\nkind: LocalQueue\n"
        "metadata: {name: q, namespace: prod}\nspec: {clusterQueue: cq, cohort: x}\n"
        "---\n"
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
    )
    problems = validate_manifest_files([path], kube_version="1.34", crd_dir=crd_dir)
    assert [(p.source, p.subject, p.path) for p in problems] == [
        (str(path), "LocalQueue 'prod/q' (document 2)", ("spec", "cohort")),
        (str(path), "Widget 'w' (document 3)", ("apiVersion",)),
    ]
