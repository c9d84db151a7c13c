"""Job → a Kubernetes CronJob.

Scheduled jobs run on their cron schedule. Trigger-only jobs compile to a suspended CronJob that
serves as the run template (a run is a Job created from it), so applying never starts a run.
Params are filled with their defaults; a param without a default must be given per run.
"""

from __future__ import annotations

from typing import Any

from ironplane.compiler.core import Build
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

_CONCURRENCY = {"forbid": "Forbid", "allow": "Allow", "replace": "Replace"}


def compile_job(build: Build) -> None:
    spec = build.spec
    assert isinstance(spec, JobSpec)
    ctx = build.ctx
    ns = ctx.namespace
    labels = owned(spec.name, ns, "job", build.version)
    for account in identity_account(spec.identity, ns, labels):
        build.objects.add(account)
    missing = [p.name for p in spec.params if p.default is None]
    if missing:
        build.warn(
            f"params without a default ({', '.join(missing)}) are left as {{{{name}}}} in the "
            "template; give them a value for each run",
            path=("params",),
        )
    defaults = {p.name: p.default or f"{{{{{p.name}}}}}" for p in spec.params}
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
        "concurrencyPolicy": _CONCURRENCY[spec.concurrency],
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
            "metadata": metadata(spec.name, namespace=ns, labels=labels),
            "spec": cron,
        }
    )
