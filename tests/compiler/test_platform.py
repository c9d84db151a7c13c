"""Workspace → Namespace with Pod Security labels; Volume → PVC per type; Job → CronJob."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tests.compiler.helpers import OCI, compile_text, find, pod_of

Validate = Callable[[Sequence[dict[str, Any]]], None]
PSA = "pod-security.kubernetes.io/"


@pytest.mark.parametrize(
    ("workspace", "level"), [("prod", "restricted"), ("training", "privileged")]
)
def test_namespace_pod_security(workspace: str, level: str, validated: Validate) -> None:
    compiled = compile_text("")
    validated(compiled.bundle.objects)
    ns = find(compiled, "Namespace", workspace)
    for mode in ("enforce", "audit", "warn"):
        assert ns["metadata"]["labels"][PSA + mode] == level
    sa = find(compiled, "ServiceAccount", "ironplane-workload")
    assert sa["automountServiceAccountToken"] is False


@pytest.mark.parametrize(
    ("vtype", "mode", "volume_mode", "storage_class"),
    [
        ("fss", "ReadWriteMany", "Filesystem", "oci-fss"),
        ("block", "ReadOnlyMany", "Block", "oci-bv"),
        ("local-nvme", "ReadWriteOnce", "Filesystem", "local-nvme"),
    ],
)
def test_volume_access_modes(
    vtype: str, mode: str, volume_mode: str, storage_class: str, validated: Validate
) -> None:
    text = f"kind: Volume\nname: vol-x\nworkspace: prod\ntype: {vtype}\nsize: 2Ti\n"
    compiled = compile_text(text)
    pvc = find(compiled, "PersistentVolumeClaim", "vol-x")
    validated([pvc])
    assert pvc["spec"]["accessModes"] == [mode]
    assert pvc["spec"]["volumeMode"] == volume_mode
    assert pvc["spec"]["resources"] == {"requests": {"storage": "2Ti"}}
    assert pvc["spec"]["storageClassName"] == storage_class


def test_volume_storage_class_override_and_generic_default() -> None:
    text = "kind: Volume\nname: vol-x\nworkspace: prod\ntype: fss\nsize: 1Gi\nstorage_class: gold\n"
    assert (
        find(compile_text(text), "PersistentVolumeClaim", "vol-x")["spec"]["storageClassName"]
        == "gold"
    )
    generic = "kind: Workspace\nname: prod\n---\n"
    plain = text.replace("storage_class: gold\n", "")
    pvc = find(compile_text(plain, platform=generic), "PersistentVolumeClaim", "vol-x")
    assert "storageClassName" not in pvc["spec"], "generic clusters use their default class"


JOB = """\
kind: Job
name: nightly-eval
workspace: prod
image: registry.example.com/eval:2.0
command: [python, eval.py, --dataset, "{{dataset}}", --split, "{{split}}"]
params:
  - {name: dataset, default: mmlu}
  - {name: split}
retries: 2
timeout: 2h
resources: {cpu: 4, memory: 16Gi}
"""


def test_trigger_only_job_is_a_suspended_template(validated: Validate) -> None:
    compiled = compile_text(JOB)
    cron = find(compiled, "CronJob", "nightly-eval")
    validated([cron])
    assert cron["spec"]["suspend"] is True, "applying must never start a run"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 2
    assert job["activeDeadlineSeconds"] == 7200
    assert pod_of(cron)["restartPolicy"] == "Never"
    assert pod_of(cron)["containers"][0]["command"] == [
        "python",
        "eval.py",
        "--dataset",
        "mmlu",
        "--split",
        "{{split}}",
    ]
    assert any("split" in w.message for w in compiled.warnings)


def test_scheduled_job(validated: Validate) -> None:
    text = JOB + "schedule: '0 2 * * *'\ntimezone: Europe/Berlin\nconcurrency: replace\n"
    cron = find(compile_text(text), "CronJob", "nightly-eval")
    validated([cron])
    assert cron["spec"]["schedule"] == "0 2 * * *"
    assert cron["spec"]["suspend"] is False
    assert cron["spec"]["timeZone"] == "Europe/Berlin"
    assert cron["spec"]["concurrencyPolicy"] == "Replace"


def test_objects_from_two_apps_cannot_collide() -> None:
    text = (
        "kind: Service\nname: web\nworkspace: prod\nimage: x/y:1\n---\n"
        "kind: Model\nname: web\nworkspace: prod\nengine: vllm\nmodel: org/m\n"
    )
    from ironplane.core.errors import SpecError

    with pytest.raises(SpecError, match="also produced by Service 'web'"):
        compile_text(text)


def test_platform_only_bundle_hash_is_stable() -> None:
    assert compile_text("").bundle.hash == compile_text("").bundle.hash
    assert (
        compile_text("").bundle.hash
        != compile_text("", platform=OCI.replace("100Gi", "200Gi")).bundle.hash
    )
