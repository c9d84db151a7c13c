"""Volume types to PersistentVolumeClaim access modes and storage classes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VolumeClass:
    access_mode: str
    volume_mode: str = "Filesystem"


# The OCI Block Volume CSI driver attaches a volume to many nodes only read-only and only as a
# raw block device (volumeMode: Block); FSS is NFS and can be shared read-write.
VOLUME_CLASSES = {
    "fss": VolumeClass("ReadWriteMany"),
    "block": VolumeClass("ReadOnlyMany", "Block"),
    "local-nvme": VolumeClass("ReadWriteOnce"),
}


def default_storage_classes(provider: str) -> dict[str, str | None]:
    """None means: leave storageClassName out and let the cluster's default class decide."""
    if provider == "oci":
        return {"fss": "oci-fss", "block": "oci-bv", "local-nvme": "local-nvme"}
    return {"fss": None, "block": None, "local-nvme": "local-nvme"}
