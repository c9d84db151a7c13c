"""Ownership labels: what the agent uses to find, update and prune the objects it owns."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

MANAGED_BY = "app.kubernetes.io/managed-by"
NAME = "app.kubernetes.io/name"
APP = "ironplane.dev/app"
KIND = "ironplane.dev/kind"
WORKSPACE = "ironplane.dev/workspace"
VERSION = "ironplane.dev/version"
MANAGER = "ironplane"

_json = msgspec.json.Encoder(order="sorted")


def spec_version(spec: Any) -> str:
    """A short content hash of a spec: the version label when no store assigned one."""
    data = spec.model_dump(mode="json", exclude_defaults=True)
    return "h" + hashlib.sha256(_json.encode(data)).hexdigest()[:12]


def selector(app: str) -> dict[str, str]:
    """Stable pod selector labels: never include the version (selectors are immutable)."""
    return {APP: app}


def pod_labels(app: str, workspace: str, kind: str) -> dict[str, str]:
    return {MANAGED_BY: MANAGER, NAME: app, APP: app, KIND: kind, WORKSPACE: workspace}


def owned(app: str, workspace: str, kind: str, version: str) -> dict[str, str]:
    return {**pod_labels(app, workspace, kind), VERSION: version}


def metadata(
    name: str,
    *,
    labels: dict[str, str],
    namespace: str | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(sorted(labels.items()))
    if annotations:
        meta["annotations"] = dict(sorted(annotations.items()))
    return meta
