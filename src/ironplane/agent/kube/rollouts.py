"""Actions on an app's Argo Rollout: promote, abort, restart — the patches the Argo Rollouts
kubectl plugin sends (``pkg/kubectl-argo-rollouts/cmd/{promote,abort,restart}``), so the Rollouts
controller sees exactly what it would from ``kubectl argo rollouts``.

* promote: unpause (``spec.paused: false`` when set) and clear ``status.pauseConditions``; a
  canary that is not paused (running a step's analysis, or waiting for a weight) moves to the
  next step (``status.currentStepIndex`` + 1); an inconclusive analysis that paused the
  controller also clears ``status.controllerPause``. ``full``: ``status.promoteFull: true``
  (skip the remaining steps, pauses and analysis). Status fields go through the ``/status``
  subresource (Argo Rollouts >= v0.10 serves the Rollout CRD with one), before the spec patch.
* abort: ``status.abort: true`` through ``/status``.
* restart: ``spec.restartAt: <now>``; the controller replaces the pods older than that.

The pure ``*_patches`` functions decide; ``Rollouts`` finds the app's Rollout and sends them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ironplane.agent.kube.apply import OWNED
from ironplane.agent.kube.client import KubeApi, ResourceType
from ironplane.agent.kube.errors import HTTPError, is_not_found, runtime_error
from ironplane.agent.kube.parts import int_of, name_of, rfc3339_now
from ironplane.agent.runtime import APP, WORKSPACE
from ironplane.core.errors import ConflictError, NotFoundError
from ironplane.wire.agent_protocol import Object

ROLLOUTS = ResourceType.of("argoproj.io/v1alpha1", "Rollout")

Patches = tuple[Object | None, Object | None, str]
"""(patch of /status, patch of the object, what it does in words)."""


def _in_flight(status: Mapping[str, Any]) -> bool:
    """Is a new revision being rolled out (the newest ReplicaSet is not the stable one)?"""
    current = status.get("currentPodHash")
    return bool(current) and current != status.get("stableRS")


def _next_step(status: Mapping[str, Any], steps: Sequence[Any]) -> tuple[int, int]:
    """(current step index, the index promote moves to): as Argo's GetCurrentCanaryStep, an
    unset index is 0, and the index never goes past the end."""
    index = int_of(status.get("currentStepIndex"))
    return index, index + 1 if index < len(steps) else index


def _unreported(name: str, action: str) -> str:
    return (
        f"the Argo Rollouts controller has not reported on {name} yet (is it running?): "
        f"nothing to {action}"
    )


def promote_patches(rollout: Mapping[str, Any], *, full: bool) -> Patches:
    """What ``kubectl argo rollouts promote [--full]`` sends for this Rollout. Raises
    ``ConflictError`` for an aborted rollout (promote does not resume one)."""
    name = name_of(rollout)
    spec, status = rollout.get("spec") or {}, rollout.get("status") or {}
    strategy = spec.get("strategy") or {}
    current, stable = status.get("currentPodHash"), status.get("stableRS")
    if not current:
        return None, None, _unreported(name, "promote")
    if status.get("abort"):
        raise ConflictError(
            f"the rollout of {name} was aborted (traffic is on the stable revision {stable}); "
            "promote does not resume it: apply a new version to roll out again"
        )
    if full:
        if not _in_flight(status):
            return None, None, f"{name} is fully rolled out (revision {stable}): nothing to promote"
        return (
            {"status": {"promoteFull": True}},
            None,
            f"fully promoting {name}: revision {current} replaces {stable}, "
            "skipping the remaining steps, pauses and analysis",
        )
    pauses = status.get("pauseConditions") or []
    spec_patch: Object | None = {"spec": {"paused": False}} if spec.get("paused") else None
    canary = strategy.get("canary") if "blueGreen" not in strategy else None
    raw_steps = (canary or {}).get("steps")
    steps: Sequence[Any] = raw_steps if isinstance(raw_steps, list) else []
    if not pauses and spec_patch is None and (not _in_flight(status) or not steps):
        what = "not paused" if _in_flight(status) else f"fully rolled out (revision {stable})"
        return None, None, f"{name} is {what}: nothing to promote"
    if not steps:  # blue-green, or a canary without steps: only the pause to lift
        status_patch = {"status": {"pauseConditions": None}} if pauses else None
        if canary is None:
            done = f"promoted {name}: the preview revision {current} becomes active"
        else:
            done = f"promoted {name}: resumed"
        return status_patch, spec_patch, done
    index, after = _next_step(status, steps)
    step = f"step {index + 1} of {len(steps)}"
    analysis = (status.get("canary") or {}).get("currentStepAnalysisRunStatus") or {}
    if analysis.get("status") == "Inconclusive" and pauses and status.get("controllerPause"):
        patch = {"pauseConditions": None, "controllerPause": False, "currentStepIndex": after}
        return {"status": patch}, spec_patch, f"promoted {name} past the inconclusive {step}"
    if pauses:
        return {"status": {"pauseConditions": None}}, spec_patch, f"promoted {name}: {step} done"
    return (
        {"status": {"pauseConditions": None, "currentStepIndex": after}},
        spec_patch,
        f"promoted {name}: skipped {step}",
    )


def abort_patches(rollout: Mapping[str, Any]) -> Patches:
    """What ``kubectl argo rollouts abort`` sends, unless there is nothing to abort."""
    name, status = name_of(rollout), rollout.get("status") or {}
    stable = status.get("stableRS")
    if not status.get("currentPodHash"):
        return None, None, _unreported(name, "abort")
    if status.get("abort"):
        return None, None, f"the rollout of {name} is aborted already"
    if not _in_flight(status):
        return None, None, f"{name} is fully rolled out (revision {stable}): nothing to abort"
    return (
        {"status": {"abort": True}},
        None,
        f"aborted the rollout of {name}: traffic and replicas go back to revision {stable}",
    )


def restart_patch(now: str | None = None) -> Object:
    """What ``kubectl argo rollouts restart`` sends."""
    return {"spec": {"restartAt": now or rfc3339_now()}}


class Rollouts:
    """Finds an app's Rollout and sends the patches. ``field_manager`` is the agent's; patches
    are made as ``<manager>-rollout`` (and restarts as ``<manager>-restart``) so server-side
    apply of the desired state never takes these fields back."""

    def __init__(self, api: KubeApi, field_manager: str) -> None:
        self.api = api
        self.manager = f"{field_manager}-rollout"
        self.restart_manager = f"{field_manager}-restart"

    async def owned(self, workspace: str, app: str) -> list[Object]:
        """The app's Rollouts; none where Argo Rollouts is not installed."""
        labels = {**OWNED, WORKSPACE: workspace, APP: app}
        try:
            items, _ = await self.api.list_objects(ROLLOUTS, labels=labels, namespace=workspace)
        except HTTPError as exc:
            if is_not_found(exc):  # the Rollout CRD is not installed
                return []
            what = {"kind": "Rollout", "metadata": {"namespace": workspace, "name": app}}
            raise runtime_error("list", what, exc) from exc
        return items

    async def _one(self, workspace: str, app: str) -> Object:
        found = await self.owned(workspace, app)
        if not found:
            raise NotFoundError(
                f"app {app!r} in workspace {workspace!r} has no canary or blue-green rollout "
                "(only apps with a rollout strategy have one)"
            )
        return found[0]

    async def _send(self, rollout: Object, patches: Patches, action: str) -> str:
        status_patch, spec_patch, done = patches
        name, namespace = name_of(rollout), (rollout.get("metadata") or {}).get("namespace")
        for patch, status in ((status_patch, True), (spec_patch, False)):
            if patch is None:
                continue
            try:
                await self.api.merge_patch(
                    ROLLOUTS, name, namespace, patch, field_manager=self.manager, status=status
                )
            except HTTPError as exc:
                if is_not_found(exc):
                    raise NotFoundError(f"the Rollout {namespace}/{name} is gone") from exc
                raise runtime_error(action, rollout, exc) from exc
        return done

    async def promote(self, workspace: str, app: str, *, full: bool) -> str:
        rollout = await self._one(workspace, app)
        return await self._send(rollout, promote_patches(rollout, full=full), "promote")

    async def abort(self, workspace: str, app: str) -> str:
        rollout = await self._one(workspace, app)
        return await self._send(rollout, abort_patches(rollout), "abort")

    async def restart(self, rollouts: Sequence[Object]) -> None:
        patch = restart_patch()
        for rollout in rollouts:
            meta = rollout.get("metadata") or {}
            try:
                await self.api.merge_patch(
                    ROLLOUTS,
                    str(meta.get("name")),
                    meta.get("namespace"),
                    patch,
                    field_manager=self.restart_manager,
                )
            except HTTPError as exc:
                raise runtime_error("restart", rollout, exc) from exc
