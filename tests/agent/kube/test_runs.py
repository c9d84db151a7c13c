"""Job runs through the agent: ``run_job`` creates a Workflow (Argo Workflows) or a batch Job
(from the CronJob template), ``stop_run`` stops it, ``run_logs`` reads its pods, ``runs()``
reports them from the watches. Against the fake API server, which plays the controllers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ironplane.agent.kube import KubeApi, KubeRuntime, ResourceType
from ironplane.core.errors import ConflictError, InvalidError, NotFoundError
from ironplane.validation.crds import validate_custom
from ironplane.validation.kube import validate_builtin
from ironplane.wire.agent_protocol import RunStatus
from tests.agent.kube import crd_objects as c
from tests.agent.kube import objects as o
from tests.agent.kube.conftest import Cluster, eventually
from tests.agent.kube.fakeapi import Call, FakeKube

pytestmark = pytest.mark.anyio

WORKFLOW = ResourceType.of("argoproj.io/v1alpha1", "Workflow")
JOB = ResourceType.of("batch/v1", "Job")
Object = dict[str, Any]
PARAMS = [{"name": "lr", "value": "0.001"}, {"name": "epochs"}, {"name": "data", "value": "s3://d"}]


@pytest.fixture
def fake(cluster: Cluster) -> FakeKube:
    return cluster.need_fake()


def creates(fake: FakeKube) -> list[Call]:
    return [call for call in fake.calls if call.verb == "create"]


def writes(fake: FakeKube, plural: str) -> list[Call]:
    return [c for c in fake.calls if c.plural == plural and c.verb in ("patch", "create")]


async def test_a_run_creates_a_workflow_from_the_template_with_the_given_params(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), c.workflow_template(ws, "train", PARAMS)])

    await runtime.run_job(ws, "train", "train-7f3a", {"epochs": "3", "lr": "0.01"})

    [call] = creates(fake)
    assert (call.group, call.plural, call.namespace) == ("argoproj.io", "workflows", ws)
    assert call.query["fieldManager"] == "ironplane-agent-runs"
    expected = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": "train-7f3a",
            "namespace": ws,
            "labels": {
                "ironplane.dev/workspace": ws,
                "ironplane.dev/app": "train",
                "ironplane.dev/kind": "job-run",
                "ironplane.dev/run": "train-7f3a",
            },
        },
        "spec": {
            "workflowTemplateRef": {"name": "train"},
            "arguments": {
                "parameters": [{"name": "lr", "value": "0.01"}, {"name": "epochs", "value": "3"}]
            },
        },
    }
    assert call.body == expected
    stored = await api.get(WORKFLOW, "train-7f3a", ws)
    assert stored is not None and stored["spec"] == expected["spec"]
    assert "app.kubernetes.io/managed-by" not in stored["metadata"]["labels"]
    # Not desired state: a converge leaves the run alone.
    await runtime.converge([o.namespace(ws), c.workflow_template(ws, "train", PARAMS)])
    assert await api.get(WORKFLOW, "train-7f3a", ws) is not None


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"epochs": "3", "lrr": "0.1"}, r"unknown param 'lrr' \(did you mean 'lr'\?\)"),
        ({"lr": "0.1"}, r"epochs have no default: give -p epochs=VALUE"),
    ],
)
@pytest.mark.parametrize("template", ["workflow", "cronjob"])
async def test_params_are_checked_before_anything_is_created(
    cluster: Cluster,
    fake: FakeKube,
    runtime: KubeRuntime,
    params: dict[str, str],
    problem: str,
    template: str,
) -> None:
    ws = cluster.namespace()
    if template == "workflow":
        obj = c.workflow_template(ws, "train", PARAMS)
    else:
        declared = [{"name": p["name"], "default": p.get("value")} for p in PARAMS]
        obj = c.run_cronjob(
            ws,
            "train",
            params=declared,
            command={"command": ["python", "train.py", "--epochs", "{{epochs}}"], "args": None},
        )
    await runtime.converge([o.namespace(ws), obj])
    with pytest.raises(InvalidError, match=problem):
        await runtime.run_job(ws, "train", "r1", params)
    assert creates(fake) == []


async def test_a_run_name_that_exists_is_a_conflict(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), c.workflow_template(ws, "train")])
    await runtime.run_job(ws, "train", "r1", {})
    with pytest.raises(ConflictError, match="already has a run named 'r1'"):
        await runtime.run_job(ws, "train", "r1", {})
    assert [call.code for call in creates(fake)] == [201, 409]


async def test_a_template_ironplane_did_not_make_is_not_run(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws)])
    fake.put(c.workflow_template(ws, "train", owned=False))
    with pytest.raises(NotFoundError, match=r"job 'train' .* has no run template"):
        await runtime.run_job(ws, "train", "r1", {})
    with pytest.raises(NotFoundError, match="has no run template"):
        await runtime.run_job(ws, "nope", "r1", {})
    assert creates(fake) == []


async def test_without_argo_a_run_is_a_job_made_from_the_cronjob_template(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime, api: KubeApi
) -> None:
    fake.unserve("argoproj.io")  # Argo Workflows not installed: 404 for WorkflowTemplates
    ws = cluster.namespace()
    cronjob = c.run_cronjob(
        ws,
        "train",
        params=[{"name": "epochs", "default": "1"}, {"name": "model", "default": None}],
        command={
            "command": ["python", "train.py"],
            "args": ["--epochs={{epochs}}", "--model", "{{ model }}"],
        },
        queue="team-a",
    )
    await runtime.converge([o.namespace(ws), cronjob])

    await runtime.run_job(ws, "train", "train-r1", {"model": "llama-3-8b"})

    [call] = creates(fake)
    assert (call.plural, call.namespace) == ("jobs", ws)
    job = await api.get(JOB, "train-r1", ws)
    assert job is not None
    assert job["metadata"]["labels"] == {
        "app.kubernetes.io/name": "train",
        "ironplane.dev/version": "h1",
        "kueue.x-k8s.io/queue-name": "team-a",  # the template's queue stays
        "ironplane.dev/workspace": ws,
        "ironplane.dev/app": "train",
        "ironplane.dev/kind": "job-run",
        "ironplane.dev/run": "train-r1",
    }
    pod = job["spec"]["template"]
    assert pod["metadata"]["labels"]["ironplane.dev/run"] == "train-r1"
    main, sidecar = pod["spec"]["containers"]
    assert main["command"] == ["python", "train.py"]
    assert main["args"] == ["--epochs=1", "--model", "llama-3-8b"]
    assert sidecar == {"name": "sidecar", "image": "busybox"}
    assert (job["spec"]["backoffLimit"], job["spec"]["activeDeadlineSeconds"]) == (2, 3600)
    # The template itself is untouched.
    live = fake.get("CronJob", ws, "train")
    assert live is not None and live["spec"] == cronjob["spec"]


async def test_a_cronjob_with_a_broken_annotation_says_so(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    cronjob = c.run_cronjob(ws, "train")
    cronjob["metadata"]["annotations"]["ironplane.dev/params"] = "[{"
    await runtime.converge([o.namespace(ws), cronjob])
    with pytest.raises(Exception, match=r"annotation ironplane\.dev/params of CronJob train"):
        await runtime.run_job(ws, "train", "r1", {})
    assert creates(fake) == []


async def test_stop_a_workflow_sets_shutdown_stop(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), c.workflow_template(ws, "train")])
    await runtime.run_job(ws, "train", "r1", {})
    fake.set_status("Workflow", ws, "r1", {"phase": "Running", "startedAt": "2025-06-01T10:00:00Z"})

    await runtime.stop_run(ws, "train", "r1")

    [patch] = [w for w in writes(fake, "workflows") if w.verb == "patch"]
    assert patch.body == {"spec": {"shutdown": "Stop"}}
    stored = await api.get(WORKFLOW, "r1", ws)
    assert stored is not None and stored["spec"]["shutdown"] == "Stop"
    # The controller ends it as Failed; a shut-down run reads Stopped.
    fake.set_status(
        "Workflow", ws, "r1", {"phase": "Failed", "message": "Stopped with strategy 'Stop'"}
    )

    async def stopped() -> list[RunStatus]:
        return [r for r in await runtime.runs() if r.id == "r1" and r.phase == "Stopped"]

    [run] = await eventually(stopped)
    assert (run.job, run.workspace, run.scheduled) == ("train", ws, False)
    # Stopping it again, or a finished run, sends nothing.
    await runtime.stop_run(ws, "train", "r1")
    await runtime.run_job(ws, "train", "r2", {})
    fake.set_status("Workflow", ws, "r2", {"phase": "Succeeded"})
    await runtime.stop_run(ws, "train", "r2")
    assert len([w for w in writes(fake, "workflows") if w.verb == "patch"]) == 1


async def test_stop_a_batch_job_ends_it_by_deadline_and_marks_it(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), c.run_cronjob(ws, "train")])
    await runtime.run_job(ws, "train", "r1", {})
    fake.set_status("Job", ws, "r1", {"active": 1, "startTime": "2025-06-01T10:00:00Z"})

    await runtime.stop_run(ws, "train", "r1")

    [patch] = [w for w in writes(fake, "jobs") if w.verb == "patch"]
    # Started: a passed deadline ends it (a suspended Job would count as unfinished forever).
    assert patch.body is not None and patch.body["spec"] == {"activeDeadlineSeconds": 1}
    stamp = patch.body["metadata"]["annotations"]["ironplane.dev/stopped-at"]
    assert stamp.endswith("Z") and list(patch.body) == ["metadata", "spec"]
    job = await api.get(JOB, "r1", ws)
    assert job is not None and job["spec"]["activeDeadlineSeconds"] == 1
    assert job["spec"]["ttlSecondsAfterFinished"] == 7 * 24 * 3600

    async def stopped() -> list[RunStatus]:
        return [r for r in await runtime.runs() if r.id == "r1" and r.phase == "Stopped"]

    [run] = await eventually(stopped)
    assert run.finished_at is not None and run.started_at is not None


async def test_stop_and_logs_of_an_unknown_run(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), c.workflow_template(ws, "train")])
    await runtime.run_job(ws, "train", "r1", {})
    for action in (
        runtime.stop_run(ws, "train", "nope"),
        runtime.stop_run(ws, "other", "r1"),  # a run of another job
        runtime.run_logs(ws, "train", "nope", 10),
    ):
        with pytest.raises(NotFoundError, match="has no run"):
            await action
    # A Workflow that is not a run (no run label, no schedule) is not one to stop.
    fake.put(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "hand-made", "namespace": ws, "labels": {"app": "x"}},
            "spec": {},
        }
    )
    with pytest.raises(NotFoundError):
        await runtime.stop_run(ws, "train", "hand-made")


async def test_logs_of_a_workflow_run_read_the_main_containers(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), c.workflow_template(ws, "train")])
    await runtime.run_job(ws, "train", "r1", {})
    assert await runtime.run_logs(ws, "train", "r1", 10) == [
        "(run r1 has no pods: it has not started, or its pods were removed)"
    ]
    for pod in ("r1-main-111", "r1-eval-222"):
        fake.add_pod(
            ws, pod, labels={"workflows.argoproj.io/workflow": "r1"}, containers=["wait", "main"]
        )
        fake.set_logs(ws, pod, "argo wait sidecar noise", container="wait")
    fake.add_pod(ws, "other-1", labels={"workflows.argoproj.io/workflow": "r2"})
    fake.set_logs(ws, "r1-main-111", "epoch 1\nepoch 2", container="main")
    fake.set_logs(ws, "r1-eval-222", "eval ok", container="main")

    assert await runtime.run_logs(ws, "train", "r1", 10) == [
        "[r1-main-111] epoch 1",
        "[r1-main-111] epoch 2",
        "[r1-eval-222] eval ok",
    ]
    assert await runtime.run_logs(ws, "train", "r1", 1) == ["[r1-eval-222] eval ok"]


async def test_logs_of_a_batch_job_run(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), c.run_cronjob(ws, "train")])
    await runtime.run_job(ws, "train", "r1", {})
    # A cluster before 1.27 labels a Job's pods with job-name only.
    fake.add_pod(ws, "r1-x7k2p", labels={"job-name": "r1", "controller-uid": "u1"})
    fake.set_logs(ws, "r1-x7k2p", "loss 0.42\nloss 0.37")
    assert await runtime.run_logs(ws, "train", "r1", 5) == ["loss 0.42", "loss 0.37"]


async def test_runs_are_reported_from_the_watches(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    nightly = c.run_cronjob(ws, "nightly")
    nightly["spec"]["suspend"] = False
    await runtime.converge(
        [o.namespace(ws), c.workflow_template(ws, "train"), nightly, o.job(ws, "batch")]
    )
    await runtime.run_job(ws, "train", "train-1", {})
    fake.set_status(
        "Workflow",
        ws,
        "train-1",
        {
            "phase": "Succeeded",
            "startedAt": "2025-06-01T10:00:00Z",
            "finishedAt": "2025-06-01T10:30:00Z",
        },
    )
    owner = fake.get("CronJob", ws, "nightly")
    assert owner is not None
    scheduled = c.batch_job_run(
        ws, "nightly", "nightly-29150000", owner=owner, status={"active": 1}
    )
    fake.put(scheduled)  # the CronJob controller's Job: our labels, owned by the CronJob

    async def both() -> dict[str, RunStatus]:
        runs = {r.id: r for r in await runtime.runs()}
        done = runs.get("train-1") and runs["train-1"].phase == "Succeeded"
        return runs if done and "nightly-29150000" in runs else {}

    runs = await eventually(both)
    assert set(runs) == {"train-1", "nightly-29150000"}  # the app's own Job is no run
    assert runs["train-1"] == RunStatus(
        id="train-1",
        workspace=ws,
        job="train",
        phase="Succeeded",
        started_at=1748772000.0,
        finished_at=1748773800.0,
    )
    assert runs["nightly-29150000"] == RunStatus(
        id="nightly-29150000", workspace=ws, job="nightly", phase="Running", scheduled=True
    )
    # The job apps themselves: the WorkflowTemplate is ready to run; the CronJob's run decides.
    statuses = {s.app: s.phase for s in await runtime.statuses() if s.workspace == ws}
    assert (statuses["train"], statuses["nightly"]) == ("Suspended", "Running")


def test_the_params_annotation_round_trips() -> None:
    """The test template writes the annotations the way wire.jobs documents them."""
    cronjob = c.run_cronjob("ws", "j", params=[{"name": "a", "default": None}])
    assert json.loads(cronjob["metadata"]["annotations"]["ironplane.dev/params"]) == [
        {"default": None, "name": "a"}
    ]


async def test_what_a_run_creates_follows_the_schemas(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime, crd_dir: Path
) -> None:
    ws = cluster.namespace()
    cronjob = c.run_cronjob(
        ws,
        "etl",
        params=[{"name": "day", "default": None}],
        command={"command": ["etl"], "args": ["--day", "{{day}}"]},
    )
    await runtime.converge([o.namespace(ws), c.workflow_template(ws, "train", PARAMS), cronjob])
    await runtime.run_job(ws, "train", "r1", {"epochs": "2"})
    await runtime.run_job(ws, "etl", "r2", {"day": "2025-06-01"})
    workflow, job = (call.body for call in creates(fake))
    assert validate_custom(workflow, crd_dir=crd_dir) == []
    for version in ("1.33", "1.37"):
        assert validate_builtin(job, kube_version=version) == []


async def test_stop_a_queued_batch_job_also_suspends_it(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), c.run_cronjob(ws, "train")])
    await runtime.run_job(ws, "train", "r1", {})  # never started: no startTime
    await runtime.stop_run(ws, "train", "r1")
    [patch] = [w for w in writes(fake, "jobs") if w.verb == "patch"]
    assert patch.body is not None
    assert patch.body["spec"] == {"activeDeadlineSeconds": 1, "suspend": True}
