"""Statuses of the operators' objects, on realistic status bodies (``crd_objects``): Argo
Rollouts (canary, blue-green, analysis), KEDA with its HPA, Argo Workflows and batch Job runs.
Pure parsing first, then through the runtime's watches against the fake API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ironplane.agent.kube import KubeRuntime
from ironplane.agent.kube.crd_status import (
    cron_workflow_part,
    rollout_info,
    rollout_part,
    scaling_info,
)
from ironplane.agent.kube.run_status import collect_runs, job_run, workflow_run
from ironplane.agent.kube.status import derive
from ironplane.validation.crds import validate_custom
from ironplane.validation.kube import validate_builtin
from ironplane.wire.agent_protocol import (
    AnalysisInfo,
    AnalysisMetric,
    AppStatus,
    RolloutInfo,
    RunStatus,
    ScalingInfo,
)
from tests.agent.kube import crd_objects as c
from tests.agent.kube import objects as o
from tests.agent.kube.conftest import Cluster, eventually
from tests.agent.kube.fakeapi import FakeKube

Object = dict[str, Any]
T0 = 1748772000.0  # 2025-06-01T10:00:00Z


def with_uid(obj: Object, uid: str = "5f0c-rollout") -> Object:
    obj["metadata"]["uid"] = uid
    return obj


def canary_mid_analysis() -> tuple[Object, list[Object]]:
    """Step 3 of 5 (the analysis step) at 20% canary, an analysis running, an older one."""
    rollout = with_uid(c.canary_rollout("prod", "web"))
    rollout["metadata"]["generation"] = 3
    rollout["status"] = c.rollout_status(
        phase="Progressing",
        step=2,
        message="more replicas need to be updated",
        canary={
            "weights": c.weights(20),
            "currentStepAnalysisRunStatus": {"name": "web-b7c9d5f4d-3-2", "status": "Running"},
        },
    )
    running = c.analysis_run(
        rollout,
        "web-b7c9d5f4d-3-2",
        metrics=[
            c.metric(
                "success-rate", "Running", [("Successful", "[0.998]"), ("Successful", "[0.991]")]
            ),
            c.metric("latency-p99", "Pending", []),
        ],
    )
    older = c.analysis_run(
        rollout,
        "web-6f8d4c9b7-2-2",
        pod_hash=c.STABLE,
        phase="Successful",
        created="2025-05-30T10:00:00Z",
    )
    foreign = c.analysis_run(with_uid(c.canary_rollout("prod", "other"), "uid-other"), "x-1")
    return rollout, [older, running, foreign]


def test_canary_mid_step_with_analysis() -> None:
    rollout, runs = canary_mid_analysis()
    part = rollout_part(rollout)
    assert (part.phase, part.ready, part.desired, part.error) == ("Progressing", 4, 4, None)
    assert [cond.type for cond in part.conditions] == ["Available", "Progressing"]
    assert rollout_info(rollout, runs) == RolloutInfo(
        strategy="canary",
        phase="Progressing",
        step=2,
        steps=5,
        canary_weight=20,
        stable_weight=80,
        paused=False,
        aborted=False,
        message="more replicas need to be updated",
        stable_revision=c.STABLE,
        current_revision=c.CANARY,
        analysis=[
            AnalysisInfo(
                name="web-b7c9d5f4d-3-2",
                phase="Running",
                metrics=[
                    AnalysisMetric(name="success-rate", phase="Running", value="[0.991]"),
                    AnalysisMetric(name="latency-p99", phase="Pending", value=None),
                ],
            )
        ],
    )


def test_canary_paused_at_a_step_without_traffic_routing() -> None:
    rollout = with_uid(c.canary_rollout("prod", "web", traffic_routing=False))
    rollout["status"] = c.rollout_status(
        phase="Paused",
        step=1,
        message="CanaryPauseStep",
        pauseConditions=[{"reason": "CanaryPauseStep", "startTime": "2025-06-01T10:04:00Z"}],
        controllerPause=True,
        canary={},
    )
    info = rollout_info(rollout)
    # No router: the weight is what the last setWeight step asks for.
    assert (info.step, info.steps, info.canary_weight, info.stable_weight) == (1, 5, 20, 80)
    assert (info.paused, info.phase, info.aborted) == (True, "Paused", False)
    assert rollout_part(rollout).phase == "Progressing"
    rollout["status"]["currentStepIndex"] = 4  # past setWeight 50
    assert rollout_info(rollout).canary_weight == 50


def test_canary_aborted_after_a_failed_analysis() -> None:
    rollout, _ = canary_mid_analysis()
    rollout["status"] = c.rollout_status(
        phase="Degraded",
        step=0,
        message='RolloutAborted: Rollout aborted update to revision 3: Metric "success-rate" '
        "assessed Failed due to failed (3) > failureLimit (2)",
        abort=True,
        abortedAt="2025-06-01T10:09:00Z",
        canary={
            "weights": c.weights(0),
            "currentStepAnalysisRunStatus": {
                "name": "web-b7c9d5f4d-3-2",
                "status": "Failed",
                "message": 'Metric "success-rate" assessed Failed due to failed (3) > '
                "failureLimit (2)",
            },
        },
    )
    failed = c.analysis_run(
        rollout,
        "web-b7c9d5f4d-3-2",
        phase="Failed",
        message='Metric "success-rate" assessed Failed due to failed (3) > failureLimit (2)',
        metrics=[
            c.metric(
                "success-rate",
                "Failed",
                [("Failed", "[0.71]"), ("Failed", "[0.64]"), ("Failed", "[0.52]")],
                message="failed (3) > failureLimit (2)",
            )
        ],
    )
    part = rollout_part(rollout)
    assert part.phase == "Degraded"
    assert part.error is not None and part.error.startswith("RolloutAborted:")
    info = rollout_info(rollout, [failed])
    assert (info.aborted, info.canary_weight, info.stable_weight) == (True, 0, 100)
    assert info.analysis == [
        AnalysisInfo(
            name="web-b7c9d5f4d-3-2",
            phase="Failed",
            message='Metric "success-rate" assessed Failed due to failed (3) > failureLimit (2)',
            metrics=[
                AnalysisMetric(
                    name="success-rate",
                    phase="Failed",
                    value="[0.52]",
                    message="failed (3) > failureLimit (2)",
                )
            ],
        )
    ]


def test_degraded_rollout_reports_argos_message() -> None:
    rollout = with_uid(c.canary_rollout("prod", "web"))
    message = 'ProgressDeadlineExceeded: ReplicaSet "web-b7c9d5f4d" has timed out progressing.'
    rollout["status"] = c.rollout_status(phase="Degraded", step=0, ready=3, message=message)
    part = rollout_part(rollout)
    assert (part.phase, part.error, part.ready, part.desired) == ("Degraded", message, 3, 4)
    assert rollout_info(rollout).aborted is False


def test_blue_green_waiting_for_promotion_with_its_preview() -> None:
    rollout = with_uid(c.blue_green_rollout("prod", "chat"))
    rollout["status"] = c.rollout_status(
        phase="Paused",
        replicas=4,
        ready=4,
        message="BlueGreenPause",
        pauseConditions=[{"reason": "BlueGreenPause", "startTime": "2025-06-01T10:06:00Z"}],
        controllerPause=True,
        blueGreen={
            "activeSelector": c.STABLE,
            "previewSelector": c.CANARY,
            "prePromotionAnalysisRunStatus": {"name": "chat-b7c9d5f4d-pre", "status": "Successful"},
        },
    )
    info = rollout_info(rollout)  # the AnalysisRun is not at hand: the status' summary serves
    assert info == RolloutInfo(
        strategy="blue_green",
        phase="Paused",
        paused=True,
        message="BlueGreenPause",
        stable_revision=c.STABLE,
        current_revision=c.CANARY,
        analysis=[AnalysisInfo(name="chat-b7c9d5f4d-pre", phase="Successful")],
    )
    assert rollout_part(rollout).phase == "Progressing"


def test_healthy_rollout_is_running_with_all_traffic_on_stable() -> None:
    rollout = with_uid(c.canary_rollout("prod", "web", traffic_routing=False))
    rollout["metadata"]["generation"] = 3
    rollout["status"] = c.rollout_status(phase="Healthy", step=5, current=c.STABLE)
    assert rollout_part(rollout).phase == "Running"
    info = rollout_info(rollout)
    assert (info.canary_weight, info.stable_weight, info.paused) == (0, 100, False)
    # A spec the controller has not seen yet: whatever the status says is about the old one.
    rollout["metadata"]["generation"] = 4
    assert rollout_part(rollout).phase == "Progressing"
    # No status at all (the controller has not looked): progressing, no weights to tell.
    del rollout["status"]
    assert rollout_part(rollout).phase == "Progressing"
    assert rollout_info(rollout).phase == "Progressing"


def test_an_app_with_a_rollout_takes_its_phase_and_analysis_from_it() -> None:
    rollout, runs = canary_mid_analysis()
    deployment = o.deployment("prod", "web", replicas=0)  # a workloadRef target, scaled to 0
    [status] = derive({"Rollout": [rollout], "Deployment": [deployment], "AnalysisRun": runs})
    assert (status.phase, status.ready, status.desired, status.kind) == (
        "Progressing",
        4,
        4,
        "model",
    )
    assert status.rollout is not None
    assert [a.name for a in status.rollout.analysis] == ["web-b7c9d5f4d-3-2"]
    assert status.scaling is None


def keda(**kwargs: Any) -> Object:
    return c.scaled_object("prod", "web", **kwargs)


@pytest.mark.parametrize(
    ("scaled", "hpas", "expected"),
    [
        pytest.param(
            keda(),
            [c.keda_hpa(keda(), current=3, desired=5)],
            ScalingInfo(min=1, max=8, current=3, desired=5, active=True),
            id="active",
        ),
        pytest.param(
            keda(conditions=c.keda_conditions(active="False")),
            [c.keda_hpa(keda(), current=1, desired=1)],
            ScalingInfo(min=1, max=8, current=1, desired=1, active=False),
            id="idle",
        ),
        pytest.param(
            keda(conditions=c.keda_conditions(paused="True", active="False")),
            [c.keda_hpa(keda(), current=2, desired=2)],
            ScalingInfo(min=1, max=8, current=2, desired=2, active=False, paused=True),
            id="paused",
        ),
        pytest.param(
            keda(min_replicas=None, max_replicas=None, hpa_name=None),
            [],
            ScalingInfo(min=0, max=100, active=True),
            id="no-hpa-yet-and-keda-defaults",
        ),
        pytest.param(
            keda(conditions=c.keda_conditions(ready="False", active="False"), hpa_name=None),
            [c.keda_hpa(keda(), current=2, desired=2, name="someone-elses")],
            ScalingInfo(
                min=1,
                max=8,
                active=False,
                message="ScaledObject doesn't have correct scaleTargetRef specification",
            ),
            id="not-ready",
        ),
        pytest.param(
            keda(conditions=c.keda_conditions(fallback="True")),
            [c.keda_hpa(keda(), current=4, desired=4)],
            ScalingInfo(
                min=1,
                max=8,
                current=4,
                desired=4,
                active=True,
                message="At least one trigger is falling back on this scaled object",
            ),
            id="fallback",
        ),
    ],
)
def test_scaling_from_the_scaled_object_and_its_hpa(
    scaled: Object, hpas: list[Object], expected: ScalingInfo
) -> None:
    assert scaling_info(scaled, hpas) == expected


def test_scaling_finds_a_renamed_hpa_through_the_status() -> None:
    scaled = keda(hpa_name="web-autoscaler")
    hpas = [
        c.keda_hpa(scaled, current=9, desired=9),  # keda-hpa-web: not the one KEDA names
        c.keda_hpa(scaled, current=2, desired=3, name="web-autoscaler"),
    ]
    info = scaling_info(scaled, hpas)
    assert (info.current, info.desired) == (2, 3)


def test_an_app_with_a_scaled_object_reports_scaling() -> None:
    scaled = keda()
    hpa = c.keda_hpa(scaled, current=3, desired=5)
    deployment = o.deployment("prod", "web", replicas=3)
    [status] = derive(
        {"Deployment": [deployment], "ScaledObject": [scaled], "HorizontalPodAutoscaler": [hpa]}
    )
    assert status.scaling == ScalingInfo(min=1, max=8, current=3, desired=5, active=True)
    assert status.phase == "Progressing"  # the Deployment still decides the phase


# --- Argo Workflows ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("workflow", "expected"),
    [
        pytest.param(
            c.workflow("ml", "train", "train-1"),
            RunStatus(id="train-1", workspace="ml", job="train", phase="Pending"),
            id="not-yet-seen",
        ),
        pytest.param(
            c.workflow("ml", "train", "train-1", phase="Pending", started="2025-06-01T10:00:00Z"),
            RunStatus(id="train-1", workspace="ml", job="train", phase="Pending", started_at=T0),
            id="pending",
        ),
        pytest.param(
            c.workflow("ml", "train", "train-1", phase="Running", started="2025-06-01T10:00:00Z"),
            RunStatus(id="train-1", workspace="ml", job="train", phase="Running", started_at=T0),
            id="running",
        ),
        pytest.param(
            c.workflow(
                "ml",
                "train",
                "train-1",
                phase="Succeeded",
                started="2025-06-01T10:00:00Z",
                finished="2025-06-01T10:30:00Z",
            ),
            RunStatus(
                id="train-1",
                workspace="ml",
                job="train",
                phase="Succeeded",
                started_at=T0,
                finished_at=T0 + 1800,
            ),
            id="succeeded",
        ),
        pytest.param(
            c.workflow(
                "ml",
                "train",
                "train-1",
                phase="Failed",
                started="2025-06-01T10:00:00Z",
                finished="2025-06-01T10:01:00Z",
                message="child 'train-1-2771' failed",
            ),
            RunStatus(
                id="train-1",
                workspace="ml",
                job="train",
                phase="Failed",
                started_at=T0,
                finished_at=T0 + 60,
                message="child 'train-1-2771' failed",
            ),
            id="failed",
        ),
        pytest.param(
            c.workflow("ml", "train", "train-1", phase="Error", message="pod deleted"),
            RunStatus(
                id="train-1", workspace="ml", job="train", phase="Failed", message="pod deleted"
            ),
            id="error-is-failed",
        ),
        pytest.param(
            c.workflow(
                "ml",
                "train",
                "train-1",
                phase="Failed",
                message="Stopped with strategy 'Stop'",
                shutdown="Stop",
            ),
            RunStatus(
                id="train-1",
                workspace="ml",
                job="train",
                phase="Stopped",
                message="Stopped with strategy 'Stop'",
            ),
            id="stopped",
        ),
        pytest.param(
            c.workflow("ml", "train", "train-1", phase="Failed", shutdown="Terminate"),
            RunStatus(id="train-1", workspace="ml", job="train", phase="Stopped"),
            id="terminated",
        ),
        pytest.param(
            c.workflow("ml", "train", "train-1", phase="Running", shutdown="Stop"),
            RunStatus(id="train-1", workspace="ml", job="train", phase="Running"),
            id="stopping",
        ),
        pytest.param(
            c.workflow("ml", "train", "train-1", phase="Weird"),
            RunStatus(id="train-1", workspace="ml", job="train", phase="Unknown"),
            id="unknown",
        ),
        pytest.param(
            c.workflow(
                "ml",
                "train",
                "train-cron-1717",
                cron=c.cron_workflow("ml", "train"),
                phase="Running",
            ),
            RunStatus(
                id="train-cron-1717", workspace="ml", job="train", phase="Running", scheduled=True
            ),
            id="scheduled",
        ),
    ],
)
def test_workflow_runs(workflow: Object, expected: RunStatus) -> None:
    assert workflow_run(workflow) == expected


def test_a_cron_workflow_app_follows_its_latest_run() -> None:
    cron = c.cron_workflow("ml", "nightly")
    early = c.workflow("ml", "nightly", "nightly-1", cron=cron, phase="Succeeded")
    late = c.workflow(
        "ml",
        "nightly",
        "nightly-2",
        cron=cron,
        phase="Failed",
        message="OOMKilled",
        created="2025-06-02T10:00:00Z",
    )
    by_hand = c.workflow(
        "ml", "nightly", "nightly-manual", phase="Running", created="2025-06-03T00:00:00Z"
    )
    part = cron_workflow_part(cron, [early, late, by_hand])
    assert (part.phase, part.error) == ("Failed", "OOMKilled")
    assert cron_workflow_part(cron, [by_hand]).phase == "Pending"  # no scheduled run yet
    cron["spec"]["suspend"] = True
    assert cron_workflow_part(cron, [early, late]).phase == "Suspended"

    template = c.workflow_template("ml", "nightly")
    statuses = derive({"WorkflowTemplate": [template], "CronWorkflow": [], "Workflow": [late]})
    assert [(s.app, s.phase, s.kind) for s in statuses] == [("nightly", "Suspended", "job")]
    cron["spec"]["suspend"] = False
    [status] = derive({"WorkflowTemplate": [template], "CronWorkflow": [cron], "Workflow": [late]})
    assert (status.phase, status.error) == ("Failed", "OOMKilled")


# --- batch Job runs --------------------------------------------------------------------------


def test_batch_job_runs() -> None:
    cronjob = c.run_cronjob("ml", "train")
    running = c.batch_job_run(
        "ml", "train", "r1", status={"active": 1, "ready": 1, "startTime": "2025-06-01T10:00:00Z"}
    )
    done = c.batch_job_run(
        "ml",
        "train",
        "r2",
        status={
            "succeeded": 1,
            "startTime": "2025-06-01T10:00:00Z",
            "completionTime": "2025-06-01T10:10:00Z",
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True"},
            ],
        },
    )
    failed = c.batch_job_run(
        "ml",
        "train",
        "r3",
        status={
            "failed": 3,
            "startTime": "2025-06-01T10:00:00Z",
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastTransitionTime": "2025-06-01T10:05:00Z",
                }
            ],
        },
    )
    stopped = c.batch_job_run(
        "ml",
        "train",
        "r4",
        suspend=True,
        annotations={"ironplane.dev/stopped-at": "2025-06-01T10:02:00Z"},
        status={
            "startTime": "2025-06-01T10:00:00Z",
            "conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended"}],
        },
    )
    queued = c.batch_job_run("ml", "train", "r5", suspend=True)
    scheduled = c.batch_job_run("ml", "train", "train-29150000", owner=cronjob)
    assert [job_run(j) for j in (running, done, failed, stopped, queued, scheduled)] == [
        RunStatus(id="r1", workspace="ml", job="train", phase="Running", started_at=T0),
        RunStatus(
            id="r2",
            workspace="ml",
            job="train",
            phase="Succeeded",
            started_at=T0,
            finished_at=T0 + 600,
        ),
        RunStatus(
            id="r3",
            workspace="ml",
            job="train",
            phase="Failed",
            started_at=T0,
            finished_at=T0 + 300,
            message="Job has reached the specified backoff limit",
        ),
        RunStatus(
            id="r4",
            workspace="ml",
            job="train",
            phase="Stopped",
            started_at=T0,
            finished_at=T0 + 120,
            message="stopped on request",
        ),
        RunStatus(
            id="r5",
            workspace="ml",
            job="train",
            phase="Pending",
            message="suspended: waiting to be admitted",
        ),
        RunStatus(
            id="train-29150000", workspace="ml", job="train", phase="Pending", scheduled=True
        ),
    ]


def test_runs_are_bounded_keeping_every_active_one() -> None:
    finished = [
        c.workflow(
            "ml",
            "train",
            f"done-{i:03}",
            phase="Succeeded",
            created=f"2025-06-01T{i // 60:02}:{i % 60:02}:00Z",
        )
        for i in range(250)
    ]
    active = [
        c.workflow("ml", "train", f"live-{i}", phase="Running", created="2025-01-01T00:00:00Z")
        for i in range(3)
    ]
    standalone = o.job("ml", "batch")  # an app's own Job, neither labelled a run nor scheduled
    runs = collect_runs([*finished, *active], [standalone], limit=200)
    assert len(runs) == 200
    assert {r.id for r in runs if r.phase == "Running"} == {"live-0", "live-1", "live-2"}
    names = [r.id for r in runs if r.phase == "Succeeded"]
    assert names == [f"done-{i:03}" for i in range(249, 52, -1)]  # the newest, newest first


# --- through the watches -------------------------------------------------------------------


@pytest.fixture
def fake(cluster: Cluster) -> FakeKube:
    return cluster.need_fake()


async def status_of(runtime: KubeRuntime, ws: str, app: str) -> AppStatus | None:
    return next((s for s in await runtime.statuses() if (s.workspace, s.app) == (ws, app)), None)


@pytest.mark.anyio
async def test_rollout_and_scaling_reach_the_status_from_the_watches(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    rollout = c.canary_rollout(ws, "web")
    scaled = c.scaled_object(ws, "web")
    await runtime.converge([o.namespace(ws), rollout, scaled])
    live = fake.get("Rollout", ws, "web")
    assert live is not None
    fake.set_status(
        "Rollout",
        ws,
        "web",
        c.rollout_status(
            phase="Paused",
            generation=live["metadata"]["generation"],
            step=1,
            pauseConditions=[{"reason": "CanaryPauseStep", "startTime": "2025-06-01T10:04:00Z"}],
            canary={"weights": c.weights(20)},
        ),
    )
    fake.put(c.keda_hpa(scaled, current=4, desired=6))
    fake.set_status("ScaledObject", ws, "web", scaled["status"])

    async def reported() -> AppStatus | None:
        status = await status_of(runtime, ws, "web")
        ok = status and status.rollout and status.scaling and status.scaling.current == 4
        return status if ok else None

    status = await eventually(reported)
    assert status.rollout.paused and status.rollout.canary_weight == 20
    assert status.scaling == ScalingInfo(min=1, max=8, current=4, desired=6, active=True)

    # An AnalysisRun (labelled by analysisRunMetadata) joins by its ownerReference and wakes
    # the reporter.
    runtime.changed.clear()
    fake.put(
        c.analysis_run(
            live,
            "web-b7c9d5f4d-1-1",
            metrics=[c.metric("success-rate", "Successful", [("Successful", "[0.99]")])],
        )
    )
    await eventually(runtime.changed.is_set)

    async def analysed() -> list[AnalysisInfo]:
        found = await status_of(runtime, ws, "web")
        return found.rollout.analysis if found and found.rollout else []

    [analysis] = await eventually(analysed)
    assert analysis.metrics == [
        AnalysisMetric(name="success-rate", phase="Successful", value="[0.99]")
    ]


# --- the bodies above are what the CRDs allow ------------------------------------------------


def realistic_bodies() -> list[Object]:
    rollout, _ = canary_mid_analysis()
    paused = with_uid(c.blue_green_rollout("prod", "chat"))
    paused["status"] = c.rollout_status(
        phase="Paused",
        pauseConditions=[{"reason": "BlueGreenPause", "startTime": "2025-06-01T10:06:00Z"}],
        controllerPause=True,
        abort=False,
        blueGreen={
            "activeSelector": c.STABLE,
            "previewSelector": c.CANARY,
            "prePromotionAnalysisRunStatus": {"name": "chat-pre", "status": "Successful"},
        },
    )
    cron = c.cron_workflow("ml", "nightly")
    cronjob = c.run_cronjob("ml", "train", params=[{"name": "a", "default": "1"}])
    return [
        rollout,
        paused,
        keda(conditions=c.keda_conditions(ready="False", active="False", paused="True")),
        c.keda_hpa(keda(), current=3, desired=5),
        c.workflow_template("ml", "train", PARAMS_DECLARED),
        cron,
        c.workflow("ml", "train", "r1", phase="Running", started="2025-06-01T10:00:00Z"),
        c.workflow(
            "ml",
            "nightly",
            "nightly-1",
            cron=cron,
            phase="Failed",
            shutdown="Stop",
            started="2025-06-01T10:00:00Z",
            finished="2025-06-01T10:01:00Z",
            message="Stopped with strategy 'Stop'",
        ),
        cronjob,
        c.batch_job_run(
            "ml",
            "train",
            "r2",
            owner=cronjob,
            status={
                "startTime": "2025-06-01T10:00:00Z",
                "failed": 3,
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                        "lastTransitionTime": "2025-06-01T10:05:00Z",
                    }
                ],
            },
        ),
    ]


PARAMS_DECLARED = [{"name": "lr", "value": "0.001"}, {"name": "epochs"}]


def test_the_test_bodies_follow_the_schemas(crd_dir: Path) -> None:
    """Status included: a body the controller could not have written would prove nothing."""
    for body in realistic_bodies():
        if body["apiVersion"] in ("batch/v1", "autoscaling/v2"):
            problems = validate_builtin(body, kube_version="1.33")
        else:
            problems = validate_custom(body, crd_dir=crd_dir)
        assert not problems, (body["kind"], [str(p) for p in problems])
