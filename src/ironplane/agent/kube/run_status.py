"""Job runs as ``RunStatus``: Argo ``Workflow``s and batch ``Job``s, from the watch caches.

A run is a Workflow or batch Job labelled ``ironplane.dev/kind: job-run`` (what ``jobs run``
creates, and what Argo labels the Workflows of our CronWorkflow with: the template's
``workflowMetadata`` labels), or a Job our CronJob made (an ownerReference to it). Pure
functions, like ``status``.

Phases: Argo's Pending/Running/Succeeded stay, Failed and Error are Failed — or Stopped when
``spec.shutdown`` was set (what ``argo stop``/``argo terminate`` and ``stop_run`` do). A batch
Job is Succeeded on its Complete (or SuccessCriteriaMet) condition, Failed on Failed, Stopped
when ``stop_run`` suspended it (the ``ironplane.dev/stopped-at`` annotation), Running with active
pods, else Pending (suspended by a queue, or not started).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ironplane.agent.kube.crd_status import CRON_WORKFLOW_LABEL
from ironplane.agent.kube.parts import (
    annotations_of,
    condition,
    created,
    int_of,
    is_true,
    labels_of,
    name_of,
    namespace_of,
    owners,
    unix_time,
)
from ironplane.agent.runtime import APP, KIND
from ironplane.wire.agent_protocol import RunPhase, RunStatus
from ironplane.wire.jobs import RUN_KIND

STOPPED_ANNOTATION = "ironplane.dev/stopped-at"
"""On a batch Job ``stop_run`` suspended: when (RFC 3339). Suspending deletes the pods but is
not a terminal state to Kubernetes; the annotation makes the run Stopped."""
MAX_RUNS = 200
"""At most this many runs are reported: every active one, then the most recent finished ones."""
FINISHED: frozenset[RunPhase] = frozenset({"Succeeded", "Failed", "Stopped"})

_ARGO_PHASES: Mapping[str, RunPhase] = {
    "": "Pending",
    "Pending": "Pending",
    "Running": "Running",
    "Succeeded": "Succeeded",
    "Failed": "Failed",
    "Error": "Failed",
}


def _workflow_job(workflow: Mapping[str, Any]) -> str:
    labels = labels_of(workflow)
    ref = ((workflow.get("spec") or {}).get("workflowTemplateRef") or {}).get("name")
    cron = next((r.get("name") for r in owners(workflow, "CronWorkflow")), None)
    return str(labels.get(APP) or labels.get(CRON_WORKFLOW_LABEL) or cron or ref or "")


def workflow_scheduled(workflow: Mapping[str, Any]) -> bool:
    return CRON_WORKFLOW_LABEL in labels_of(workflow) or bool(owners(workflow, "CronWorkflow"))


def workflow_run_phase(workflow: Mapping[str, Any]) -> RunPhase:
    phase = str((workflow.get("status") or {}).get("phase") or "")
    mapped = _ARGO_PHASES.get(phase, "Unknown")
    if mapped == "Failed" and (workflow.get("spec") or {}).get("shutdown"):
        return "Stopped"
    return mapped


def workflow_run(workflow: Mapping[str, Any]) -> RunStatus:
    status = workflow.get("status") or {}
    return RunStatus(
        id=name_of(workflow),
        # The namespace is the workspace: a label could name another one.
        workspace=namespace_of(workflow),
        job=_workflow_job(workflow),
        phase=workflow_run_phase(workflow),
        started_at=unix_time(status.get("startedAt")),
        finished_at=unix_time(status.get("finishedAt")),
        message=status.get("message") or None,
        scheduled=workflow_scheduled(workflow),
    )


def job_scheduled(job: Mapping[str, Any]) -> bool:
    return bool(owners(job, "CronJob"))


def job_run_phase(job: Mapping[str, Any]) -> tuple[RunPhase, str | None, float | None]:
    """(phase, message, finished at) of a batch Job."""
    status = job.get("status") or {}
    for done in ("Complete", "SuccessCriteriaMet"):
        if is_true(job, done):
            finished = status.get("completionTime") or (condition(job, done) or {}).get(
                "lastTransitionTime"
            )
            return "Succeeded", None, unix_time(finished)
    stopped = annotations_of(job).get(STOPPED_ANNOTATION)
    if stopped:
        return "Stopped", "stopped on request", unix_time(stopped)
    failed = condition(job, "Failed")
    if failed is not None and failed.get("status") == "True":
        text = failed.get("message") or failed.get("reason") or "the job failed"
        return "Failed", str(text), unix_time(failed.get("lastTransitionTime"))
    if int_of(status.get("active")) > 0:
        return "Running", None, None
    if (job.get("spec") or {}).get("suspend") or is_true(job, "Suspended"):
        return "Pending", "suspended: waiting to be admitted", None
    return "Pending", None, None


def job_run(job: Mapping[str, Any]) -> RunStatus:
    labels = labels_of(job)
    owner = next((r.get("name") for r in owners(job, "CronJob")), None)
    phase, text, finished = job_run_phase(job)
    return RunStatus(
        id=name_of(job),
        workspace=namespace_of(job),
        job=str(labels.get(APP) or owner or ""),
        phase=phase,
        started_at=unix_time((job.get("status") or {}).get("startTime")),
        finished_at=finished,
        message=text,
        scheduled=job_scheduled(job),
    )


def collect_runs(
    workflows: Iterable[Mapping[str, Any]],
    jobs: Iterable[Mapping[str, Any]],
    *,
    limit: int = MAX_RUNS,
) -> list[RunStatus]:
    """Every run among ``workflows`` (run Workflows) and ``jobs`` (run Jobs, and Jobs of any
    kind: those a CronJob made count as scheduled runs, others are not runs), newest first:
    all active ones, then the most recent finished ones up to ``limit`` in all."""
    found: dict[tuple[str, str, str], tuple[tuple[str, str], RunStatus]] = {}
    for workflow in workflows:
        key = ("Workflow", namespace_of(workflow), name_of(workflow))
        found[key] = (created(workflow), workflow_run(workflow))
    for job in jobs:
        if labels_of(job).get(KIND) != RUN_KIND and not job_scheduled(job):
            continue
        found[("Job", namespace_of(job), name_of(job))] = (created(job), job_run(job))
    newest = sorted(found.values(), key=lambda pair: pair[0], reverse=True)
    active = [run for _, run in newest if run.phase not in FINISHED]
    done = [run for _, run in newest if run.phase in FINISHED]
    kept = {id(run) for run in active + done[: max(0, limit - len(active))]}
    return [run for _, run in newest if id(run) in kept]
