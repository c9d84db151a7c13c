"""Shared fixtures: the upstream CRD directory, and validation of everything tests compile."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from ironplane.cli.main import main
from ironplane.cli.output import yaml_stream

KUBE_VERSIONS = ("1.33", "1.37")
REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def crds_path() -> Path:
    """The upstream CRDs; required under CI, a skip on a developer machine without them."""
    root = os.environ.get("IRONPLANE_K8S_SCHEMAS")
    if not root:
        if os.environ.get("CI"):
            pytest.fail("IRONPLANE_K8S_SCHEMAS is not set: CI must validate against upstream CRDs")
        pytest.skip("IRONPLANE_K8S_SCHEMAS is not set (the upstream CRDs directory)")
    path = Path(root) / "crds"
    if not path.is_dir():
        pytest.fail(f"IRONPLANE_K8S_SCHEMAS={root} has no crds/ directory")
    return path


@pytest.fixture(scope="session")
def crd_dir() -> Path:
    return crds_path()


def run_cli(args: Sequence[str], stdin: str | None = None) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def validate_manifests(
    objects: Sequence[dict[str, Any]], crd_dir: Path, versions: Sequence[str] = KUBE_VERSIONS
) -> None:
    """Validate with the project's own `ironplane validate` at the supported edge versions (or
    at ``versions``).

    The pinned CRDs hold no Kubeflow Trainer TrainingRuntime: where ``crd_dir`` has none, a
    TrainingRuntime is checked against the Trainer's own generated models of the same release
    (``tests/trainer_runtime_schema.py``), and each pod template in it against the strict core
    schema, as a PodTemplate, with the rest.
    """
    assert objects, "nothing to validate"
    objects = list(objects)
    if not any(crd_dir.rglob("*trainingruntimes*")):
        from tests import trainer_runtime_schema as trainer_schema  # slow: imported when needed

        runtimes = [o for o in objects if o.get("kind") == trainer_schema.KIND]
        objects = [o for o in objects if o.get("kind") != trainer_schema.KIND]
        for runtime in runtimes:
            trainer_schema.validate_training_runtime(runtime)
            objects += [
                {
                    "apiVersion": "v1",
                    "kind": "PodTemplate",
                    "metadata": {"name": f"{runtime['metadata']['name']}-{i}"},
                    "template": template,
                }
                for i, template in enumerate(trainer_schema.pod_templates_of(runtime))
            ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle.yaml"
        path.write_text(yaml_stream(objects))
        for version in versions:
            code, _, err = run_cli(
                ["validate", "-f", str(path), "--kube-version", version, "--crds", str(crd_dir)]
            )
            assert code == 0, f"Kubernetes {version}:\n{err}"


@pytest.fixture
def validated(crd_dir: Path) -> Callable[[Sequence[dict[str, Any]]], None]:
    return lambda objects: validate_manifests(objects, crd_dir)
