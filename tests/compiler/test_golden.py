"""Each example compiles to its checked-in manifests, and those manifests validate.

Refresh the expected files after an intended change with ``UPDATE_GOLDEN=1 scripts/test
tests/compiler/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ironplane.cli.output import yaml_stream
from ironplane.compiler import compile_documents
from ironplane.spec import load_files
from tests.conftest import EXAMPLES, REPO, run_cli, validate_manifests

GOLDEN = REPO / "tests" / "golden"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_one_example_per_kind() -> None:
    kinds = set()
    for doc in load_files(EXAMPLE_FILES):
        kinds.add(doc.spec.kind)
    assert kinds == {"Cluster", "Workspace", "Service", "Model", "Job", "TrainingJob", "Volume"}


def _rendered(example: Path) -> str:
    compiled = compile_documents(load_files(EXAMPLE_FILES))
    objects = [
        obj
        for doc, result in compiled.results
        if doc.where.source == str(example)
        for obj in result.bundle.objects
    ]
    return yaml_stream(objects)


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_matches_golden(example: Path, crd_dir: Path) -> None:
    expected_file = GOLDEN / f"{example.stem}.yaml"
    actual = _rendered(example)
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(actual)
    assert expected_file.exists(), f"missing {expected_file}; run with UPDATE_GOLDEN=1"
    assert actual == expected_file.read_text(), f"{example.name} no longer compiles to golden"
    if actual:
        for version in ("1.33", "1.37"):
            code, _, err = run_cli(
                [
                    *("validate", "-f", str(expected_file), "--kube-version", version),
                    *("--crds", str(crd_dir)),
                ]
            )
            assert code == 0, err


def test_whole_example_set_renders_and_validates(crd_dir: Path) -> None:
    code, out, err = run_cli(["render", "-f", str(EXAMPLES)])
    assert code == 0, err
    import yaml

    objects = [o for o in yaml.safe_load_all(out) if o]
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == [
        "AnalysisTemplate",
        "ClusterQueue",
        "CronJob",
        "CronWorkflow",
        "Deployment",
        "DestinationRule",
        "Gateway",
        "LocalQueue",
        "MPIJob",
        "Namespace",
        "PersistentVolumeClaim",
        "PyTorchJob",
        "ResourceFlavor",
        "Role",
        "RoleBinding",
        "Rollout",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
        "Topology",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "VirtualService",
        "WorkflowTemplate",
    ]
    assert objects[0]["kind"] == "Namespace", "namespaces must come first"
    validate_manifests(objects, crd_dir)
