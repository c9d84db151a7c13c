"""``block://`` weights: a multi-attach block volume that the workload's container mounts itself.

The OCI Block Volume CSI driver attaches a volume to many nodes only read-only and only as a raw
device (``volumeMode: Block``, ``ReadOnlyMany``), so Kubernetes cannot mount its filesystem for
the pod. The container gets the device at ``BLOCK_DEVICE`` and a shell prologue mounts it
read-only on the weights directory before it execs the real command. mount(8) needs root and
CAP_SYS_ADMIN: the container runs privileged as root, which the checks admit only in privileged
workspaces. The mount belongs to the container's mount namespace: it goes when the container
does, and nothing is left on the node.

Used by Models (the engine's container) and TrainingJobs (every training node's container).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ironplane.compiler.pods import volume_claim

BLOCK_DEVICE = "/dev/ironplane-weights"
MOUNT_VOLUME = "weights-mount"
MOUNT_FIRST = (
    'for o in ro,noload ro,norecovery ro; do if err=$(mount -o "$o" "$1" "$2" 2>&1); then '
    'shift 2; exec "$@"; fi; done; echo "ironplane: cannot mount the weights volume $1 on $2 '
    '(tried -o ro,noload, ro,norecovery and ro): $err" >&2; exit 1'
)
"""The prologue: ext4 without replaying its journal (``noload``), XFS without log recovery
(``norecovery``), then plain read-only; the first that mounts wins and the command is exec'd
(it keeps PID 1's place and signals). When none mounts, the last error says why (permission,
filesystem, device). The image needs ``/bin/sh`` and ``mount`` (util-linux's or busybox's)."""
PROLOGUE_NAME = "mount-weights"
"""``$0`` of the prologue: what ``ps`` and error messages show."""
MOUNT_SECURITY: dict[str, Any] = {"privileged": True, "runAsUser": 0, "runAsNonRoot": False}
"""A container that mounts: root with every capability (mount needs CAP_SYS_ADMIN)."""


@dataclass(slots=True)
class BlockWeights:
    """What a pod needs to mount ``block://VOLUME[/PATH]`` on ``weights_dir``."""

    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)


def block_weights(location: list[str], weights_dir: str) -> BlockWeights:
    """The read-only claim as a raw device, and an empty directory to mount it on."""
    volume = location[0]
    claim = volume_claim(volume)
    return BlockWeights(
        volumes=[
            {"name": claim, "persistentVolumeClaim": {"claimName": volume, "readOnly": True}},
            {"name": MOUNT_VOLUME, "emptyDir": {}},
        ],
        mounts=[{"name": MOUNT_VOLUME, "mountPath": weights_dir}],
        devices=[{"name": claim, "devicePath": BLOCK_DEVICE}],
    )


def mounted_path(location: list[str], weights_dir: str) -> str:
    """Where ``block://VOLUME[/PATH]`` is read from once mounted on ``weights_dir``."""
    sub = "/".join(location[1:])
    return f"{weights_dir}/{sub}" if sub else weights_dir


def mount_then(command: list[str], weights_dir: str) -> list[str]:
    """``command`` run after the device is mounted read-only on ``weights_dir``."""
    return ["/bin/sh", "-c", MOUNT_FIRST, PROLOGUE_NAME, BLOCK_DEVICE, weights_dir, *command]
