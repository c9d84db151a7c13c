"""Init containers that download ``oci://`` weights, shared by Models and training nodes.

With a Customer Secret Key (``weights.credentials``), Ironplane's own puller
(``ironplane fetch-weights``) downloads through the S3-compatible API into a content-keyed
directory and links a fixed path to it; without, the OCI CLI downloads with the pod's Workload
Identity (``identity``) or the node's instance principal.
"""

from __future__ import annotations

from typing import Any

from ironplane import __version__
from ironplane.compiler.core import Build
from ironplane.compiler.pods import container_security, secret_name
from ironplane.spec.fields import Weights

OCI_CLI_IMAGE = "ghcr.io/oracle/oci-cli:20251021"
IRONPLANE_IMAGE = f"ghcr.io/ironplane/ironplane:{__version__}"
NODE_CACHE = "/mnt/localdisk/ironplane/weights"
"""The node-shared, content-keyed cache on the local NVMe (a host path: privileged workspaces)."""
ROOT = {"runAsUser": 0, "runAsNonRoot": False}
"""The host cache directory is root's: the puller writes it as root, with no capabilities."""


def uses_node_cache(build: Build, weights: Weights) -> bool:
    """Whether ``oci://`` weights go to the node-shared, content-keyed cache on the local NVMe:
    that takes Ironplane's puller (``credentials``), ``cache: nvme`` and a privileged workspace
    (the cache is a host path). When ``nvme`` was asked for and cannot be had, a warning says
    why; the weights then go to the pod's own cache, downloaded again by every pod."""
    if weights.cache != "nvme":
        return False
    asked = "cache" in weights.model_fields_set
    if weights.credentials is None:
        if asked:
            build.warn(
                "the node-shared NVMe cache is filled by Ironplane's puller, which needs "
                "weights.credentials; the OCI CLI downloads into this pod's own cache (an "
                "emptyDir on the node's kubelet disk) and every pod downloads again",
                path=("weights", "cache"),
                hint="set weights.credentials (a secret group with an OCI Customer Secret Key)",
            )
        return False
    if not build.ctx.workspace.privileged:
        build.warn(
            "a node-shared weights cache needs a privileged workspace (a host path on the local "
            "NVMe); this pod downloads into its own cache",
            path=("weights", "cache"),
        )
        return False
    return True


def puller(
    build: Build,
    weights: Weights,
    *,
    mounts: list[dict[str, Any]],
    dest: str,
    link: str,
    as_root: bool = False,
) -> dict[str, Any]:
    """The ``fetch-weights`` init container: download into ``dest``, link ``link`` to it."""
    assert weights.credentials is not None
    cmd = ["ironplane", "fetch-weights", weights.source, "--dest", dest, "--link", link]
    if build.ctx.cluster.region:
        cmd += ["--region", build.ctx.cluster.region]
    group = secret_name(weights.credentials)
    env = [
        {"name": name.upper(), "valueFrom": {"secretKeyRef": {"name": group, "key": name}}}
        for name in ("aws_access_key_id", "aws_secret_access_key")
    ]
    security = container_security()
    if as_root:
        security = {**security, **ROOT}
    return {
        "name": "fetch-weights",
        "image": IRONPLANE_IMAGE,
        "command": cmd,
        "env": env,
        "volumeMounts": mounts,
        "securityContext": security,
    }


def oci_cli(
    build: Build, weights: Weights, *, identity: bool, mount: dict[str, Any], dest_dir: str
) -> tuple[dict[str, Any], str]:
    """The OCI CLI init container that bulk-downloads the weights into ``dest_dir``, and the
    path of the downloaded prefix."""
    where = weights.location
    namespace, bucket, prefix = where[0], where[1], "/".join(where[2:])
    auth = "oke_workload_identity" if identity else "instance_principal"
    cmd = ["oci", "os", "object", "bulk-download", "--namespace", namespace]
    cmd += ["--bucket-name", bucket, "--dest-dir", dest_dir, "--no-overwrite"]
    cmd += ["--auth", auth]
    if prefix:
        cmd += ["--prefix", prefix]
    env = [{"name": "OCI_CLI_AUTH", "value": auth}]
    if identity:
        env.append({"name": "OCI_RESOURCE_PRINCIPAL_VERSION", "value": "2.2"})
        if build.ctx.cluster.region:
            env.append({"name": "OCI_RESOURCE_PRINCIPAL_REGION", "value": build.ctx.cluster.region})
    container = {
        "name": "fetch-weights",
        "image": OCI_CLI_IMAGE,
        "command": cmd,
        "env": env,
        "volumeMounts": [mount],
        "securityContext": container_security(),
    }
    return container, f"{dest_dir}/{prefix}".rstrip("/")
