"""Job → Argo WorkflowTemplate (+ CronWorkflow) with the argo-workflows add-on, else a batch
CronJob whose annotations carry what a run with other param values needs."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ironplane.compiler.documents import CompiledSet
from ironplane.core.errors import InvalidError
from ironplane.wire.jobs import (
    COMMAND_ANNOTATION,
    PARAMS_ANNOTATION,
    RUN_KIND,
    RUN_LABEL,
    check_params,
    resolve,
)
from tests.compiler.helpers import OCI, compile_text, find, pod_of

Validate = Callable[[Sequence[dict[str, Any]]], None]

ARGO = OCI.replace("enhanced: true\n", "enhanced: true\naddons: [argo-workflows, kueue]\n")
assert ARGO != OCI

JOB = """\
kind: Job
name: nightly-eval
workspace: prod
image: registry.example.com/eval:2.0
command: [python, eval.py, --dataset, "{{dataset}}"]
args: ["--split={{ split }}", --limit, "{{limit}}"]
params:
  - {name: dataset, default: mmlu, description: benchmark to run}
  - {name: split}
  - {name: limit, default: ""}
"""

RUN_LABELS = {
    "ironplane.dev/app": "nightly-eval",
    "ironplane.dev/kind": "job-run",
    "ironplane.dev/workspace": "prod",
}


def job_objects(compiled: CompiledSet) -> list[dict[str, Any]]:
    return [o for d, r in compiled.results if d.spec.kind == "Job" for o in r.bundle.objects]


def kinds(compiled: CompiledSet) -> list[str]:
    return sorted(o["kind"] for o in job_objects(compiled))


def template_of(compiled: CompiledSet) -> dict[str, Any]:
    return find(compiled, "WorkflowTemplate", "nightly-eval")


def main_of(template: dict[str, Any]) -> dict[str, Any]:
    templates = template["spec"]["templates"]
    assert [t["name"] for t in templates] == ["main"]
    return templates[0]  # type: ignore[no-any-return]


def warnings_of(compiled: CompiledSet) -> str:
    return "\n".join(w.message for w in compiled.warnings)


# --- without Argo: the batch CronJob and its run annotations ---------------------------------


def test_without_the_addon_a_job_stays_a_cronjob(validated: Validate) -> None:
    compiled = compile_text(JOB)
    validated(job_objects(compiled))
    assert kinds(compiled) == ["CronJob"]
    cron = find(compiled, "CronJob", "nightly-eval")
    assert cron["spec"]["suspend"] is True
    annotations = cron["metadata"]["annotations"]
    assert annotations[PARAMS_ANNOTATION] == (
        '[{"default":"mmlu","name":"dataset"},{"default":null,"name":"split"},'
        '{"default":"","name":"limit"}]'
    ), "declaration order, sorted keys, compact"
    assert json.loads(annotations[COMMAND_ANNOTATION]) == {
        "command": ["python", "eval.py", "--dataset", "{{dataset}}"],
        "args": ["--split={{ split }}", "--limit", "{{limit}}"],
    }
    assert "annotations" not in cron["spec"]["jobTemplate"]["metadata"]


def test_cronjob_annotations_round_trip_through_wire_resolve() -> None:
    cron = find(compile_text(JOB), "CronJob", "nightly-eval")
    annotations = cron["metadata"]["annotations"]
    declared = [(p["name"], p["default"]) for p in json.loads(annotations[PARAMS_ANNOTATION])]
    raw = json.loads(annotations[COMMAND_ANNOTATION])
    given = {"split": "test", "dataset": "gsm8k"}
    check_params(declared, given, job="nightly-eval")
    assert resolve(raw["command"], declared, given) == ["python", "eval.py", "--dataset", "gsm8k"]
    assert resolve(raw["args"], declared, given) == ["--split=test", "--limit", ""]
    with pytest.raises(InvalidError, match="-p split=VALUE"):
        check_params(declared, {}, job="nightly-eval")
    # The defaults the agent derives are the ones the job template was filled with.
    container = pod_of(cron)["containers"][0]
    assert resolve(raw["command"], declared, {}) == container["command"]
    assert container["args"] == ["--split={{split}}", "--limit", ""], "an empty default is a value"


def test_cronjob_annotations_without_params_or_args() -> None:
    text = "kind: Job\nname: cleanup\nworkspace: prod\nimage: x/y:1\ncommand: [run]\n"
    cron = find(compile_text(text), "CronJob", "cleanup")
    annotations = cron["metadata"]["annotations"]
    assert json.loads(annotations[PARAMS_ANNOTATION]) == []
    assert json.loads(annotations[COMMAND_ANNOTATION]) == {"command": ["run"], "args": None}


# --- with Argo: the WorkflowTemplate ---------------------------------------------------------


def test_trigger_only_job_is_a_workflow_template(validated: Validate) -> None:
    compiled = compile_text(JOB, platform=ARGO)
    validated(job_objects(compiled))
    assert kinds(compiled) == ["Role", "RoleBinding", "WorkflowTemplate"], "no CronJob, no cron"
    template = template_of(compiled)
    assert template["apiVersion"] == "argoproj.io/v1alpha1"
    spec = template["spec"]
    assert spec["entrypoint"] == "main"
    assert "podSpecPatch" not in spec
    container = main_of(template)["container"]
    assert container["image"] == "registry.example.com/eval:2.0"
    assert container["command"] == [
        "python",
        "eval.py",
        "--dataset",
        "{{workflow.parameters.dataset}}",
    ]
    assert container["args"] == [
        "--split={{workflow.parameters.split}}",
        "--limit",
        "{{workflow.parameters.limit}}",
    ]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert "retryStrategy" not in main_of(template), "retries: 0 retries nothing"
    assert "activeDeadlineSeconds" not in spec


def test_params_become_workflow_parameters() -> None:
    compiled = compile_text(JOB, platform=ARGO)
    params = template_of(compiled)["spec"]["arguments"]["parameters"]
    assert params == [
        {"name": "dataset", "value": "mmlu", "description": "benchmark to run"},
        {"name": "split"},
        {"name": "limit", "value": ""},
    ], "no value without a default: Argo then refuses a run that does not give one"
    text = warnings_of(compiled)
    assert "split" in text and "-p split=VALUE" in text
    assert "Scheduled runs" not in text


def test_a_job_without_params_has_no_arguments() -> None:
    text = "kind: Job\nname: cleanup\nworkspace: prod\nimage: x/y:1\ncommand: [run]\n"
    template = find(compile_text(text, platform=ARGO), "WorkflowTemplate", "cleanup")
    assert "arguments" not in template["spec"]
    assert main_of(template)["container"]["command"] == ["run"]


def test_every_run_carries_the_run_labels_but_not_managed_by() -> None:
    template = template_of(compile_text(JOB, platform=ARGO))
    assert template["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ironplane"
    assert template["metadata"]["labels"]["ironplane.dev/kind"] == "job"
    assert template["spec"]["workflowMetadata"] == {"labels": RUN_LABELS}
    assert template["spec"]["podMetadata"] == {"labels": RUN_LABELS}
    assert RUN_LABELS["ironplane.dev/kind"] == RUN_KIND


def test_finished_runs_are_kept_a_week_with_their_pods() -> None:
    spec = template_of(compile_text(JOB, platform=ARGO))["spec"]
    assert spec["ttlStrategy"] == {"secondsAfterCompletion": 7 * 24 * 3600}
    assert "podGC" not in spec, "pods (and their logs) live as long as the workflow"


def test_retries_with_backoff_and_timeout(validated: Validate) -> None:
    compiled = compile_text(JOB + "retries: 3\ntimeout: 1h30m\n", platform=ARGO)
    validated(job_objects(compiled))
    template = template_of(compiled)
    assert main_of(template)["retryStrategy"] == {
        "limit": 3,
        "retryPolicy": "Always",
        "backoff": {"duration": "10s", "factor": 2, "cap": "6m"},
    }
    assert template["spec"]["activeDeadlineSeconds"] == 5400


def test_resources_gpu_secrets_and_mounts(validated: Validate) -> None:
    extra = (
        "resources: {cpu: 8, memory: 64Gi, gpu: {count: 2, type: H100}}\n"
        "env: {HF_TOKEN: {secret: hf/token}, MODE: fast}\n"
        "mounts:\n  - {path: /data, volume: shared-data, sub_path: evals}\n"
        "  - {path: /dev/sets, volume: ro-block, read_only: true}\n"
        "run_as_user: 1234\n"
    )
    compiled = compile_text(JOB + extra, platform=ARGO)
    validated(job_objects(compiled))
    spec = template_of(compiled)["spec"]
    container = main_of(template_of(compiled))["container"]
    assert container["resources"] == {
        "limits": {"memory": "64Gi", "nvidia.com/gpu": "2"},
        "requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "2"},
    }
    assert spec["nodeSelector"] == {"node.kubernetes.io/instance-type": "BM.GPU.H100.8"}
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert container["env"] == [
        {
            "name": "HF_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "ironplane-secret-hf", "key": "token"}},
        },
        {"name": "MODE", "value": "fast"},
    ]
    assert {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]} == {
        "vol-shared-data": "shared-data",
        "vol-ro-block": "ro-block",
    }
    assert container["volumeMounts"] == [
        {"name": "vol-shared-data", "mountPath": "/data", "subPath": "evals"}
    ]
    assert container["volumeDevices"] == [{"name": "vol-ro-block", "devicePath": "/dev/sets"}]
    assert spec["securityContext"]["runAsUser"] == 1234


def test_executor_may_report_results_and_nothing_else() -> None:
    compiled = compile_text(JOB, platform=ARGO)
    spec = template_of(compiled)["spec"]
    assert spec["serviceAccountName"] == "ironplane-workload"
    assert spec["automountServiceAccountToken"] is True, "Argo's wait container needs a token"
    role = find(compiled, "Role", "nightly-eval-argo-executor")
    assert role["rules"] == [
        {
            "apiGroups": ["argoproj.io"],
            "resources": ["workflowtaskresults"],
            "verbs": ["create", "patch"],
        }
    ]
    binding = find(compiled, "RoleBinding", "nightly-eval-argo-executor")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "ironplane-workload", "namespace": "prod"}
    ]


def test_identity_runs_the_workflow_as_its_account(validated: Validate) -> None:
    text = JOB + "identity: {service_account: reader}\n"
    compiled = compile_text(text, platform=ARGO)
    validated(job_objects(compiled))
    account = find(compiled, "ServiceAccount", "reader")
    assert account["metadata"]["namespace"] == "prod"
    assert template_of(compiled)["spec"]["serviceAccountName"] == "reader"
    binding = find(compiled, "RoleBinding", "nightly-eval-argo-executor")
    assert binding["subjects"][0]["name"] == "reader"


# --- with Argo and a schedule: the CronWorkflow ----------------------------------------------


@pytest.mark.parametrize(
    ("concurrency", "policy"), [("forbid", "Forbid"), ("allow", "Allow"), ("replace", "Replace")]
)
def test_scheduled_job_adds_a_cron_workflow(
    concurrency: str, policy: str, validated: Validate
) -> None:
    text = (
        JOB.replace("  - {name: split}\n", "  - {name: split, default: test}\n")
        + f"schedule: '0 2 * * 1-5'\ntimezone: Europe/Berlin\nconcurrency: {concurrency}\n"
    )
    compiled = compile_text(text, platform=ARGO)
    validated(job_objects(compiled))
    assert kinds(compiled) == ["CronWorkflow", "Role", "RoleBinding", "WorkflowTemplate"]
    cron = find(compiled, "CronWorkflow", "nightly-eval")
    spec = cron["spec"]
    assert spec["schedules"] == ["0 2 * * 1-5"]
    assert spec["timezone"] == "Europe/Berlin"
    assert spec["concurrencyPolicy"] == policy
    assert spec["workflowSpec"] == {"workflowTemplateRef": {"name": "nightly-eval"}}
    assert spec["workflowMetadata"] == {"labels": RUN_LABELS}
    assert cron["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ironplane"
    assert not compiled.warnings


def test_schedule_without_timezone_is_utc() -> None:
    text = JOB + "schedule: '@daily'\n"
    compiled = compile_text(text, platform=ARGO)
    assert find(compiled, "CronWorkflow", "nightly-eval")["spec"]["timezone"] == "UTC"
    assert "Scheduled runs give no values" in warnings_of(compiled), "split has no default"


def test_a_run_referencing_the_template_validates(validated: Validate) -> None:
    """What the agent submits for ``ironplane jobs run nightly-eval -p split=test``: the
    parameter names it must use are the template's."""
    compiled = compile_text(JOB, platform=ARGO)
    template = template_of(compiled)
    names = [p["name"] for p in template["spec"]["arguments"]["parameters"]]
    run = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": "nightly-eval-abc12",
            "namespace": "prod",
            "labels": {**RUN_LABELS, RUN_LABEL: "nightly-eval-abc12"},
        },
        "spec": {
            "workflowTemplateRef": {"name": template["metadata"]["name"]},
            "arguments": {"parameters": [{"name": "split", "value": "test"}]},
        },
    }
    assert "split" in names
    validated([run])
