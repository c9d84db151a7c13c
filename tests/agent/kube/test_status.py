"""Statuses from watches: the fake plays the controllers (Deployment, Job, PVC status, pods)."""

from __future__ import annotations

import pytest

from ironplane.agent.kube import KubeRuntime
from ironplane.wire.agent_protocol import AppStatus
from tests.agent.kube import objects as o
from tests.agent.kube.conftest import Cluster, eventually
from tests.agent.kube.fakeapi import FakeKube

pytestmark = pytest.mark.anyio


async def status_of(runtime: KubeRuntime, ws: str, app: str) -> AppStatus | None:
    return next((s for s in await runtime.statuses() if (s.workspace, s.app) == (ws, app)), None)


async def settles(runtime: KubeRuntime, ws: str, app: str, phase: str) -> AppStatus:
    async def check() -> AppStatus | None:
        status = await status_of(runtime, ws, app)
        return status if status and status.phase == phase else None

    found: AppStatus = await eventually(check, what=f"{ws}/{app} {phase}")
    return found


def rolled_out(replicas: int, generation: int = 1) -> dict[str, object]:
    return {
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ],
    }


@pytest.fixture
def fake(cluster: Cluster) -> FakeKube:
    return cluster.need_fake()


async def test_deployment_progressing_then_running(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), *o.app_objects(ws, "web", replicas=2, version="h42")])

    status = await settles(runtime, ws, "web", "Progressing")  # no controller has looked yet
    assert (status.kind, status.version, status.desired, status.ready) == ("service", "h42", 2, 0)

    runtime.changed.clear()
    fake.set_status("Deployment", ws, "web", {**rolled_out(2), "readyReplicas": 1})
    await eventually(runtime.changed.is_set)
    status = await settles(runtime, ws, "web", "Progressing")
    assert status.ready == 1

    fake.set_status("Deployment", ws, "web", rolled_out(2))
    status = await settles(runtime, ws, "web", "Running")
    assert (status.ready, status.desired, status.error) == (2, 2, None)
    assert [(c.type, c.status, c.reason) for c in status.conditions] == [
        ("Available", "True", "MinimumReplicasAvailable"),
        ("Progressing", "True", "NewReplicaSetAvailable"),
    ]
    # The workspace (its Namespace) is an app too.
    assert (await settles(runtime, ws, ws, "Running")).kind == "workspace"


async def test_progress_deadline_exceeded_is_degraded(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.deployment(ws, "web")])
    fake.set_status(
        "Deployment",
        ws,
        "web",
        {
            "observedGeneration": 1,
            "replicas": 1,
            "unavailableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": 'ReplicaSet "web-5d4f" has timed out progressing.',
                },
            ],
        },
    )
    status = await settles(runtime, ws, "web", "Degraded")
    assert status.error == 'ReplicaSet "web-5d4f" has timed out progressing.'


@pytest.mark.parametrize("reason", ["CrashLoopBackOff", "ImagePullBackOff"])
async def test_a_pod_stuck_waiting_makes_the_app_degraded(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime, reason: str
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.deployment(ws, "web")])
    fake.set_status("Deployment", ws, "web", {**rolled_out(1), "readyReplicas": 0})
    fake.add_pod(ws, "web-abc", labels=o.pod_labels(ws, "web"))
    await settles(runtime, ws, "web", "Progressing")

    fake.add_pod(
        ws,
        "web-abc",
        labels=o.pod_labels(ws, "web"),
        waiting=(reason, "back-off 40s restarting failed container"),
        restarts=3,
    )
    status = await settles(runtime, ws, "web", "Degraded")
    assert status.error is not None and status.error.startswith(reason)
    assert "web-abc" in status.error and "back-off 40s" in status.error
    events = [(e.type, e.reason) for e in status.events]
    assert ("Warning", reason) in events
    assert ("Warning", "Restarted") in events  # 0 -> 3 restarts observed


async def test_pod_events_record_phase_changes_and_deletions(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.deployment(ws, "web")])
    fake.add_pod(ws, "web-1", labels=o.pod_labels(ws, "web"), phase="Pending")
    await eventually(lambda: runtime.informers["Pod"].objects)
    fake.add_pod(ws, "web-1", labels=o.pod_labels(ws, "web"), phase="Running")
    fake.remove("Pod", ws, "web-1")

    async def reasons() -> list[str]:
        status = await status_of(runtime, ws, "web")
        found = [e.reason for e in status.events] if status else []
        return found if "Deleted" in found else []

    assert await eventually(reasons) == ["Running", "Deleted"]


async def test_volume_pending_then_bound(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.pvc(ws, "data")])
    status = await settles(runtime, ws, "data", "Pending")
    assert (status.kind, status.ready, status.desired) == ("volume", 0, 1)
    fake.set_status("PersistentVolumeClaim", ws, "data", {"phase": "Bound"})
    status = await settles(runtime, ws, "data", "Running")
    assert (status.ready, status.desired) == (1, 1)


