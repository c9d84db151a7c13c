"""Job → an Argo ``WorkflowTemplate`` (and a ``CronWorkflow`` for a schedule).

Used when the cluster runs the ``argo-workflows`` add-on. The template is the run template: a run
is a ``Workflow`` with ``workflowTemplateRef`` to it and its own ``arguments``, so other param
values need no recompile, and Argo gives each run retries with backoff, a status and logs. The
CronWorkflow references the template instead of copying it, so a scheduled run and a run started
by hand are the same workflow.

Every Workflow made from the template carries ``spec.workflowMetadata`` labels (workspace, app,
``ironplane.dev/kind: job-run``) but never the managed-by label: runs are not desired state, and
the agent prunes what carries it.

Argo's executor (the ``wait`` container in every workflow pod) reports results by creating
``WorkflowTaskResult`` objects with the pod's service account token. The pod therefore mounts its
token, and a Role and RoleBinding ``<job>-argo-executor`` allow exactly that account to create and
patch WorkflowTaskResults in the namespace, nothing else.
"""

from __future__ import annotations

from typing import Any

from ironplane.compiler.core import Build
from ironplane.compiler.labels import APP, KIND, WORKSPACE, metadata, owned
from ironplane.compiler.pods import (
    WORKLOAD_SA,
    env_list,
    gpu_placement,
    main_container,
    mounts_block,
    pod_security,
    resources_block,
)
from ironplane.core.quantities import parse_duration
from ironplane.spec.kinds import JobSpec
from ironplane.wire.jobs import PARAM_REF, RUN_KIND

ADDON = "argo-workflows"
API_VERSION = "argoproj.io/v1alpha1"
ENTRYPOINT = "main"
CONCURRENCY = {"forbid": "Forbid", "allow": "Allow", "replace": "Replace"}
KEEP_FINISHED_S = 7 * 24 * 3600
"""Finished runs (and, through owner references, their pods and logs) are kept a week."""
HISTORY = 5
"""Scheduled runs kept per outcome, as the batch CronJob keeps them."""
RETRY_POLICY = "Always"
"""Retry errors (pod deleted, node lost or preempted) as well as failures: the batch Job's
``backoffLimit`` counts both, and a lost GPU node is the usual reason a batch run dies."""
BACKOFF = {"duration": "10s", "factor": 2, "cap": "6m"}
"""The batch Job controller's back-off: 10 s, doubling, at most 6 minutes."""


def uses_argo(build: Build) -> bool:
    return ADDON in build.ctx.cluster.addons


def executor_role(job: str) -> str:
    """Name of the Role and RoleBinding that let the job's pods report to Argo."""
    return f"{job}-argo-executor"


def run_labels(job: str, namespace: str) -> dict[str, str]:
    """Labels of every run of ``job``: what the agent lists runs by (no managed-by label)."""
    return {APP: job, KIND: RUN_KIND, WORKSPACE: namespace}


def to_argo(words: list[str]) -> list[str]:
    """``{{param}}`` becomes Argo's ``{{workflow.parameters.param}}``."""
    return [
        PARAM_REF.sub(lambda m: f"{{{{workflow.parameters.{m.group(1)}}}}}", word) for word in words
    ]


def parameters(spec: JobSpec) -> list[dict[str, str]]:
    """One workflow parameter per param, in declaration order; without a default no ``value``,
    so Argo refuses a run that does not give one."""
    out: list[dict[str, str]] = []
    for param in spec.params:
        entry = {"name": param.name}
        if param.default is not None:
            entry["value"] = param.default
        if param.description:
            entry["description"] = param.description
        out.append(entry)
    return out


def compile_workflow(build: Build) -> None:
    spec = build.spec
    assert isinstance(spec, JobSpec)
    ctx = build.ctx
    ns = ctx.namespace
    labels = owned(spec.name, ns, "job", build.version)
    account = spec.identity.service_account if spec.identity else WORKLOAD_SA
    missing = [p.name for p in spec.params if p.default is None]
    if missing:
        scheduled = (
            " Scheduled runs give no values and fail until they have one." if spec.schedule else ""
        )
        build.warn(
            f"params without a default ({', '.join(missing)}) must be given for each run "
            f"(ironplane jobs run {spec.name} -p {missing[0]}=VALUE).{scheduled}",
            path=("params",),
        )
    volumes, mounts, devices = mounts_block(spec.mounts, ctx)
    template: dict[str, Any] = {"name": ENTRYPOINT}
    if spec.retries:
        template["retryStrategy"] = {
            "limit": spec.retries,
            "retryPolicy": RETRY_POLICY,
            "backoff": dict(BACKOFF),
        }
    template["container"] = main_container(
        image=spec.image,
        command=to_argo(list(spec.command)),
        args=to_argo(list(spec.args)) if spec.args else None,
        env=env_list(spec.env),
        resources=resources_block(spec.resources, ctx),
        mounts=mounts,
        devices=devices,
    )
    wf: dict[str, Any] = {"entrypoint": ENTRYPOINT}
    params = parameters(spec)
    if params:
        wf["arguments"] = {"parameters": params}
    wf["serviceAccountName"] = account
    wf["automountServiceAccountToken"] = True
    wf["securityContext"] = pod_security(spec.run_as_user)
    wf.update(gpu_placement(spec.resources, ctx))
    if volumes:
        wf["volumes"] = volumes
    if spec.timeout is not None:
        wf["activeDeadlineSeconds"] = parse_duration(spec.timeout)
    wf["ttlStrategy"] = {"secondsAfterCompletion": KEEP_FINISHED_S}
    run = dict(sorted(run_labels(spec.name, ns).items()))
    wf["workflowMetadata"] = {"labels": run}
    wf["podMetadata"] = {"labels": dict(run)}
    wf["templates"] = [template]
    _executor_access(build, account, labels)
    build.objects.add(
        {
            "apiVersion": API_VERSION,
            "kind": "WorkflowTemplate",
            "metadata": metadata(spec.name, namespace=ns, labels=labels),
            "spec": wf,
        }
    )
    if spec.schedule is None:
        return
    build.objects.add(
        {
            "apiVersion": API_VERSION,
            "kind": "CronWorkflow",
            "metadata": metadata(spec.name, namespace=ns, labels=labels),
            "spec": {
                "schedules": [spec.schedule],
                "timezone": spec.timezone or "UTC",
                "concurrencyPolicy": CONCURRENCY[spec.concurrency],
                "successfulJobsHistoryLimit": HISTORY,
                "failedJobsHistoryLimit": HISTORY,
                "workflowMetadata": {"labels": dict(run)},
                "workflowSpec": {"workflowTemplateRef": {"name": spec.name}},
            },
        }
    )


def _executor_access(build: Build, account: str, labels: dict[str, str]) -> None:
    ns = build.ctx.namespace
    name = executor_role(build.spec.name)
    build.objects.add(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": metadata(name, namespace=ns, labels=labels),
            "rules": [
                {
                    "apiGroups": ["argoproj.io"],
                    "resources": ["workflowtaskresults"],
                    "verbs": ["create", "patch"],
                }
            ],
        }
    )
    build.objects.add(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": metadata(name, namespace=ns, labels=labels),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}],
        }
    )
