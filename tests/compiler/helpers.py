"""Compile YAML text in tests: load it like the CLI does, return objects by kind and name."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ironplane.compiler import compile_documents
from ironplane.compiler.documents import CompiledSet
from ironplane.spec import load_files

OCI = """\
kind: Cluster
name: oke-prod
provider: oci
region: us-ashburn-1
enhanced: true
---
kind: Workspace
name: prod
cluster: oke-prod
gpu: true
---
kind: Workspace
name: training
cluster: oke-prod
gpu: true
privileged: true
---
kind: Volume
name: shared-data
workspace: prod
type: fss
size: 100Gi
---
kind: Volume
name: ro-block
workspace: prod
type: block
size: 100Gi
---
"""


def compile_text(text: str, *, platform: str = OCI) -> CompiledSet:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(platform + text)
        return compile_documents(load_files([path]))


def find(compiled: CompiledSet, kind: str, name: str) -> dict[str, Any]:
    for obj in compiled.bundle.objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"no {kind} {name!r} in {[o['kind'] for o in compiled.bundle.objects]}")


def pod_of(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return obj["spec"]["template"]["spec"]  # type: ignore[no-any-return]
