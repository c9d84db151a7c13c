"""Volume → PersistentVolumeClaim with the access mode of its type."""

from __future__ import annotations

from ironplane.compiler.core import Build
from ironplane.compiler.labels import metadata, owned
from ironplane.compiler.storage import VOLUME_CLASSES
from ironplane.spec.kinds import VolumeSpec


def compile_volume(build: Build) -> None:
    spec = build.spec
    assert isinstance(spec, VolumeSpec)
    ns = build.ctx.namespace
    cls = VOLUME_CLASSES[spec.type]
    pvc_spec: dict[str, object] = {
        "accessModes": [cls.access_mode],
        "resources": {"requests": {"storage": spec.size}},
        "volumeMode": cls.volume_mode,
    }
    storage_class = spec.storage_class or build.ctx.cluster.storage_classes.get(spec.type)
    if storage_class:
        pvc_spec["storageClassName"] = storage_class
    build.objects.add(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": metadata(
                spec.name,
                namespace=ns,
                labels=owned(spec.name, ns, "volume", build.version),
                annotations={"ironplane.dev/volume-type": spec.type},
            ),
            "spec": pvc_spec,
        }
    )
