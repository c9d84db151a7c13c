"""block:// weights: the multi-attach volume is a raw device in the pod, and the engine's
container mounts it read-only on /weights before the engine starts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ironplane.compiler.block_mount import BLOCK_DEVICE, MOUNT_FIRST
from ironplane.compiler.kinds.model import WEIGHTS_DIR
from ironplane.core.errors import SpecError
from tests.compiler.helpers import compile_text, find, pod_of

Validate = Callable[[Sequence[dict[str, Any]]], None]

VOLUME = "kind: Volume\nname: weights-disk\nworkspace: training\ntype: block\nsize: 500Gi\n---\n"


def model(workspace: str = "training", extra: str = "") -> str:
    return (
        f"kind: Model\nname: llama\nworkspace: {workspace}\nengine: vllm\n"
        "model: meta-llama/Llama-3.1-70B-Instruct\n"
        "resources: {gpu: {count: 8, type: H100}}\n"
        f"weights: {{source: block://weights-disk/llama-70b}}\n{extra}"
    )


def test_the_engine_mounts_the_device_then_serves_from_it(validated: Validate) -> None:
    compiled = compile_text(VOLUME + model())
    deployment = find(compiled, "Deployment", "llama")
    validated([deployment])
    pod = pod_of(deployment)
    [container] = pod["containers"]
    assert container["volumeDevices"] == [{"name": "vol-weights-disk", "devicePath": BLOCK_DEVICE}]
    claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert [c["persistentVolumeClaim"] for c in claims] == [
        {"claimName": "weights-disk", "readOnly": True}
    ]
    assert {"name": "weights-mount", "mountPath": WEIGHTS_DIR} in container["volumeMounts"]
    assert container["securityContext"] == {
        "privileged": True,
        "runAsUser": 0,
        "runAsNonRoot": False,
    }
    command = container["command"]
    assert command[:3] == ["/bin/sh", "-c", MOUNT_FIRST]
    assert command[4:6] == [BLOCK_DEVICE, WEIGHTS_DIR]
    assert command[6:9] == ["vllm", "serve", f"{WEIGHTS_DIR}/llama-70b"]
    assert not any("block://" in w.message for w in compiled.warnings)


def test_only_in_a_privileged_workspace() -> None:
    text = VOLUME.replace("training", "prod") + model("prod")
    with pytest.raises(SpecError, match="privileged container"):
        compile_text(text)


def test_not_as_another_user() -> None:
    with pytest.raises(SpecError, match="as root, so it cannot run as user 1000"):
        compile_text(VOLUME + model(extra="run_as_user: 1000\n"))


def test_not_mounted_a_second_time() -> None:
    extra = "mounts: [{volume: weights-disk, path: /dev/raw, read_only: true}]\n"
    with pytest.raises(SpecError, match="holds the block:// weights"):
        compile_text(VOLUME + model(extra=extra))
