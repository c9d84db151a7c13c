"""block:// weights on training nodes: every node's container mounts the multi-attach volume's
raw device read-only on /weights itself (privileged root), then runs the training process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ironplane.compiler.block_mount import BLOCK_DEVICE, MOUNT_FIRST, PROLOGUE_NAME
from ironplane.core.errors import SpecError
from tests.compiler.test_training import compile_one, env_of, node_templates, runtime_of, training

Validate = Callable[[Sequence[dict[str, Any]]], None]

VOLUME = "kind: Volume\nname: weights-disk\nworkspace: {ws}\ntype: block\nsize: 500Gi\n---\n"
WEIGHTS = "weights: {source: block://weights-disk/llama-70b}\n"
PROLOGUE = ["/bin/sh", "-c", MOUNT_FIRST, PROLOGUE_NAME, BLOCK_DEVICE, "/weights"]


def compile_job(
    framework: str, *, rdma: bool = False, extra: str = "", ws: str = "training"
) -> tuple[dict[str, Any], list[str]]:
    return compile_one(
        VOLUME.format(ws=ws)
        + training("ft-job", framework, rdma=rdma, extra=WEIGHTS + extra, workspace=ws)
    )


def check_mounting_node(pod: dict[str, Any], *, rdma: bool) -> dict[str, Any]:
    """The node container mounts the device: returns it after checking the common parts."""
    [main] = pod["containers"]
    assert main["volumeDevices"] == [{"name": "vol-weights-disk", "devicePath": BLOCK_DEVICE}]
    assert {"name": "weights-mount", "mountPath": "/weights"} in main["volumeMounts"]
    claims = [v["persistentVolumeClaim"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert {"claimName": "weights-disk", "readOnly": True} in claims
    security = main["securityContext"]
    assert security["privileged"] is True
    assert security["runAsUser"] == 0 and security["runAsNonRoot"] is False
    # The API server refuses allowPrivilegeEscalation: false next to privileged: true.
    assert "allowPrivilegeEscalation" not in security
    assert ("IPC_LOCK" in security.get("capabilities", {}).get("add", [])) is rdma
    assert env_of(main)["IRONPLANE_WEIGHTS"] == "/weights/llama-70b"
    return main


@pytest.mark.parametrize("rdma", [False, True])
def test_pytorch_nodes_mount_then_train(rdma: bool, validated: Validate) -> None:
    job, warnings = compile_job("pytorch", rdma=rdma)
    validated([job])
    templates = node_templates(job)
    assert len(templates) == 2  # Master and Worker
    for template in templates:
        main = check_mounting_node(template["spec"], rdma=rdma)
        assert main["command"] == [*PROLOGUE, "torchrun", "train.py"]
        assert main["args"] == ["--lr", "1e-4"]
    assert not any("block://" in w for w in warnings)


@pytest.mark.parametrize("rdma", [False, True])
def test_mpi_workers_mount_then_serve_ssh_as_root(rdma: bool, validated: Validate) -> None:
    """The workers' sshd starts after the mount, so every rank mpirun starts sees /weights. A
    root sshd serves root logins: the job takes the root pattern even without RDMA."""
    job, _ = compile_job("mpi", rdma=rdma)
    validated([job])
    [worker] = node_templates(job)
    main = check_mounting_node(worker["spec"], rdma=rdma)
    sshd = "mkdir -p /run/sshd; exec /usr/sbin/sshd -De -p 2222"
    assert main["command"] == [*PROLOGUE, "/bin/sh", "-c", sshd]
    spec = job["spec"]
    assert "sshAuthMountPath" not in spec  # the default, /root/.ssh
    launcher = spec["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]
    assert launcher["securityContext"] == {"runAsUser": 0}
    env = env_of(launcher["containers"][0])
    assert env["OMPI_MCA_plm_rsh_args"] == env["PRTE_MCA_plm_ssh_args"] == "-p 2222"
    # Ranks start through sshd, without the worker's variables: mpirun -x forwards these.
    assert env["IRONPLANE_WEIGHTS"] == "/weights/llama-70b"
    assert "volumeDevices" not in launcher["containers"][0]  # the launcher reads no weights


def test_refused_outside_a_privileged_workspace() -> None:
    with pytest.raises(SpecError, match="mounted by each training node itself"):
        compile_job("pytorch", ws="prod")


@pytest.mark.parametrize("framework", ["pytorch", "mpi"])
def test_the_weights_volume_is_not_mounted_twice(framework: str) -> None:
    """Two pod volumes of one name would be refused by the API server: say so first."""
    extra = "mounts: [{volume: weights-disk, path: /dev/raw, read_only: true}]\n"
    with pytest.raises(SpecError, match="holds the block:// weights") as caught:
        compile_job(framework, extra=extra)
    assert "mounts[0].volume" in str(caught.value) or "mounts.0.volume" in str(caught.value)


def test_refused_with_another_user() -> None:
    with pytest.raises(SpecError, match="cannot run as user 1000"):
        compile_job("pytorch", extra="run_as_user: 1000\n")


@pytest.mark.parametrize("rdma", [False, True])
def test_ray_workers_mount_then_start_ray_as_kuberay_would(rdma: bool, validated: Validate) -> None:
    """KubeRay leaves a worker's command alone under ray.io/overwrite-container-cmd and puts
    its own `ray start` in $KUBERAY_GEN_RAY_START_CMD, which runs after the mount."""
    job, warnings = compile_job("ray", rdma=rdma)
    validated([job])
    [worker] = node_templates(job)
    assert worker["metadata"]["annotations"]["ray.io/overwrite-container-cmd"] == "true"
    main = check_mounting_node(worker["spec"], rdma=rdma)
    assert main["command"][:6] == PROLOGUE
    assert main["command"][6:8] == ["/bin/bash", "-c"]
    assert main["command"][8].endswith('eval "$KUBERAY_GEN_RAY_START_CMD"')
    head = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]
    assert "ray.io/overwrite-container-cmd" not in head["metadata"].get("annotations", {})
    assert "command" not in head["spec"]["containers"][0]
    assert not any("block://" in w for w in warnings)


def test_ray_start_command_runs_through_the_prologue(tmp_path: Any) -> None:
    """The whole worker command run for real: stand-in mount, a generated `ray start` with
    shell quoting as KubeRay writes it (the quotes must survive, hence eval)."""
    import os
    import subprocess

    job, _ = compile_job("ray")
    [worker] = node_templates(job)
    command = worker["spec"]["containers"][0]["command"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mount").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "mount").chmod(0o755)
    (bin_dir / "ray").write_text('#!/bin/sh\nprintf "%s|" "$@"\n')
    (bin_dir / "ray").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "KUBERAY_GEN_RAY_START_CMD": "ray start --resources='{\"GPU\": 8}' --block",
    }
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == 'start|--resources={"GPU": 8}|--block|'


@pytest.mark.parametrize("rdma", [False, True])
def test_trainjob_nodes_mount_then_train(rdma: bool, validated: Validate) -> None:
    """The TrainJob's own runtime holds the device, the mount and the wrapped command; its
    ``trainer`` block sets no command that would replace the wrapped one."""
    job, warnings = compile_job("trainer", rdma=rdma)
    runtime = runtime_of(job)
    validated([runtime, job])
    [node] = node_templates(job)
    main = check_mounting_node(node["spec"], rdma=rdma)
    assert main["command"] == [*PROLOGUE, "torchrun", "train.py"]
    assert "command" not in job["spec"]["trainer"] and "image" not in job["spec"]["trainer"]
    assert not any("block://" in w or "TrainJob" in w for w in warnings)
