"""Job runs on Kubernetes: start one from the job's run template, stop it, read its logs.

The template is what the compiler made of the Job:

* an Argo ``WorkflowTemplate`` ``<job>`` (clusters with Argo Workflows): a run is a
  ``Workflow`` ``<run>`` with ``workflowTemplateRef: {name: <job>}`` and the given params as
  ``arguments.parameters`` (the others take the template's values);
* else a batch ``CronJob`` ``<job>`` (suspended when the job has no schedule): a run is a batch
  ``Job`` ``<run>`` made from its ``jobTemplate``, the params substituted into the main
  container's command and args from the CronJob's annotations (``wire.jobs``).

Runs carry ``ironplane.dev/workspace``, ``ironplane.dev/app: <job>``, ``ironplane.dev/kind:
job-run`` and ``ironplane.dev/run: <run>``, never ``app.kubernetes.io/managed-by``: they are not
desired state, so converge never prunes them. Params are checked against the template before
anything is created.

Stop: a Workflow gets ``spec.shutdown: Stop`` (what ``argo stop`` patches: exit handlers still
run); a batch Job is suspended (Kubernetes deletes its pods) and annotated
``ironplane.dev/stopped-at`` so it reads as Stopped. A finished run is left alone.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from ironplane.agent.kube.apply import OWNED
from ironplane.agent.kube.client import KubeApi, ResourceType
from ironplane.agent.kube.errors import HTTPError, runtime_error, status_code
from ironplane.agent.kube.logs import merged_logs
from ironplane.agent.kube.parts import labels_of, rfc3339_now
from ironplane.agent.kube.run_status import (
    FINISHED,
    STOPPED_ANNOTATION,
    job_run,
    job_run_phase,
    job_scheduled,
    workflow_run,
    workflow_run_phase,
    workflow_scheduled,
)
from ironplane.agent.runtime import APP, KIND, MANAGED_BY, WORKSPACE, RuntimeError_
from ironplane.core.errors import ConflictError, NotFoundError
from ironplane.wire.agent_protocol import Object
from ironplane.wire.jobs import (
    COMMAND_ANNOTATION,
    PARAMS_ANNOTATION,
    RUN_KIND,
    RUN_LABEL,
    Declared,
    check_params,
    resolve,
)

WORKFLOWS = ResourceType.of("argoproj.io/v1alpha1", "Workflow")
WORKFLOW_TEMPLATES = ResourceType.of("argoproj.io/v1alpha1", "WorkflowTemplate")
JOBS = ResourceType.of("batch/v1", "Job")
CRONJOBS = ResourceType.of("batch/v1", "CronJob")
PODS = ResourceType.of("v1", "Pod")
WORKFLOW_POD_LABEL = "workflows.argoproj.io/workflow"
JOB_POD_LABELS = ("batch.kubernetes.io/job-name", "job-name")
"""Kubernetes labels a Job's pods with both (only the second before 1.27)."""


def run_labels(workspace: str, job: str, run: str) -> dict[str, str]:
    return {WORKSPACE: workspace, APP: job, KIND: RUN_KIND, RUN_LABEL: run}


def _owned(obj: Mapping[str, Any], workspace: str, job: str) -> bool:
    """Applied by Ironplane for this job (a template of the same name made by someone else is
    not ours to run)."""
    labels = labels_of(obj)
    wanted = {**OWNED, WORKSPACE: workspace, APP: job}
    return all(labels.get(k) == v for k, v in wanted.items())


def template_params(template: Mapping[str, Any]) -> Declared:
    """(name, default) of a WorkflowTemplate's ``spec.arguments.parameters`` (``value``, else
    ``default``; None: the param must be given)."""
    params = ((template.get("spec") or {}).get("arguments") or {}).get("parameters") or []
    out = []
    for param in params:
        if isinstance(param, Mapping) and param.get("name"):
            value = param.get("value", param.get("default"))
            out.append((str(param["name"]), None if value is None else str(value)))
    return out


