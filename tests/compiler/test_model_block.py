"""block:// weights: the multi-attach volume is a raw device in the pod, and the engine's
container mounts it read-only on /weights before the engine starts."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from ironplane.compiler.kinds.model import BLOCK_DEVICE, MOUNT_FIRST, WEIGHTS_DIR
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
    assert (
        container["volumeDevices"] == [{"name": "vol-weights-disk", "devicePath": BLOCK_DEVICE}]
        or container["volumeDevices"][0]["devicePath"] == BLOCK_DEVICE
    )
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


@pytest.mark.parametrize(
    ("works_with", "expected"),
    [
        ("ro,noload", "ro,noload"),
        ("ro,norecovery", "ro,noload ro,norecovery"),
        ("ro", "ro,noload ro,norecovery ro"),
    ],
)
def test_the_mount_prologue_tries_each_read_only_mode_then_execs(
    tmp_path: Path, works_with: str, expected: str
) -> None:
    """The prologue run for real, with stand-ins for mount(8) and mountpoint(1): ext4 without
    journal replay first, XFS without recovery next, plain read-only last; then the engine."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tried = tmp_path / "tried"
    mounted = tmp_path / "mounted"
    (bin_dir / "mount").write_text(
        f'#!/bin/sh\necho -n "$2 " >> {tried}\n'
        f'[ "$2" = "{works_with}" ] && touch {mounted} && exit 0\nexit 32\n'
    )
    (bin_dir / "mountpoint").write_text(f"#!/bin/sh\n[ -e {mounted} ]\n")
    for tool in ("mount", "mountpoint"):
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["/bin/sh", "-c", MOUNT_FIRST, "mount-weights", "/dev/x", "/w", "echo", "serving"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "serving\n"
    assert tried.read_text().strip() == expected


def test_the_prologue_stops_when_nothing_mounts(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mount").write_text("#!/bin/sh\nexit 32\n")
    (bin_dir / "mountpoint").write_text("#!/bin/sh\nexit 1\n")
    for tool in ("mount", "mountpoint"):
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["/bin/sh", "-c", MOUNT_FIRST, "mount-weights", "/dev/x", "/w", "echo", "serving"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "serving" not in done.stdout
    assert "cannot mount the weights volume /dev/x on /w" in done.stderr