async def test_cronjob_suspended_then_its_last_job_decides(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.cronjob(ws, "nightly", suspend=True)])
    await settles(runtime, ws, "nightly", "Suspended")

    await runtime.converge([o.namespace(ws), o.cronjob(ws, "nightly")])
    await settles(runtime, ws, "nightly", "Pending")  # no run yet

    cron = fake.get("CronJob", ws, "nightly")
    assert cron is not None
    first = fake.put({**o.job(ws, "nightly", name="nightly-1", owner=cron)})
    fake.set_status("Job", ws, "nightly-1", {"active": 1, "ready": 1})
    await settles(runtime, ws, "nightly", "Running")
    fake.set_status(
        "Job",
        ws,
        "nightly-1",
        {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
    )
    await settles(runtime, ws, "nightly", "Succeeded")

    second = o.job(ws, "nightly", name="nightly-2", owner=cron)
    second["metadata"]["creationTimestamp"] = "2999-01-01T00:00:00Z"  # the latest run
    fake.put(second)
    fake.set_status(
        "Job",
        ws,
        "nightly-2",
        {
            "failed": 1,
            "conditions": [
                {"type": "Failed", "status": "True", "message": "Job has reached the backoff limit"}
            ],
        },
    )
    status = await settles(runtime, ws, "nightly", "Failed")
    assert status.error == "Job has reached the backoff limit"
    assert first["metadata"]["name"] == "nightly-1"


async def test_job_running_succeeded_failed(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.job(ws, "train")])
    await settles(runtime, ws, "train", "Pending")
    fake.set_status("Job", ws, "train", {"active": 1, "ready": 1})
    status = await settles(runtime, ws, "train", "Running")
    assert (status.ready, status.desired, status.kind) == (1, 1, "job")
    fake.set_status("Job", ws, "train", {"conditions": [{"type": "Complete", "status": "True"}]})
    await settles(runtime, ws, "train", "Succeeded")
    fake.set_status(
        "Job", ws, "train", {"conditions": [{"type": "Failed", "status": "True", "reason": "X"}]}
    )
    assert (await settles(runtime, ws, "train", "Failed")).error == "X"


async def test_unschedulable_pods_show_as_a_condition(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.deployment(ws, "llm")])
    pod = fake.add_pod(ws, "llm-1", labels=o.pod_labels(ws, "llm"), phase="Pending")
    pod["status"]["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
        }
    ]
    fake.put(pod)

    async def unschedulable() -> bool:
        status = await status_of(runtime, ws, "llm")
        return bool(status and any(c.reason == "Unschedulable" for c in status.conditions))

    await eventually(unschedulable)
    status = await status_of(runtime, ws, "llm")
    assert status is not None and status.phase == "Progressing"
    assert ("Warning", "FailedScheduling") in [(e.type, e.reason) for e in status.events]


async def test_pruned_apps_leave_the_statuses(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), *o.app_objects(ws, "web"), o.pvc(ws, "data")])
    await settles(runtime, ws, "data", "Pending")
    await runtime.converge([o.namespace(ws), o.pvc(ws, "data")])

    async def without_web() -> list[str]:
        apps = [s.app for s in await runtime.statuses()]
        return apps if "web" not in apps else []

    assert await eventually(without_web) == ["data", ws]


async def test_watches_list_again_after_410_gone(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.deployment(ws, "web"), o.deployment(ws, "old")])
    fake.add_pod(ws, "old-1", labels=o.pod_labels(ws, "old"))
    await settles(runtime, ws, "old", "Progressing")
    informer = runtime.informers["Deployment"]
    lists_before, expired_before = informer.lists, informer.expired

    # The watches drop; while they are away things change and the server forgets its history,
    # so resuming from the last version seen answers 410 Gone: the runtime must list again.
    fake.disconnect_watches()
    fake.set_status("Deployment", ws, "web", rolled_out(1))
    fake.remove("Deployment", ws, "old")
    fake.remove("Pod", ws, "old-1")
    fake.compact()

    await settles(runtime, ws, "web", "Running")
    assert await status_of(runtime, ws, "old") is None
    assert informer.expired > expired_before and informer.lists > lists_before
    assert fake.count("watch", "deployments") >= 2
    await eventually(lambda: not runtime.informers["Pod"].objects, what="the pod watch relisted")

    # And it keeps watching after that.
    fake.set_status("Deployment", ws, "web", {**rolled_out(1), "readyReplicas": 0})
    await settles(runtime, ws, "web", "Progressing")


async def test_a_watch_answering_410_over_http_also_lists_again(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    """Some servers and proxies answer the expired watch itself with HTTP 410."""
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.pvc(ws, "data")])
    informer = runtime.informers["PersistentVolumeClaim"]
    await eventually(lambda: informer.objects)
    before = informer.expired
    fake.fail_next("watch", kind="persistentvolumeclaims", code=410, reason="Gone")
    fake.disconnect_watches()
    fake.set_status("PersistentVolumeClaim", ws, "data", {"phase": "Bound"})
    await settles(runtime, ws, "data", "Running")
    assert informer.expired > before


async def test_watch_errors_back_off_and_recover(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.pvc(ws, "data")])
    informer = runtime.informers["PersistentVolumeClaim"]
    await eventually(lambda: informer.objects)
    fake.fail_next("list", kind="persistentvolumeclaims", code=500, times=2)
    fake.disconnect_watches()
    fake.set_status("PersistentVolumeClaim", ws, "data", {"phase": "Bound"})
    fake.compact()  # resuming answers 410; the lists that follow fail twice, then work
    await settles(runtime, ws, "data", "Running")
    assert informer.errors == 2
