"""Malformed documents: each fails with the file, line, field path, what was given and allowed.

Every case runs through the real CLI (``ironplane render``) and must exit with code 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_cli

PLATFORM = """\
kind: Cluster
name: oke-prod
provider: oci
region: us-ashburn-1
enhanced: false
---
kind: Workspace
name: prod
cluster: oke-prod
gpu: true
---
"""
PLATFORM_LINES = PLATFORM.count("\n")


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    line: int
    """Line of the offending field, counted in ``text``."""
    path: str
    message: str
    given: str | None = None
    allowed: str | None = None
    hint: str | None = None
    platform: bool = False


SERVICE = """\
kind: Service
name: chat-api
workspace: prod
image: registry.example.com/chat-api:1.4.2
"""

CASES = [
    Case(
        "control-character",
        SERVICE + "image: web\x12\n",
        5,
        "(document)",
        "YAML syntax error: control characters are not allowed (character 0x12)",
        hint="remove the control character",
    ),
    Case(
        "unknown-field",
        SERVICE + "replica: 2\n",
        5,
        "replica",
        "unknown field 'replica'",
        allowed="replicas",
        hint="did you mean 'replicas'?",
    ),
    Case(
        "nested-unknown-field",
        SERVICE + "resources: {cpu: 1, memroy: 1Gi}\n",
        5,
        "resources.memroy",
        "unknown field",
        allowed="ephemeral_storage",
        hint="'memory'",
    ),
    Case(
        "wrong-type-replicas",
        SERVICE + "replicas: two\n",
        5,
        "replicas",
        "expected an integer",
        given="'two'",
    ),
    Case(
        "wrong-type-ports", SERVICE + "ports: 8000\n", 5, "ports", "expected a list", given="8000"
    ),
    Case(
        "port-out-of-range",
        SERVICE + "ports: [{port: 70000}]\n",
        5,
        "ports[0].port",
        "less than or equal to 65535",
        given="70000",
    ),
    Case(
        "bad-protocol",
        SERVICE + "ports:\n  - port: 80\n    protocol: htp\n",
        7,
        "ports[0].protocol",
        "not one of the allowed values",
        given="'htp'",
        allowed="http, grpc, tcp",
        hint="'http'",
    ),
    Case(
        "bad-name-upper",
        "kind: Service\nname: Chat_API\nworkspace: prod\nimage: x/y:1\n",
        2,
        "name",
        "invalid name",
        given="'Chat_API'",
        allowed="DNS-1123",
        hint="'chat-api'",
    ),
    Case(
        "bad-name-short",
        "kind: Volume\nname: ab\nworkspace: prod\ntype: fss\nsize: 1Gi\n",
        2,
        "name",
        "3 to 40 characters",
        given="'ab'",
    ),
    Case(
        "bad-quantity-memory",
        SERVICE + "resources:\n  memory: 4GB\n",
        6,
        "resources.memory",
        "not a quantity",
        given="'4GB'",
        allowed="Kubernetes quantity",
        hint="4Gi",
    ),
    Case(
        "bad-quantity-size",
        "kind: Volume\nname: data\nworkspace: prod\ntype: fss\nsize: lots\n",
        5,
        "size",
        "not a quantity",
        given="'lots'",
        allowed="512Mi",
    ),
    Case(
        "bad-cpu",
        SERVICE + "resources: {cpu: -1}\n",
        5,
        "resources.cpu",
        "greater than zero",
        given="-1",
    ),
    Case(
        "bad-duration",
        SERVICE + "ports: [{port: 80}]\nhealth:\n  liveness: {port: 80, initial_delay: 30}\n",
        7,
        "health.liveness.initial_delay",
        "expected a duration",
        given="30",
        allowed="90s",
        hint="30s",
    ),
    Case(
        "missing-image",
        "kind: Service\nname: chat-api\nworkspace: prod\n",
        1,
        "image",
        "required field 'image' is missing",
    ),
    Case(
        "unknown-kind",
        "kind: Servce\nname: chat-api\n",
        1,
        "kind",
        "unknown kind",
        given="'Servce'",
        allowed="Service",
        hint="'Service'",
    ),
    Case(
        "kubernetes-manifest",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
        2,
        "kind",
        "unknown kind",
        hint="ironplane validate",
    ),
    Case(
        "bad-volume-type",
        "kind: Volume\nname: data\nworkspace: prod\ntype: nfs\nsize: 1Gi\n",
        4,
        "type",
        "not one of the allowed values",
        given="'nfs'",
        allowed="fss, block, local-nvme",
    ),
    Case(
        "bad-secret-ref",
        SERVICE + "env:\n  KEY: {secret: openai-key}\n",
        6,
        "env",
        "needs a group and a key",
        allowed="group/key",
    ),
    Case(
        "secret-extra-field",
        SERVICE + "env:\n  KEY: {secret: llm/key, value: x}\n",
        6,
        "env",
        "takes only 'secret'",
        allowed="{secret: group/key}",
    ),
    Case(
        "replicas-and-autoscaling",
        SERVICE + "replicas: 2\nautoscaling: {max: 4, target: 10}\n",
        1,
        "(document)",
        "either replicas or autoscaling",
    ),
    Case(
        "scale-to-zero-needs-min-0",
        SERVICE + "autoscaling: {min: 1, max: 3, target: 5, scale_to_zero_after: 15m}\n",
        5,
        "autoscaling",
        "scale_to_zero_after needs min: 0",
    ),
    Case(
        "bad-weights-scheme",
        "kind: Model\nname: llm\nworkspace: prod\nengine: vllm\nmodel: x/y\n"
        "weights: {source: 's3://bucket/x'}\n",
        6,
        "weights",
        "unsupported weights source",
        allowed="oci://",
    ),
    Case(
        "bad-engine",
        "kind: Model\nname: llm\nworkspace: prod\nengine: vlm\nmodel: x/y\n",
        4,
        "engine",
        "not one of the allowed values",
        given="'vlm'",
        hint="'vllm'",
    ),
    Case(
        "bad-cron",
        "kind: Job\nname: nightly\nworkspace: prod\nimage: x/y:1\ncommand: [a]\n"
        "schedule: 'every night'\n",
        6,
        "schedule",
        "expected 5 fields",
        allowed="0 2 * * *",
    ),
    Case(
        "undeclared-param",
        "kind: Job\nname: nightly\nworkspace: prod\nimage: x/y:1\ncommand: [eval, '{{dataset}}']\n",
        1,
        "(document)",
        "{{dataset}}",
        allowed="no params declared",
    ),
    Case(
        "duplicate-key",
        SERVICE + "replicas: 1\nreplicas: 2\n",
        6,
        "(document)",
        "duplicate key 'replicas' (first at line 5)",
    ),
    Case("yaml-syntax", SERVICE + "env: {A: 1\n", 6, "(document)", "YAML syntax error"),
    Case(
        "rdma-not-privileged",
        "kind: TrainingJob\nname: llama-ft\nworkspace: prod\nframework: pytorch\nimage: x/t:1\n"
        "command: [torchrun]\nnodes: 2\nnetwork:\n  rdma: true\n",
        9,
        "network.rdma",
        "RDMA needs a privileged workspace; workspace 'prod' is not",
        given="true",
        allowed="privileged: true",
        platform=True,
    ),
    Case(
        "identity-not-enhanced",
        SERVICE + "identity: {service_account: chat}\n",
        5,
        "identity",
        "needs an Enhanced cluster; cluster 'oke-prod' is not enhanced",
        allowed="enhanced: true",
        platform=True,
    ),
    Case(
        "gpu-unknown-type",
        SERVICE + "resources: {gpu: {count: 1, type: H10}}\n",
        5,
        "resources.gpu.type",
        "unknown GPU type",
        given="'H10'",
        allowed="H100",
        hint="did you mean",
        platform=True,
    ),
    Case(
        "mount-unknown-volume",
        SERVICE + "mounts: [{path: /data, volume: shared-dta}]\n",
        5,
        "mounts[0].volume",
        "no Volume 'shared-dta' in workspace 'prod'",
        hint="add the Volume document",
        platform=True,
    ),
    Case(
        "no-workspace",
        "kind: Volume\nname: data\ntype: fss\nsize: 1Gi\n",
        1,
        "workspace",
        "no workspace given",
        hint="--workspace",
    ),
    Case(
        "document-not-mapping",
        "- just\n- a list\n",
        1,
        "(document)",
        "must be a mapping, not a list",
    ),
    Case(
        "autoscaling-bad-start-cron",
        SERVICE + "autoscaling: {max: 3, metric: cron, start: 'at eight', end: '0 20 * * *'}\n",
        5,
        "autoscaling",
        "start 'at eight': expected 5 fields",
        allowed="0 8 * * 1-5",
    ),
    Case(
        "autoscaling-bad-end-cron",
        SERVICE + "autoscaling:\n  max: 3\n  metric: cron\n  start: '0 8 * * *'\n  end: '0 25'\n",
        6,  # a block mapping starts on its first key
        "autoscaling",
        "end '0 25': expected 5 fields",
    ),
    Case(
        "autoscaling-min-over-max",
        SERVICE + "autoscaling: {min: 5, max: 3, target: 10}\n",
        5,
        "autoscaling",
        "min (5) is greater than max (3)",
    ),
    Case(
        "autoscaling-queue-without-query",
        SERVICE + "autoscaling: {max: 3, metric: queue, target: 10}\n",
        5,
        "autoscaling",
        "the queue metric needs a query",
        hint="query: sum(",
    ),
    Case(
        "autoscaling-cpu-without-cpu-request",
        SERVICE + "autoscaling:\n  max: 3\n  metric: cpu\n  target: 70\n",
        7,
        "autoscaling.metric",
        "the pod requests no CPU",
        given="cpu",
        hint="set resources.cpu",
    ),
    Case(
        "autoscaling-cpu-fractional-target",
        SERVICE + "resources: {cpu: 1}\nautoscaling:\n  max: 3\n  metric: cpu\n  target: 62.5\n",
        9,
        "autoscaling.target",
        "whole percent",
        given="62.5",
    ),
    Case(
        "autoscaling-model-queue-from-zero",
        "kind: Model\nname: llm\nworkspace: prod\nengine: vllm\nmodel: x/y\n"
        "autoscaling:\n  min: 0\n  max: 3\n  metric: queue\n  target: 4\n",
        7,
        "autoscaling.min",
        "vllm:num_requests_waiting",
        hint="scale on rps",
    ),
    Case(
        "autoscaling-cooldown-over-an-hour",
        SERVICE + "autoscaling:\n  max: 3\n  target: 10\n  cooldown: 90m\n",
        8,
        "autoscaling.cooldown",
        "at most 1h",
        given="90m",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_document(case: Case, tmp_path: Path) -> None:
    text = (PLATFORM + case.text) if case.platform else case.text
    line = case.line + (PLATFORM_LINES if case.platform else 0)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, out, err = run_cli(["render", "-f", str(path)])
    assert code == 2, err
    assert out == "", "nothing may be printed on stdout when rendering fails"
    located = [ln for ln in err.splitlines() if ln.startswith(f"{path}:{line}:")]
    assert located, f"no diagnostic at {path}:{line}:\n{err}"
    head = located[0]
    assert f": {case.path}: " in head, head
    assert case.message in head, head
    block = err[err.index(head) :]
    for label, value in (("given", case.given), ("allowed", case.allowed), ("hint", case.hint)):
        if value is not None:
            field_line = next((ln for ln in block.splitlines()[1:4] if f"{label}:" in ln), "")
            assert value in field_line, f"{label} should mention {value!r}:\n{block}"


def test_enough_bad_cases() -> None:
    assert len(CASES) >= 20


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(SERVICE + "replica: 2\n---\n" + "kind: Volume\nname: x\ntype: fss\nsize: 1G\n")
    code, _, err = run_cli(["render", "-f", str(path)])
    assert code == 2
    assert "error: 2 problems in the specs:" in err
    assert f"{path}:5:1:" in err and f"{path}:8:7:" in err


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = run_cli(["render", "-f", str(tmp_path / "nope.yaml")])
    assert code == 2
    assert "nope.yaml: no such file" in err


JOB = "kind: Job\nname: nightly\nworkspace: prod\nimage: x/y:1\ncommand: [a]\n"

JOB_CASES = [
    Case(
        "cron-with-seconds",
        JOB + "schedule: '0 0 2 * * *'\n",
        6,
        "schedule",
        "schedule '0 0 2 * * *': expected 5 fields",
        allowed="@daily",
    ),
    Case(
        "bad-concurrency",
        JOB + "concurrency: skip\n",
        6,
        "concurrency",
        "not one of the allowed values",
        given="'skip'",
        allowed="forbid, allow, replace",
    ),
    Case("too-many-retries", JOB + "retries: 11\n", 6, "retries", "less than or equal to 10"),
    Case(
        "bad-param-name",
        JOB + "params: [{name: 1st}]\n",
        6,
        "params[0].name",
        "does not have the expected form",
        given="'1st'",
    ),
]


@pytest.mark.parametrize("case", JOB_CASES, ids=lambda c: c.id)
def test_bad_job_document(case: Case, tmp_path: Path) -> None:
    """Job inputs the scheduler (Kubernetes or Argo) would refuse only after apply."""
    test_bad_document(case, tmp_path)


EXPOSED = "ports: [{port: 8000, expose: {host: chat.example.com}}]\n"

ROLLOUT_CASES = [
    Case(
        "canary-without-exposed-port",
        SERVICE + "ports: [{port: 8000}]\nrollout: {strategy: canary}\n",
        6,
        "rollout.strategy",
        "the canary strategy shifts traffic at the ingress and needs an exposed port",
        hint="add expose: {host: ...} to a port, or use strategy: blue_green",
    ),
    Case(
        "canary-weights-not-increasing",
        SERVICE + EXPOSED + "rollout:\n  strategy: canary\n  steps: [{weight: 50}, {weight: 20}]\n",
        7,  # a block mapping starts on its first key
        "rollout",
        "canary weights must increase from step to step (got [50, 20])",
        hint="steps: [{weight: 10, pause: 2m}, {weight: 50, pause: 5m}]",
    ),
    Case(
        "canary-weights-repeated",
        SERVICE + EXPOSED + "rollout:\n  strategy: canary\n  steps: [{weight: 30}, {weight: 30}]\n",
        7,
        "rollout",
        "canary weights must increase",
    ),
    Case(
        "blue-green-without-ports",
        SERVICE + "rollout: {strategy: blue_green}\n",
        5,
        "rollout.strategy",
        "without ports the app has no Service to switch",
        given="blue_green",
        hint="add a port, or use strategy: rolling",
    ),
    Case(
        "two-ports-on-one-route",
        SERVICE + "ports:\n  - {port: 8000, expose: {host: chat.example.com, path: /v1}}\n"
        "  - {port: 8001, expose: {host: chat.example.com, path: /v1}}\n",
        7,
        "ports[1].expose.path",
        "chat.example.com/v1 is already routed to port 8000",
        given="/v1",
        hint="own host or path prefix",
    ),
]


@pytest.mark.parametrize("case", ROLLOUT_CASES, ids=lambda c: c.id)
def test_bad_exposure_or_rollout(case: Case, tmp_path: Path) -> None:
    """Exposure and rollout inputs the spec models or the compiler refuse, located."""
    test_bad_document(case, tmp_path)