def workflow_for(
    workspace: str, job: str, run: str, declared: Declared, params: Mapping[str, str]
) -> Object:
    """The Workflow of run ``run``: the template by reference, the given params in the
    template's order."""
    given = [{"name": name, "value": params[name]} for name, _ in declared if name in params]
    return {
        "apiVersion": WORKFLOWS.api_version,
        "kind": "Workflow",
        "metadata": {
            "name": run,
            "namespace": workspace,
            "labels": run_labels(workspace, job, run),
        },
        "spec": {"workflowTemplateRef": {"name": job}, "arguments": {"parameters": given}},
    }


def _annotation(cronjob: Mapping[str, Any], key: str) -> Any:
    raw = ((cronjob.get("metadata") or {}).get("annotations") or {}).get(key)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        name = (cronjob.get("metadata") or {}).get("name")
        raise RuntimeError_(
            f"the annotation {key} of CronJob {name} is not JSON ({exc}); apply the job again"
        ) from exc


def cronjob_params(cronjob: Mapping[str, Any]) -> Declared:
    params = _annotation(cronjob, PARAMS_ANNOTATION) or []
    return [
        (str(p["name"]), None if p.get("default") is None else str(p["default"]))
        for p in params
        if isinstance(p, Mapping) and p.get("name")
    ]


def _main_container(pod_spec: Mapping[str, Any]) -> dict[str, Any] | None:
    containers = [c for c in pod_spec.get("containers") or [] if isinstance(c, dict)]
    return next((c for c in containers if c.get("name") == "main"), None) or next(
        iter(containers), None
    )


RUN_TTL_S = 7 * 24 * 3600
"""How long a finished batch-Job run (and its pods' logs) stays: as long as a Workflow's."""


def job_for(
    cronjob: Mapping[str, Any], workspace: str, job: str, run: str, params: Mapping[str, str]
) -> Object:
    """The batch Job of run ``run``, from the CronJob's ``jobTemplate``: its labels without
    the managed-by label (a queue label stays) plus the run labels; the main container's
    command and args from the command annotation with the params substituted."""
    declared = cronjob_params(cronjob)
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    template_meta = template.get("metadata") or {}
    spec = copy.deepcopy(template.get("spec") or {})
    labels = {k: v for k, v in (template_meta.get("labels") or {}).items() if k != MANAGED_BY}
    labels.update(run_labels(workspace, job, run))
    pod = spec.setdefault("template", {})
    pod.setdefault("metadata", {}).setdefault("labels", {})[RUN_LABEL] = run
    command = _annotation(cronjob, COMMAND_ANNOTATION)
    main = _main_container(pod.get("spec") or {})
    if isinstance(command, Mapping) and main is not None:
        main["command"] = resolve(command.get("command") or [], declared, params)
        if command.get("args") is None:
            main.pop("args", None)
        else:
            main["args"] = resolve(command["args"], declared, params)
    # Made from the template, not by the CronJob: its history limits do not reach it, so the
    # TTL controller removes it (and its pods) a while after it finished.
    spec.setdefault("ttlSecondsAfterFinished", RUN_TTL_S)
    meta: Object = {"name": run, "namespace": workspace, "labels": labels}
    if template_meta.get("annotations"):
        meta["annotations"] = dict(template_meta["annotations"])
    return {"apiVersion": JOBS.api_version, "kind": "Job", "metadata": meta, "spec": spec}


