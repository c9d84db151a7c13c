"""Job → a run template: an Argo WorkflowTemplate where the cluster runs Argo Workflows
(``job_workflow.py``), else a Kubernetes CronJob (here; the local runtime uses this form too).

Scheduled jobs run on their cron schedule. Trigger-only jobs compile to a suspended CronJob that
serves as the run template (a run is a Job created from it), so applying never starts a run.
The job template has params filled with their defaults; a param without a default must be given
per run. A run with other values cannot be derived from substituted words, so the CronJob's
annotations keep the declared params and the raw command (``wire/jobs.py``).
"""

from __future__ import annotations

import json
from typing import Any

from ironplane.compiler.core import Build
from ironplane.compiler.kinds.job_workflow import CONCURRENCY, compile_workflow, uses_argo
from ironplane.compiler.labels import metadata, owned
from ironplane.compiler.pods import (
    env_list,
    gpu_placement,
    identity_account,
    main_container,
    mounts_block,
    pod_security,
    resources_block,
    service_account,
    template_labels,
)
from ironplane.core.quantities import parse_duration
from ironplane.spec.kinds import JobSpec
from ironplane.wire.jobs import COMMAND_ANNOTATION, PARAMS_ANNOTATION


def compile_job(build: Build) -> None:
    spec = build.spec
    assert isinstance(spec, JobSpec)
    labels = owned(spec.name, build.ctx.namespace, "job", build.version)
    for account in identity_account(spec.identity, build.ctx.namespace, labels):
        build.objects.add(account)
    if uses_argo(build):
        compile_workflow(build)
    else:
        compile_cronjob(build)


def run_annotations(spec: JobSpec) -> dict[str, str]:
    """What an agent needs to start a run with other values: the params (name, default) in
    declaration order and the command with its raw ``{{param}}`` references (compact JSON)."""
    params = [{"name": p.name, "default": p.default} for p in spec.params]
    command = {"command": list(spec.command), "args": list(spec.args) if spec.args else None}
    return {PARAMS_ANNOTATION: _json(params), COMMAND_ANNOTATION: _json(command)}


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def compile_cronjob(build: Build) -> None:
    spec = build.spec
    assert isinstance(spec, JobSpec)
    ctx = build.ctx
    ns = ctx.namespace
    labels = owned(spec.name, ns, "job", build.version)
    missing = [p.name for p in spec.params if p.default is None]
    if missing:
        build.warn(
            f"params without a default ({', '.join(missing)}) are left as {{{{name}}}} in the "
            "template; give them a value for each run",
            path=("params",),
        )
    defaults = {
        p.name: p.default if p.default is not None else f"{{{{{p.name}}}}}" for p in spec.params
    }
    volumes, mounts, devices = mounts_block(spec.mounts, ctx)
    container = main_container(
        image=spec.image,
        command=spec.resolve(list(spec.command), defaults),
        args=spec.resolve(list(spec.args), defaults) if spec.args else None,
        env=env_list(spec.env),
        resources=resources_block(spec.resources, ctx),
        mounts=mounts,
        devices=devices,
    )
    pod: dict[str, Any] = {
        **service_account(spec.identity.service_account if spec.identity else None),
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "securityContext": pod_security(spec.run_as_user),
        "containers": [container],
        **gpu_placement(spec.resources, ctx),
    }
    if volumes:
        pod["volumes"] = volumes
    job_spec: dict[str, Any] = {"backoffLimit": spec.retries}
    if spec.timeout is not None:
        job_spec["activeDeadlineSeconds"] = parse_duration(spec.timeout)
    job_spec["template"] = {
        "metadata": {"labels": template_labels(spec.name, ctx, "job")},
        "spec": pod,
    }
    cron: dict[str, Any] = {
        "schedule": spec.schedule or "@yearly",
        "suspend": spec.schedule is None,
        "concurrencyPolicy": CONCURRENCY[spec.concurrency],
        "successfulJobsHistoryLimit": 5,
        "failedJobsHistoryLimit": 5,
        "jobTemplate": {"metadata": {"labels": labels}, "spec": job_spec},
    }
    if spec.timezone:
        cron["timeZone"] = spec.timezone
    build.objects.add(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": metadata(
                spec.name, namespace=ns, labels=labels, annotations=run_annotations(spec)
            ),
            "spec": cron,
        }
    )
