"""What really runs, derived from the watched objects: per-app ``AppStatus`` and ``NodeInfo``.

Pure functions over plain dicts (the watch caches), plus ``PodEvents``, which turns pod changes
into ``Event``s. An app is the objects sharing the labels ``ironplane.dev/workspace`` and
``ironplane.dev/app``. Its phase comes from its workloads (Deployments, Jobs a CronJob did not
make, CronJobs, and the custom resources read in ``crd_status``: an Argo Rollout, which replaces
its Deployment's say, a WorkflowTemplate or CronWorkflow; the worst of them), else its
PersistentVolumeClaims, else its Namespace (a workspace), else Running when it has only
Services. Pods add problems: a container waiting in CrashLoopBackOff, ImagePullBackOff and the
like makes the app Degraded with the reason in ``error``. A Rollout adds ``rollout`` (steps,
weights, analysis), a KEDA ScaledObject adds ``scaling``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ironplane.agent.kube.crd_status import (
    cron_workflow_part,
    rollout_info,
    rollout_part,
    scaling_info,
    workflow_template_part,
)
from ironplane.agent.kube.parts import (
    Part,
    condition,
    conditions_of,
    int_of,
    is_true,
    labels_of,
    name_of,
    owners,
)
from ironplane.agent.runtime import KIND, VERSION, AppKey, app_of
from ironplane.core.quantities import QuantityProblem, parse_quantity
from ironplane.wire.agent_protocol import AppStatus, Condition, Event, NodeInfo, Object

GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
WAITING_PROBLEMS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
# Worst first: an app's phase is the worst of its parts'.
_SEVERITY: Mapping[str, int] = {
    "Failed": 7,
    "Degraded": 6,
    "Unknown": 5,
    "Progressing": 4,
    "Pending": 3,
    "Running": 2,
    "Succeeded": 1,
    "Suspended": 0,
    "NotRunnable": 6,
}


def deployment_part(deployment: Mapping[str, Any]) -> Part:
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    desired = int_of(spec.get("replicas"), 1)
    ready = int_of(status.get("readyReplicas"))
    part = Part("Progressing", ready, desired, conditions=conditions_of(deployment))
    progressing = condition(deployment, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        part.phase = "Degraded"
        part.error = progressing.get("message") or "ProgressDeadlineExceeded"
        return part
    generation = int_of((deployment.get("metadata") or {}).get("generation"), 1)
    observed = int_of(status.get("observedGeneration")) >= generation
    available = condition(deployment, "Available")
    if (
        observed
        and ready >= desired
        and int_of(status.get("updatedReplicas"), desired if desired == 0 else 0) >= desired
        and int_of(status.get("unavailableReplicas")) == 0
        and (available is None or available.get("status") == "True" or desired == 0)
    ):
        part.phase = "Running"
    return part


def job_part(job: Mapping[str, Any]) -> Part:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    desired = int_of(spec.get("parallelism"), 1)
    ready = int_of(status.get("ready"), int_of(status.get("active")))
    part = Part("Pending", ready, desired, conditions=conditions_of(job))
    failed = condition(job, "Failed")
    if is_true(job, "Complete") or is_true(job, "SuccessCriteriaMet"):
        part.phase = "Succeeded"
    elif failed is not None and failed.get("status") == "True":
        part.phase, part.error = "Failed", failed.get("message") or failed.get("reason") or "Failed"
    elif spec.get("suspend") or is_true(job, "Suspended"):
        part.phase = "Suspended"
    elif int_of(status.get("active")) > 0:
        part.phase = "Running"
    return part


def _made_by(job: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    refs = (job.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("kind") == "CronJob" and r.get("name") == name_of(owner) for r in refs)


def cronjob_part(cronjob: Mapping[str, Any], jobs: Iterable[Mapping[str, Any]]) -> Part:
    if (cronjob.get("spec") or {}).get("suspend"):
        return Part("Suspended")
    runs = [job for job in jobs if _made_by(job, cronjob)]
    if not runs:
        return Part("Pending")  # waiting for its first run

    def started(job: Mapping[str, Any]) -> tuple[str, str]:
        meta = job.get("metadata") or {}
        return str(meta.get("creationTimestamp") or ""), name_of(job)

    return job_part(max(runs, key=started))


def claim_part(claim: Mapping[str, Any]) -> Part:
    phase = (claim.get("status") or {}).get("phase", "Pending")
    conditions = conditions_of(claim)
    if phase == "Bound":
        return Part("Running", 1, 1, conditions=conditions)
    if phase == "Lost":
        return Part("Failed", 0, 1, "the claim lost its volume", conditions)
    return Part("Pending", 0, 1, conditions=conditions)


def namespace_part(namespace: Mapping[str, Any]) -> Part:
    phase = (namespace.get("status") or {}).get("phase", "Active")
    return Part("Running" if phase == "Active" else "Progressing")


def _containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]


def pod_problem(pod: Mapping[str, Any]) -> str | None:
    """``pod p: container c CrashLoopBackOff: <message>`` for the first stuck container."""
    for cs in _containers(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in WAITING_PROBLEMS:
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            return f"{reason}: pod {name_of(pod)} container {cs.get('name')}{detail}"
    return None


def _unschedulable(pod: Mapping[str, Any]) -> Condition | None:
    cond = condition(pod, "PodScheduled")
    if cond and cond.get("status") == "False" and cond.get("reason") == "Unschedulable":
        return Condition(
            type="PodScheduled",
            status="False",
            reason="Unschedulable",
            message=f"pod {name_of(pod)}: {cond.get('message') or 'cannot be scheduled'}",
        )
    return None


@dataclass
class _App:
    objects: dict[str, list[Object]] = field(default_factory=dict)

    def of(self, kind: str) -> list[Object]:
        return self.objects.get(kind, [])


def derive(
    objects: Mapping[str, Iterable[Object]],
    events: Callable[[str, str], list[Event]] = lambda ws, app: [],
) -> list[AppStatus]:
    """Statuses of every app found in ``objects`` (kind name -> objects: Namespace,
    Deployment, Pod, Service, PersistentVolumeClaim, Job, CronJob, Rollout, ScaledObject,
    HorizontalPodAutoscaler, WorkflowTemplate, CronWorkflow, Workflow; and AnalysisRun, which
    carry no app labels and join their Rollout by ownerReference), sorted by (workspace, app)."""
    apps: dict[AppKey, _App] = {}
    analysis: dict[str, list[Object]] = {}
    for kind, items in objects.items():
        for obj in items:
            if kind == "AnalysisRun":
                for ref in owners(obj, "Rollout"):
                    analysis.setdefault(str(ref.get("uid")), []).append(obj)
                continue
            key = app_of(obj)
            if key:
                apps.setdefault(key, _App()).objects.setdefault(kind, []).append(obj)
    out = []
    for (workspace, app), found in sorted(apps.items()):
        uids = [(r.get("metadata") or {}).get("uid") for r in found.of("Rollout")]
        runs = [run for uid in uids for run in analysis.get(str(uid), [])]
        status = app_status(workspace, app, found, runs)
        if status is not None:
            status.events = events(workspace, app)
            out.append(status)
    return out


def app_status(
    workspace: str, app: str, found: _App, analysis_runs: Iterable[Object] = ()
) -> AppStatus | None:
    deployments, cronjobs, jobs = found.of("Deployment"), found.of("CronJob"), found.of("Job")
    rollouts, crons = found.of("Rollout"), found.of("CronWorkflow")
    templates = found.of("WorkflowTemplate")
    if rollouts:  # the Rollout runs the pods (a Deployment it references is scaled to zero)
        deployments = []
    standalone = [j for j in jobs if not any(_made_by(j, c) for c in cronjobs)]
    workloads = [*rollouts, *deployments, *cronjobs, *standalone, *crons, *templates]
    parts = [rollout_part(r) for r in rollouts]
    parts += [deployment_part(d) for d in deployments]
    parts += [cronjob_part(c, jobs) for c in cronjobs]
    parts += [job_part(j) for j in standalone]
    parts += [cron_workflow_part(c, found.of("Workflow")) for c in crons]
    parts += [workflow_template_part(t) for t in templates]
    primary: list[Object] = workloads
    if not parts:
        primary = found.of("PersistentVolumeClaim")
        parts = [claim_part(claim) for claim in primary]
    if not parts:
        primary = found.of("Namespace")
        parts = [namespace_part(namespace) for namespace in primary]
    if not parts:
        primary = found.of("Service")
        parts = [Part("Running") for _ in primary]
    if not parts:
        return None  # only pods (or what only joins a workload): what made them is gone
    phase = max((p.phase for p in parts), key=lambda p: _SEVERITY.get(p, 5))
    error = next((p.error for p in parts if p.error and p.phase == phase), None)
    conditions = [c for p in parts for c in p.conditions]
    if phase not in ("Succeeded", "Failed", "Suspended"):
        pods = [p for p in found.of("Pod") if (p.get("status") or {}).get("phase") != "Succeeded"]
        problem = next(filter(None, map(pod_problem, pods)), None)
        if problem and workloads:
            phase, error = "Degraded", problem
        conditions += [c for c in map(_unschedulable, pods) if c]
    labelled = primary[0]
    scaled = found.of("ScaledObject")
    return AppStatus(
        workspace=workspace,
        app=app,
        kind=labels_of(labelled).get(KIND, labelled.get("kind", "").lower()),
        phase=phase,
        ready=sum(p.ready for p in parts),
        desired=sum(p.desired for p in parts),
        version=next((v for o in primary if (v := labels_of(o).get(VERSION))), None),
        conditions=conditions,
        error=error,
        rollout=rollout_info(rollouts[0], analysis_runs) if rollouts else None,
        scaling=scaling_info(scaled[0], found.of("HorizontalPodAutoscaler")) if scaled else None,
    )


def quantity_int(value: Any) -> int:
    """A quantity as a whole number (``"8"`` -> 8), 0 when it is not one."""
    try:
        return int(parse_quantity(str(value)) // Decimal(1))
    except (QuantityProblem, InvalidOperation):
        return 0


def gpus(allocatable: Mapping[str, Any]) -> tuple[int, str | None]:
    """Allocatable GPUs and their resource name (NVIDIA, else AMD); (0, None) without any."""
    for resource in GPU_RESOURCES:
        count = quantity_int(allocatable.get(resource, "0"))
        if count > 0:
            return count, resource
    return 0, None


def node_info(node: Mapping[str, Any], used: Mapping[str, int] | None = None) -> NodeInfo:
    status = node.get("status") or {}
    count, resource = gpus(status.get("allocatable") or {})
    name = name_of(node)
    return NodeInfo(
        name=name,
        labels=dict(labels_of(node)),
        ready=is_true(node, "Ready"),
        allocatable_gpus=count,
        gpu_resource=resource,
        used_gpus=(used or {}).get(name, 0),
    )


def _gpus_of(container: Mapping[str, Any]) -> int:
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    return sum(quantity_int(requests.get(r, limits.get(r, "0"))) for r in GPU_RESOURCES)


FINISHED = ("Succeeded", "Failed")
"""Pod phases whose GPUs are free again."""


def pod_gpus(pod: Mapping[str, Any]) -> int:
    """The GPUs a pod holds on its node, as the scheduler counts its effective request: its
    containers together, or its largest init container when that asks for more."""
    spec = pod.get("spec") or {}
    total = sum(_gpus_of(c) for c in spec.get("containers") or [])
    return max([total, *(_gpus_of(c) for c in spec.get("initContainers") or [])])


def gpu_usage(pod: Mapping[str, Any]) -> Object | None:
    """What GPU accounting keeps of a pod, whoever made it: ``{"metadata": {name, namespace,
    resourceVersion}, "node", "phase", "gpus"}`` (``gpus``: ``pod_gpus``); None for a pod that
    holds no GPU (not bound to a node, finished, or asking for none).

    The transform of the runtime's informer over every pod of the cluster (``gpu_pods``). A
    parsed pod is kilobytes to tens of kilobytes of dicts and strings (managedFields, env,
    volumes, container statuses), and a large cluster runs tens of thousands of pods, most of
    them asking for no GPU: stored whole, they would make the agent's memory grow with the
    cluster. This record (under a kilobyte), kept for GPU pods alone, makes it grow with the
    GPU pods; a whole pod lives only while its list page or watch event is read. The record
    keeps the resourceVersion (the informer's change test)."""
    node = (pod.get("spec") or {}).get("nodeName")
    phase = (pod.get("status") or {}).get("phase")
    if not node or phase in FINISHED:
        return None
    count = pod_gpus(pod)
    if not count:
        return None
    meta = pod.get("metadata") or {}
    return {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "node": str(node),
        "phase": phase,
        "gpus": count,
    }


def gpus_on_nodes(usages: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """GPUs requested per node, from ``gpu_usage`` records (which hold only the pods bound to a
    node that have not finished)."""
    used: dict[str, int] = {}
    for usage in usages:
        node = str(usage["node"])
        used[node] = used.get(node, 0) + int(usage["gpus"])
    return used


class PodEvents:
    """Recent pod state changes per app, as ``Event``s: restarts, containers stuck waiting,
    failures, scheduling problems, phase changes and deletions."""

    def __init__(self, *, keep: int = 20, clock: Callable[[], float] = time.time) -> None:
        self.keep = keep
        self.clock = clock
        self._events: dict[AppKey, deque[Event]] = {}

    def for_app(self, workspace: str, app: str) -> list[Event]:
        return list(self._events.get((workspace, app), ()))

    def _add(self, key: AppKey, kind: str, reason: str, text: str) -> None:
        queue = self._events.setdefault(key, deque(maxlen=self.keep))
        queue.append(Event(at=self.clock(), type=kind, reason=reason, message=text))

    def observe(self, old: Object | None, new: Object | None) -> None:
        pod = new or old
        key = app_of(pod) if pod else None
        if pod is None or key is None:
            return
        name = name_of(pod)
        if new is None:
            self._add(key, "Normal", "Deleted", f"pod {name} deleted")
            return
        before = {cs.get("name"): cs for cs in _containers(old or {})}
        for cs in _containers(new):
            self._container(key, name, before.get(cs.get("name")), cs, known=old is not None)
        old_phase = (old or {}).get("status", {}).get("phase")
        phase = (new.get("status") or {}).get("phase")
        if old is not None and phase != old_phase and phase:
            kind = "Warning" if phase == "Failed" else "Normal"
            self._add(key, kind, str(phase), f"pod {name} is {str(phase).lower()}")
        problem = _unschedulable(new)
        if problem and (old is None or _unschedulable(old) is None):
            self._add(key, "Warning", "FailedScheduling", problem.message or "")

    def _container(
        self,
        key: AppKey,
        pod: str,
        old: Mapping[str, Any] | None,
        new: Mapping[str, Any],
        *,
        known: bool,
    ) -> None:
        name = new.get("name")
        restarts, before = int_of(new.get("restartCount")), int_of((old or {}).get("restartCount"))
        if known and restarts > before:
            last = ((new.get("lastState") or {}).get("terminated")) or {}
            why = f": {last.get('reason')} (exit code {last.get('exitCode')})" if last else ""
            self._add(
                key,
                "Warning",
                "Restarted",
                f"container {name} of pod {pod} restarted ({restarts}){why}",
            )
        waiting = (new.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        old_reason = (((old or {}).get("state") or {}).get("waiting") or {}).get("reason")
        if reason in WAITING_PROBLEMS and reason != old_reason:
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            self._add(key, "Warning", str(reason), f"container {name} of pod {pod}{detail}")