class JobRuns:
    """``run_job``, ``stop_run`` and ``run_logs`` of ``KubeRuntime``."""

    def __init__(self, api: KubeApi, field_manager: str) -> None:
        self.api = api
        self.manager = f"{field_manager}-runs"

    async def _get(self, rt: ResourceType, name: str, namespace: str) -> Object | None:
        """The object, None when absent or when its kind is not served."""
        try:
            return await self.api.get(rt, name, namespace)
        except HTTPError as exc:
            what = {"kind": rt.kind, "metadata": {"namespace": namespace, "name": name}}
            raise runtime_error("read", what, exc) from exc

    async def _create(self, obj: Object, job: str, run: str) -> None:
        try:
            await self.api.create(obj, field_manager=self.manager)
        except HTTPError as exc:
            if status_code(exc) == 409:
                raise ConflictError(
                    f"job {job!r} already has a run named {run!r}: choose another name"
                ) from exc
            raise runtime_error("create", obj, exc) from exc

    async def run_job(self, workspace: str, job: str, run: str, params: dict[str, str]) -> None:
        template = await self._get(WORKFLOW_TEMPLATES, job, workspace)
        if template is not None and _owned(template, workspace, job):
            declared = template_params(template)
            check_params(declared, params, job=job)
            await self._create(workflow_for(workspace, job, run, declared, params), job, run)
            return
        cronjob = await self._get(CRONJOBS, job, workspace)
        if cronjob is not None and _owned(cronjob, workspace, job):
            check_params(cronjob_params(cronjob), params, job=job)
            await self._create(job_for(cronjob, workspace, job, run, params), job, run)
            return
        raise NotFoundError(
            f"job {job!r} in workspace {workspace!r} has no run template (no WorkflowTemplate "
            f"or CronJob {job!r} applied by Ironplane): apply the job first"
        )

    async def _find(self, workspace: str, job: str, run: str) -> tuple[ResourceType, Object]:
        """The run (a Workflow, else a batch Job) of ``job``; NotFoundError otherwise."""
        workflow = await self._get(WORKFLOWS, run, workspace)
        if workflow is not None and _is_run(workflow) and workflow_run(workflow).job == job:
            return WORKFLOWS, workflow
        batch = await self._get(JOBS, run, workspace)
        if batch is not None and _is_run(batch) and job_run(batch).job == job:
            return JOBS, batch
        raise NotFoundError(f"job {job!r} in workspace {workspace!r} has no run {run!r}")

    async def stop_run(self, workspace: str, job: str, run: str) -> None:
        rt, obj = await self._find(workspace, job, run)
        if rt is WORKFLOWS:
            if workflow_run_phase(obj) in FINISHED or (obj.get("spec") or {}).get("shutdown"):
                return
            patch: Object = {"spec": {"shutdown": "Stop"}}
        else:
            if job_run_phase(obj)[0] in FINISHED:
                return
            # A deadline already passed ends a started Job at once (its pods are killed, it
            # fails with DeadlineExceeded, and its TTL then applies); one not started yet (a
            # queue holds it) is suspended too, and dies at once should it be resumed.
            spec: Object = {"activeDeadlineSeconds": 1}
            if not (obj.get("status") or {}).get("startTime"):
                spec["suspend"] = True
            patch = {
                "metadata": {"annotations": {STOPPED_ANNOTATION: rfc3339_now()}},
                "spec": spec,
            }
        try:
            await self.api.merge_patch(rt, run, workspace, patch, field_manager=self.manager)
        except HTTPError as exc:
            if status_code(exc) == 404:
                raise NotFoundError(f"run {run!r} of job {job!r} is gone") from exc
            raise runtime_error("stop", obj, exc) from exc

    async def run_logs(self, workspace: str, job: str, run: str, lines: int) -> list[str]:
        rt, _ = await self._find(workspace, job, run)
        keys = (WORKFLOW_POD_LABEL,) if rt is WORKFLOWS else JOB_POD_LABELS
        pods: list[Object] = []
        for key in keys:
            try:
                pods, _ = await self.api.list_objects(PODS, labels={key: run}, namespace=workspace)
            except HTTPError as exc:
                what = {"kind": "Pod", "metadata": {"namespace": workspace, "name": run}}
                raise runtime_error("list", what, exc) from exc
            if pods:
                break
        if not pods:
            return [f"(run {run} has no pods: it has not started, or its pods were removed)"]
        return await merged_logs(self.api, pods, lines)


def _is_run(obj: Mapping[str, Any]) -> bool:
    """A run: labelled as one, or made by a schedule (CronWorkflow or CronJob)."""
    if labels_of(obj).get(KIND) == RUN_KIND:
        return True
    return workflow_scheduled(obj) if obj.get("kind") == "Workflow" else job_scheduled(obj)
