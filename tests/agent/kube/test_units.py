"""Pure parts of the Kubernetes runtime: no server needed."""

from __future__ import annotations

from typing import Any

import pytest

from ironplane.agent.kube.client import ResourceType, plural_of
from ironplane.agent.kube.errors import KubeRuntimeError, describe, runtime_error
from ironplane.agent.kube.logs import log_container, split_timestamp
from ironplane.agent.kube.status import (
    PodEvents,
    deployment_part,
    derive,
    gpus,
    job_part,
)
from tests.agent.kube import objects as o


def with_status(obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "status": status}


def test_resource_types() -> None:
    assert ResourceType.of("apps/v1", "Deployment") == ResourceType(
        "apps", "v1", "Deployment", "deployments", True
    )
    assert ResourceType.of("v1", "Namespace").namespaced is False
    assert ResourceType.of("v1", "Namespace").api_version == "v1"
    custom = ResourceType.of_object(o.widget("ns", "w"))
    assert (custom.plural, custom.namespaced) == ("widgets", True)
    cluster_wide = ResourceType.of_object(
        {"apiVersion": "x.io/v1", "kind": "Policy", "metadata": {"name": "p"}}
    )
    assert (cluster_wide.plural, cluster_wide.namespaced) == ("policies", False)
    assert [plural_of(k) for k in ("Ingress", "Gateway", "Box", "Mesh", "RayJob")] == [
        "ingresses",
        "gateways",
        "boxes",
        "meshes",
        "rayjobs",
    ]


def test_deployment_phases() -> None:
    dep = o.deployment("ws", "web", replicas=2)
    assert deployment_part(dep).phase == "Progressing"
    stale = with_status(
        {**dep, "metadata": {**dep["metadata"], "generation": 2}},
        {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 2},
    )
    assert deployment_part(stale).phase == "Progressing"
    rolling = with_status(dep, {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 1})
    assert deployment_part(rolling).phase == "Progressing"
    done = with_status(dep, {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 2})
    assert deployment_part(done).phase == "Running"  # no conditions reported: counts decide
    zero = o.deployment("ws", "web", replicas=0)
    part = deployment_part(with_status(zero, {"observedGeneration": 1}))
    assert (part.phase, part.ready, part.desired) == ("Running", 0, 0)


def test_job_phases() -> None:
    job = o.job("ws", "train")
    assert job_part(job).phase == "Pending"
    assert job_part({**job, "spec": {**job["spec"], "suspend": True}}).phase == "Suspended"
    criteria = {"conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}
    assert job_part(with_status(job, criteria)).phase == "Succeeded"


def test_derive_takes_the_worst_workload_and_skips_pod_only_apps() -> None:
    ws = "ws"
    running = with_status(
        o.deployment(ws, "mixed", version="h9"),
        {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1},
    )
    failed_job = with_status(
        o.job(ws, "mixed"), {"conditions": [{"type": "Failed", "status": "True", "message": "oom"}]}
    )
    orphan_pod = {"kind": "Pod", "metadata": {"name": "p", "labels": o.pod_labels(ws, "gone")}}
    only_service = o.service(ws, "svc")
    lost = with_status(o.pvc(ws, "vol"), {"phase": "Lost"})
    statuses = derive(
        {
            "Deployment": [running],
            "Job": [failed_job],
            "Pod": [orphan_pod],
            "Service": [only_service],
            "PersistentVolumeClaim": [lost],
        }
    )
    by_app = {s.app: s for s in statuses}
    assert sorted(by_app) == ["mixed", "svc", "vol"]
    assert (by_app["mixed"].phase, by_app["mixed"].error) == ("Failed", "oom")
    assert by_app["mixed"].version == "h9"
    assert (by_app["mixed"].ready, by_app["mixed"].desired) == (1, 2)
    assert by_app["svc"].phase == "Running"
    assert (by_app["vol"].phase, by_app["vol"].kind) == ("Failed", "volume")


def test_a_stuck_pod_does_not_degrade_a_finished_job() -> None:
    done = with_status(o.job("ws", "t"), {"conditions": [{"type": "Complete", "status": "True"}]})
    pod = {
        "kind": "Pod",
        "metadata": {"name": "t-1", "labels": o.pod_labels("ws", "t", "job")},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {"name": "main", "state": {"waiting": {"reason": "ErrImagePull"}}}
            ],
        },
    }
    [status] = derive({"Job": [done], "Pod": [pod]})
    assert status.phase == "Succeeded" and status.error is None


def test_gpus() -> None:
    assert gpus({"nvidia.com/gpu": "8"}) == (8, "nvidia.com/gpu")
    assert gpus({"nvidia.com/gpu": "0", "amd.com/gpu": "4"}) == (4, "amd.com/gpu")
    assert gpus({"nvidia.com/gpu": "lots"}) == (0, None)
    assert gpus({}) == (0, None)


def pod(restarts: int = 0, waiting: str | None = None, phase: str = "Running") -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "kind": "Pod",
        "metadata": {"name": "web-1", "labels": o.pod_labels("ws", "web")},
        "status": {
            "phase": phase,
            "containerStatuses": [{"name": "main", "restartCount": restarts, "state": state}],
        },
    }


def test_pod_events_report_changes_once() -> None:
    events = PodEvents(keep=3, clock=lambda: 1.0)
    events.observe(None, pod(restarts=5))  # first sight: past restarts are not news
    assert events.for_app("ws", "web") == []
    events.observe(pod(restarts=5), pod(restarts=6, waiting="CrashLoopBackOff"))
    events.observe(
        pod(restarts=6, waiting="CrashLoopBackOff"), pod(restarts=6, waiting="CrashLoopBackOff")
    )
    assert [e.reason for e in events.for_app("ws", "web")] == ["Restarted", "CrashLoopBackOff"]
    events.observe(pod(phase="Running"), pod(phase="Failed"))
    events.observe(pod(), None)
    recent = events.for_app("ws", "web")
    assert [e.reason for e in recent] == ["CrashLoopBackOff", "Failed", "Deleted"]  # keep=3
    assert recent[1].type == "Warning" and recent[0].at == 1.0


def test_log_helpers() -> None:
    two = {"spec": {"containers": [{"name": "sidecar"}, {"name": "main"}]}}
    assert log_container(two) == "main"
    annotated = {
        **two,
        "metadata": {"annotations": {"kubectl.kubernetes.io/default-container": "sidecar"}},
    }
    assert log_container(annotated) == "sidecar"
    assert log_container({"spec": {"containers": [{"name": "x"}]}}) == "x"
    assert log_container({}) is None
    assert split_timestamp("2025-01-01T00:00:00.5Z hello world") == (
        ("2025-01-01T00:00:00", 500000000),
        "hello world",
    )
    assert split_timestamp("2025-01-01T00:00:00Z x") == (("2025-01-01T00:00:00", 0), "x")
    assert split_timestamp("no stamp here") == (None, "no stamp here")


def test_runtime_errors_name_the_object() -> None:
    obj = o.deployment("prod", "web")
    assert describe(obj) == "Deployment prod/web"
    assert describe(o.namespace("prod")) == "Namespace prod"
    error = runtime_error("apply", obj, ConnectionError("connection refused"))
    assert isinstance(error, KubeRuntimeError)
    assert str(error) == "cannot apply Deployment prod/web: connection refused"
    assert (error.status, error.target) == (None, "Deployment prod/web")


@pytest.mark.parametrize("bad", [{}, {"apiVersion": "v1", "kind": "X"}])
def test_describe_tolerates_partial_objects(bad: dict[str, Any]) -> None:
    assert describe(bad).endswith("?")
