"""Rules that need the context: what the workspace and the cluster allow, what exists.

Each returns path-only diagnostics; the caller locates them in the user's file.
"""

from __future__ import annotations

from ironplane.compiler.context import CompileContext
from ironplane.core.diagnostics import Diagnostic, closest
from ironplane.spec.fields import Mount, Resources, Weights
from ironplane.spec.kinds import ModelSpec, ServiceSpec, Spec, TrainingJobSpec


def check(spec: Spec, ctx: CompileContext) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    if spec.kind in ("Cluster", "Workspace", "Volume"):
        return problems
    resources: Resources | None = getattr(spec, "resources", None)
    if resources is not None and resources.gpu is not None:
        problems.extend(_gpu(resources, ctx))
    if isinstance(spec, TrainingJobSpec) and spec.network.rdma and not ctx.workspace.privileged:
        problems.append(
            Diagnostic(
                f"RDMA needs a privileged workspace; workspace {ctx.workspace.name!r} is not"
                + ("" if ctx.workspace_declared else " (it is not defined in the input)"),
                path=("network", "rdma"),
                given="true",
                allowed="network.rdma: true only in a Workspace with privileged: true",
                hint="run it in a privileged GPU workspace, or define this one with "
                "privileged: true",
            )
        )
    if getattr(spec, "identity", None) is not None:
        cluster = ctx.cluster
        if cluster.provider == "oci" and not cluster.enhanced:
            problems.append(
                Diagnostic(
                    f"OKE Workload Identity needs an Enhanced cluster; cluster {cluster.name!r} "
                    "is not enhanced",
                    path=("identity",),
                    allowed="identity only on a Cluster with enhanced: true",
                    hint="upgrade the cluster to Enhanced and set enhanced: true, or drop identity",
                )
            )
    if isinstance(spec, ServiceSpec):
        problems.extend(_strategy_needs(spec))
    for i, mount in enumerate(getattr(spec, "mounts", [])):
        problems.extend(_volume_ref(mount.volume, ("mounts", i, "volume"), ctx, mount))
    weights: Weights | None = getattr(spec, "weights", None)
    if weights is not None and weights.scheme in ("fss", "block"):
        problems.extend(_volume_ref(weights.location[0], ("weights", "source"), ctx, None))
        volume = ctx.volumes.get(weights.location[0])
        if volume is not None and volume.type != weights.scheme:
            problems.append(
                Diagnostic(
                    f"volume {volume.name!r} is of type {volume.type}, not {weights.scheme}",
                    path=("weights", "source"),
                    hint=f"write {volume.type if volume.type != 'local-nvme' else 'fss'}://...",
                )
            )
    if weights is not None and weights.scheme == "block":
        problems.extend(_block_weights(spec, weights, ctx))
    checkpoints = getattr(spec, "checkpoints", None)
    if checkpoints is not None:
        problems.extend(_volume_ref(checkpoints.volume, ("checkpoints", "volume"), ctx, None))
    return problems


def _block_weights(spec: Spec, weights: Weights, ctx: CompileContext) -> list[Diagnostic]:
    """``block://`` weights are mounted by the workload's own container: privileged, as root."""
    who = "the engine's container" if isinstance(spec, ModelSpec) else "each training node"
    problems = []
    if not ctx.workspace.privileged:
        problems.append(
            Diagnostic(
                f"block:// weights are mounted by {who} itself (a raw multi-attach device), "
                "which needs a privileged container",
                path=("weights", "source"),
                allowed="block:// weights in a workspace with privileged: true",
                hint="use fss:// or oci:// weights here, or a privileged workspace",
            )
        )
    volume = weights.location[0]
    for i, mount in enumerate(getattr(spec, "mounts", [])):
        if mount.volume == volume:
            problems.append(
                Diagnostic(
                    f"volume {volume!r} holds the block:// weights, which attach it to the pod "
                    "already; it cannot be mounted a second time",
                    path=("mounts", i, "volume"),
                    given=volume,
                    hint="drop this mount: the weights are read from /weights",
                )
            )
    run_as_user = getattr(spec, "run_as_user", None)
    if run_as_user is not None:
        problems.append(
            Diagnostic(
                f"block:// weights are mounted by {who} as root, so it cannot run as "
                f"user {run_as_user}",
                path=("run_as_user",),
                given=str(run_as_user),
                hint="drop run_as_user, or use fss:// or oci:// weights",
            )
        )
    return problems


def _gpu(resources: Resources, ctx: CompileContext) -> list[Diagnostic]:
    assert resources.gpu is not None
    problems = []
    if not ctx.workspace.gpu:
        problems.append(
            Diagnostic(
                f"workspace {ctx.workspace.name!r} does not allow GPUs"
                + ("" if ctx.workspace_declared else " (it is not defined in the input)"),
                path=("resources", "gpu"),
                hint="use a workspace with gpu: true",
            )
        )
    gpu_type = resources.gpu.type
    if gpu_type is not None and gpu_type not in ctx.cluster.gpu_types:
        known = list(ctx.cluster.gpu_types)
        guess = closest(gpu_type, known)
        problems.append(
            Diagnostic(
                f"unknown GPU type on cluster {ctx.cluster.name!r}",
                path=("resources", "gpu", "type"),
                given=repr(gpu_type),
                allowed=", ".join(known),
                hint=f"did you mean {guess!r}?"
                if guess
                else "declare it under the Cluster's gpu_types",
            )
        )
    return problems


def _volume_ref(
    name: str, path: tuple[str | int, ...], ctx: CompileContext, mount: Mount | None
) -> list[Diagnostic]:
    volume = ctx.volumes.get(name)
    if volume is None:
        guess = closest(name, ctx.volumes)
        return [
            Diagnostic(
                f"no Volume {name!r} in workspace {ctx.workspace.name!r}",
                path=path,
                allowed=", ".join(sorted(ctx.volumes)) or "(no volumes defined in the input)",
                hint=f"did you mean {guess!r}?"
                if guess
                else "add the Volume document to the files you pass with -f",
            )
        ]
    if mount is not None and volume.type == "block" and not mount.read_only:
        return [
            Diagnostic(
                f"block volume {name!r} is attached read-only to many nodes; mount it read_only",
                path=(*path[:-1], "read_only"),
                hint="add read_only: true to the mount",
            )
        ]
    return []


def _strategy_needs(spec: ServiceSpec) -> list[Diagnostic]:
    """A canary shifts traffic at the ingress (an exposed port); a blue-green switches the
    app's Service (a port)."""
    strategy = spec.rollout.strategy
    if strategy == "canary" and not any(p.expose for p in spec.ports):
        return [
            Diagnostic(
                "the canary strategy shifts traffic at the ingress and needs an exposed port",
                path=("rollout", "strategy"),
                given="canary",
                allowed="canary only with a port that has expose",
                hint="add expose: {host: ...} to a port, or use strategy: blue_green",
            )
        ]
    if strategy == "blue_green" and not spec.ports:
        return [
            Diagnostic(
                "the blue_green strategy switches the app's Service from the old pods to the "
                "new ones; without ports the app has no Service to switch",
                path=("rollout", "strategy"),
                given="blue_green",
                allowed="blue_green only with at least one port",
                hint="add a port, or use strategy: rolling",
            )
        ]
    return []
