"""An object's workspace is its namespace: a label naming another workspace is not believed, so
nobody who can write in one namespace can report runs or status into another workspace."""

from __future__ import annotations

from typing import Any

from ironplane.agent.kube.run_status import job_run, workflow_run
from ironplane.agent.runtime import app_of

SPOOF = {"ironplane.dev/workspace": "team-b", "ironplane.dev/app": "nightly"}


def _obj(kind: str, status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1" if kind == "Workflow" else "batch/v1",
        "kind": kind,
        "metadata": {"name": "nightly-1", "namespace": "team-a", "labels": dict(SPOOF)},
        "status": status,
    }


def test_runs_belong_to_their_namespace() -> None:
    assert workflow_run(_obj("Workflow", {"phase": "Running"})).workspace == "team-a"
    assert job_run(_obj("Job", {"active": 1})).workspace == "team-a"


def test_status_objects_belong_to_their_namespace() -> None:
    assert app_of(_obj("Job", {})) == ("team-a", "nightly")
    namespace = {"kind": "Namespace", "metadata": {"name": "team-b", "labels": dict(SPOOF)}}
    assert app_of(namespace) == ("team-b", "nightly"), "cluster-scoped: the label"
    assert app_of({"metadata": {"namespace": "team-a", "labels": {}}}) is None
